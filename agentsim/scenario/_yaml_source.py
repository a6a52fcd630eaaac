"""YAML with positions: load a document with the safe loader and remember where every value was.

Validation errors from pydantic come with a field path (``requests[0].chunks[3].delay``); this
module maps such a path back to a line and column of the file, so that bad input is reported as
``file:line:column: path: what was expected``. Only YAML's safe constructors are used (no tags
that build Python objects). Duplicate keys, which plain PyYAML silently collapses, are an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from agentsim.core._errors import InputError

__all__ = ["PositionedYAML", "format_path", "load_positioned_yaml"]

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("requests", 0, "delay")`` -> ``requests[0].delay``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class PositionedYAML:
    """A loaded document plus the (line, column) of each value, both 1-based, by path."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]], file: str) -> None:
        self.data = data
        self.positions = positions
        self.file = file

    def position(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """Where `path` is, or where its nearest existing ancestor is."""
        key = tuple(path)
        while key:
            found = self.positions.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.positions.get(())

    def error(self, path: Sequence[str | int], message: str) -> InputError:
        where = self.position(path)
        return InputError(
            message,
            file=self.file,
            line=where[0] if where else None,
            column=where[1] if where else None,
            path=format_path(path) or None,
        )


_PLAIN_TAGS = frozenset(
    {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path, tuple[int, int]] = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path, mark: yaml.Mark | None = None) -> Any:
        start = mark or node.start_mark
        self.positions[path] = (start.line + 1, start.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise self._fail(node, f"unsupported YAML tag {node.tag!r}; expected plain data")
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # merge keys (<<)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise self._fail(key_node, "expected a plain key (a string)")
                if key in out:
                    raise self._fail(key_node, f"duplicate key {key!r}")
                out[key] = self.build(value_node, (*path, str(key)), key_node.start_mark)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _fail(self, node: yaml.Node, message: str) -> InputError:
        mark = node.start_mark
        return InputError(message, file=self.file, line=mark.line + 1, column=mark.column + 1)


def load_positioned_yaml(text: str, *, file: str) -> PositionedYAML:
    """Parse one YAML document; raises `InputError` with the position of a syntax error."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from None
    if node is None:
        return PositionedYAML(None, {(): (1, 1)}, file)
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InputError(
            f"invalid YAML value: {exc.problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    return PositionedYAML(data, builder.positions, file)
