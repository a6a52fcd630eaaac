"""The native dialect's decoder, its rule (S2) and resumption from ``Last-Event-ID``.

The encoder is `_encode_native` (``id: <seq>``, ``event: <type>``, ``data: <event JSON>``). Native
carries every field, so decoding is exact: ``decode(encode(events)) == events``. Every field is
type-checked against the event's annotations before the event is built, because the invariant
checks compare numbers and strings and must never meet a wrong type in a user's transcript.

Resumption (seed 001's reconnect recovery): a client that reconnects with ``Last-Event-ID: k``
gets `events_after(transcript, "k")`, the events after the first one whose id is ``k``
(at-least-once when ids repeat), reframed byte-for-byte as the native encoder frames them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, get_args, get_origin, get_type_hints

from agentsim.core._events import AgentEvent, event_from_dict
from agentsim.core._sse_framing import ServerSentEvent, decode_sse, encode_sse
from agentsim.core._usage import Usage
from agentsim.sse._common import Frame, TranscriptError, clip, read_sse, typed_frame
from agentsim.sse._encode_native import encode_native_event
from agentsim.sse._fill import Decoded

__all__ = ["NativeEncoder", "decode_native", "events_after", "native_frames"]

NAME = "native"
_HINTS: dict[str, dict[str, Any]] = {}


def _class_hints() -> dict[str, dict[str, Any]]:
    """Each event type's fields and their annotations, resolved once."""
    if not _HINTS:
        for cls in get_args(AgentEvent):
            hints = get_type_hints(cls)
            _HINTS[cls.type] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS


class NativeEncoder:
    """Incremental native encoder (stateless: every event is framed on its own)."""

    def feed(self, event: AgentEvent) -> bytes:
        return encode_native_event(event)


def native_frames(events: Sequence[ServerSentEvent]) -> list[Frame]:
    known = _class_hints()
    return [typed_frame(sse, i, NAME, "type", known, "event type") for i, sse in enumerate(events)]


def _fits(hint: Any, value: Any) -> bool:
    origin = get_origin(hint)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, float) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53
        )
    if hint is str or hint is bool:
        return isinstance(value, hint)
    if hint is Usage:
        return isinstance(value, dict) and all(
            isinstance(value.get(k, 0), int) and not isinstance(value.get(k, 0), bool)
            for k in ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens")
        )
    if origin is typing.Literal:
        return value in get_args(hint)
    if origin is tuple:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if origin in (typing.Union, type(int | None)):
        return any(_fits(arg, value) for arg in get_args(hint))
    return value is None if hint is type(None) else False


def _event(frame: Frame) -> AgentEvent:
    hints = _class_hints()[frame.kind]  # `native_frames` let only known types through
    data = dict(frame.body)
    for name, hint in hints.items():
        if name not in data:
            raise TranscriptError(
                f"{frame.kind}: missing field {name!r}", index=frame.index, dialect=NAME
            )
        if not _fits(hint, data[name]):
            raise TranscriptError(
                f"{frame.kind}: field {name!r} must be {_describe(hint)}, "
                f"got {clip(repr(data[name]))}",
                index=frame.index,
                dialect=NAME,
            )
        if hint is float:
            data[name] = float(data[name])
    return event_from_dict(data)


def _describe(hint: Any) -> str:
    if get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, get_args(hint)))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def decode_native(frames: Sequence[Frame]) -> Decoded:
    events = tuple(_event(frame) for frame in frames)
    return Decoded(events, tuple(frame.index for frame in frames))


def _reframe(event: ServerSentEvent) -> bytes:
    kind = None if event.event == "message" else event.event
    return encode_sse(data=event.data, event=kind, id=event.id, retry=event.retry)


def events_after(transcript: bytes, last_event_id: str) -> bytes:
    """The transcript after the event with id `last_event_id` ("" = from the start).

    Raises `TranscriptError` when no event has that id (the client asks for a stream this
    transcript is not).
    """
    events = decode_sse(transcript)
    start = 0
    if last_event_id:
        found = next((k for k, e in enumerate(events) if e.id == last_event_id), None)
        if found is None:
            raise TranscriptError(
                f"Last-Event-ID {last_event_id!r} is not the id of any event of the transcript",
                dialect=NAME,
            )
        start = found + 1
    return b"".join(_reframe(event) for event in events[start:])


def decode_native_bytes(data: bytes) -> Decoded:
    return decode_native(native_frames(read_sse(data, NAME)))
