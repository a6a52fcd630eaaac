"""What the SSE dialects share: frames, the decoding error, strict JSON, and typed field access.

A transcript is read in two passes: WHATWG SSE framing (`decode_sse`, never raises) gives SSE
events; each dialect then turns every SSE event into a `Frame` (its JSON checked field by field)
before rule checks (S2) and decoding to agent events look at it. Keeping "is this the dialect's
shape at all" apart from "does it keep the dialect's ordering rules" is what lets `agentsim check`
answer 2 (unreadable: says which event and what is wrong) versus 1 (readable, rules broken).

`TranscriptError` is the one error a decoder raises, whatever the bytes; it is an `InputError`, so
the CLI prints it as one line. Positions are 0-based SSE event indexes, the same numbering rule
violations use.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentsim.core._errors import InputError
from agentsim.core._events import AgentEvent
from agentsim.core._sse_framing import ServerSentEvent, decode_sse, encode_sse
from agentsim.core._usage import Usage

__all__ = [
    "DialectEncoder",
    "Frame",
    "TranscriptError",
    "args_are_json",
    "as_text",
    "clip",
    "compact_json",
    "frame_json",
    "json_frame",
    "read_sse",
    "typed_frame",
    "usage_from_camel",
    "usage_to_camel",
]


class TranscriptError(InputError):
    """A transcript that cannot be read in a dialect; names the SSE event (0-based) and what."""

    def __init__(self, message: str, *, index: int | None = None, dialect: str | None = None):
        self.index = index
        self.dialect = dialect
        where = [] if dialect is None else [dialect]
        if index is not None:
            where.append(f"event {index}")
        super().__init__(message, path=", ".join(where) or None)


class DialectEncoder(Protocol):
    """Incremental encoder: one agent event in, the bytes it adds to the transcript out."""

    def feed(self, event: AgentEvent) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event of a transcript, checked against its dialect.

    `kind` is the dialect's own event type (``RUN_STARTED``, ``text-delta``, ``token`` ...);
    `body` is the JSON object (empty for Vercel's ``[DONE]``).
    """

    index: int
    kind: str
    body: Mapping[str, Any] = field(default_factory=dict)
    sse: ServerSentEvent | None = None


def compact_json(value: Any) -> str:
    """Deterministic compact JSON, non-ASCII kept as UTF-8 (what pydantic and serde_json write)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def as_text(value: Any) -> str:
    """A string as it is; any other JSON value as compact JSON (an infinite float as its repr)."""
    if isinstance(value, str):
        return value
    try:
        return compact_json(value)
    except ValueError:  # inf, from a literal like 1e999
        return repr(value)


def json_frame(value: Any) -> bytes:
    """``data: <compact JSON>`` and a blank line, LF only."""
    return encode_sse(data=compact_json(value))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str) -> Any:
    """`json.loads` that rejects NaN / Infinity (JavaScript's JSON.parse does) and never recurses
    out of the interpreter: too deep nesting is a `ValueError` too."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def args_are_json(text: str) -> bool:
    """Tool-call arguments a client can parse: valid JSON, or nothing at all (no arguments)."""
    if not text:
        return True
    try:
        strict_loads(text)
    except ValueError:
        return False
    return True


def read_sse(data: bytes, dialect: str | None = None) -> list[ServerSentEvent]:
    """The SSE events of a transcript; a body with none is not a transcript."""
    events = decode_sse(data)
    if not events:
        raise TranscriptError(
            "not an SSE transcript: no event (a `data:` line followed by a blank line) found",
            dialect=dialect,
        )
    return events


def frame_json(event: ServerSentEvent, index: int, dialect: str) -> dict[str, Any]:
    """The JSON object an SSE event carries, or a `TranscriptError` saying why not."""
    try:
        value = strict_loads(event.data)
    except ValueError as exc:
        raise TranscriptError(
            f"data is not JSON ({exc}): {clip(event.data)}", index=index, dialect=dialect
        ) from None
    if not isinstance(value, dict):
        raise TranscriptError(
            f"expected a JSON object, got {type(value).__name__}: {clip(event.data)}",
            index=index,
            dialect=dialect,
        )
    return value


def typed_frame(
    event: ServerSentEvent, index: int, dialect: str, key: str, known: Container[str], what: str
) -> Frame:
    """The frame of an SSE event whose JSON object names its kind under `key`, one of `known`."""
    body = frame_json(event, index, dialect)
    kind = body.get(key)
    if not isinstance(kind, str) or kind not in known:
        raise TranscriptError(f"unknown {what} {kind!r}", index=index, dialect=dialect)
    return Frame(index, kind, body, event)


def clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Fields:
    """Typed reads of one frame's fields; a wrong or missing field raises `TranscriptError`."""

    __slots__ = ("_body", "_dialect", "_index", "_kind")

    def __init__(self, frame: Frame, dialect: str) -> None:
        self._body = frame.body
        self._index = frame.index
        self._kind = frame.kind
        self._dialect = dialect

    def _fail(self, key: str, wanted: str, value: Any) -> TranscriptError:
        seen = "nothing" if value is None else f"{type(value).__name__} {clip(repr(value))}"
        return TranscriptError(
            f"{self._kind}: field {key!r} must be {wanted}, got {seen}",
            index=self._index,
            dialect=self._dialect,
        )

    def string(self, key: str) -> str:
        value = self._body.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def opt_str(self, key: str) -> str | None:
        value = self._body.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self._body.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def opt_int(self, key: str, bound: int = 2**53 - 1) -> int | None:
        value = self._body.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or abs(value) > bound
        ):
            raise self._fail(key, f"an integer within +-{bound}", value)
        return value

    def opt_obj(self, key: str) -> Mapping[str, Any] | None:
        value = self._body.get(key)
        if value is not None and not isinstance(value, dict):
            raise self._fail(key, "an object", value)
        return value

    def opt_list(self, key: str) -> Sequence[Any] | None:
        value = self._body.get(key)
        if value is not None and not isinstance(value, list):
            raise self._fail(key, "a list", value)
        return value

    def error(self, message: str) -> TranscriptError:
        return TranscriptError(f"{self._kind}: {message}", index=self._index, dialect=self._dialect)


def usage_to_camel(usage: Usage) -> dict[str, int]:
    """Usage in the camelCase names AG-UI's TokenUsage and the AI SDK's LanguageModelUsage share."""
    return {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_tokens,
        "reasoningTokens": usage.reasoning_tokens,
        "cachedInputTokens": usage.cached_tokens,
    }


def usage_from_camel(entries: Iterable[Mapping[str, Any]]) -> Usage:
    """The sum of camelCase usage objects; counts that are absent or not integers count as 0."""

    def count(entry: Mapping[str, Any], key: str) -> int:
        value = entry.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    total = Usage()
    for entry in entries:
        total = total + Usage(
            count(entry, "inputTokens"),
            count(entry, "outputTokens"),
            count(entry, "reasoningTokens"),
            count(entry, "cachedInputTokens"),
        )
    return total
