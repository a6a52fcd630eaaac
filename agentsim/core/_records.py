"""JSON round trips for agentsim's record types (chunks, events, messages, content blocks).

Records are frozen, slotted dataclasses, because they sit on the hot path of every simulated run and
a dataclass is several times cheaper to build than a validating model. Each family of records is
tagged by one key (``type`` for chunks, events and blocks, ``role`` for messages), and this module
turns them into plain JSON-able dicts and back with stable field names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from agentsim.core._errors import InputError
from agentsim.core._usage import Usage

__all__ = ["RecordFamily"]

R = TypeVar("R")


class RecordFamily(Generic[R]):
    """A tagged union of record classes: ``to_dict`` and ``from_dict`` for all its members."""

    def __init__(self, name: str, tag_key: str, classes: Iterable[type[R]]) -> None:
        self.name = name
        self.tag_key = tag_key
        self._by_tag: dict[str, type[R]] = {}
        self._fields: dict[type[R], tuple[str, ...]] = {}
        # Fields added to a record later, left out of its dict while None, so that the dicts of
        # records that do not use them stay what they were (a class's `omit_when_none`).
        self._omit: dict[type[R], frozenset[str]] = {}
        for cls in classes:
            tag = getattr(cls, tag_key)
            self._by_tag[tag] = cls
            self._fields[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            self._omit[cls] = frozenset(getattr(cls, "omit_when_none", ()))
        # Nested families, resolved by field name (records nest only a few known ways).
        self.nested: dict[str, RecordFamily[Any]] = {}

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._by_tag)

    def to_dict(self, record: R) -> dict[str, Any]:
        cls = type(record)
        out: dict[str, Any] = {self.tag_key: getattr(cls, self.tag_key)}
        omit = self._omit[cls]
        for name in self._fields[cls]:
            value = getattr(record, name)
            if value is None and name in omit:
                continue
            out[name] = self._dump(name, value)
        return out

    def _dump(self, name: str, value: Any) -> Any:
        if isinstance(value, Usage):
            return value.to_dict()
        if isinstance(value, tuple):
            family = self.nested.get(name)
            if family is not None:
                return [family.to_dict(v) for v in value]
            return list(value)
        return value

    def from_dict(self, data: Any, *, where: str = "") -> R:
        """Build a record from its dict; raises `InputError` naming the field on a bad shape."""
        label = where or self.name
        if not isinstance(data, dict):
            raise InputError(
                f"expected a {self.name} object, got {type(data).__name__}", path=label
            )
        tag = data.get(self.tag_key)
        cls = self._by_tag.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise InputError(
                f"unknown {self.name} {self.tag_key} {tag!r}; expected one of "
                + ", ".join(sorted(self._by_tag)),
                path=label,
            )
        kwargs: dict[str, Any] = {}
        for name in self._fields[cls]:
            if name not in data:
                continue
            value = data[name]
            if name == "usage" and isinstance(value, dict):
                value = Usage.from_dict(value)
            elif isinstance(value, list):
                family = self.nested.get(name)
                value = tuple(
                    family.from_dict(v, where=f"{label}.{name}[{i}]") if family else v
                    for i, v in enumerate(value)
                )
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise InputError(f"bad {self.name} {tag!r}: {exc}", path=label) from None
