"""Plain text chunk items built without pydantic's union: the bulk of a converted recording.

Why: a scenario converted from a long recording is tens of thousands of ``{text: ...}`` items
(some with a ``delay``). Validated through the chunk-item union, each costs a call of the Python
discriminator and a model built by pydantic, with a fields-set `set` of its own: ~2 us an item,
and 20,000 more objects for the garbage collector to walk, which is what sets off a full
collection during the run that follows.

The choice: before validation, `load_scenario` replaces each item that is certainly a valid
`TextItem` (exactly ``text`` as a str, optionally ``delay`` as a finite float >= 0) by the model
pydantic would build for it, made the way `BaseModel.model_construct` makes one (pydantic's
``main.py``: ``__dict__`` in field order, the fields set, no extra, no private attributes),
sharing one fields set per shape, as `model_construct` would given one. Pydantic then takes
the instance as it is (a model instance is not revalidated) and the discriminator names it
without dumping it. Anything else (another kind, `split`, an int delay, a wrong type) stays as
it was for pydantic to judge, so errors and their messages do not change; a test checks that
every shape built here equals what validation builds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["prebuild_text_items"]

_INF = float("inf")
_new = object.__new__
_set = object.__setattr__
# One fields set per shape, shared (a frozen model's fields set is never changed in place;
# `model_copy` copies it before updating).
_TEXT_SET = {"text"}
_DELAY_TEXT_SET = {"delay", "text"}


def _text_item(model: type[BaseModel], text: str, delay: float, fields: set[str]) -> Any:
    item = _new(model)
    _set(item, "__dict__", {"delay": delay, "split": None, "text": text})
    _set(item, "__pydantic_fields_set__", fields)
    _set(item, "__pydantic_extra__", None)
    _set(item, "__pydantic_private__", None)
    return item


def prebuild_text_items(data: Any, model: type[BaseModel]) -> None:
    """In `data` (a scenario's parsed YAML), replace the chunk items that are plain valid text
    items by their `model` (`agentsim.scenario._schema.TextItem`, which imports this module),
    in place. Leaves every other value as it is."""
    default_delay = model.model_fields["delay"].default
    requests = data.get("requests") if data.__class__ is dict else None
    if requests.__class__ is not list:
        return
    for request in requests:
        chunks = request.get("chunks") if request.__class__ is dict else None
        if chunks.__class__ is not list:
            continue
        for i, entry in enumerate(chunks):
            if entry.__class__ is not dict:
                continue
            text = entry.get("text")
            if text.__class__ is not str:
                continue
            size = len(entry)
            if size == 1:
                chunks[i] = _text_item(model, text, default_delay, _TEXT_SET)
            elif size == 2:
                delay = entry.get("delay")
                # (NaN and infinity fail the comparison; an int or bool delay is pydantic's.)
                if delay.__class__ is float and 0.0 <= delay < _INF:
                    chunks[i] = _text_item(model, text, delay, _DELAY_TEXT_SET)
