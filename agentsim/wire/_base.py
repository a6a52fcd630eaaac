"""Wire codecs: the shared part. Each provider API has a sans-IO decoder (bytes in any chunking ->
chunks) and an encoder (chunks -> that API's exact stream bytes) in its own module (`_<api>`).

Rules every codec follows (DESIGN §5):
- The HTTP status comes first: an error answer (status >= 400) is a JSON error body even when the
  content type says `text/event-stream`; it decodes to one `ErrorChunk` (`error_body_decoder`).
- Errors the provider sends inside the stream become `ErrorChunk`s, never exceptions.
- Event types the decoder does not know are skipped, as the official SDKs do.
- The only exception a decoder raises is `WireFormatError`, for bytes that are not the API's
  format at all (an SSE `data:` that is not JSON, for example); it names the event and why.
- Decoding does not depend on how the bytes are split into `feed()` calls.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Protocol

from agentsim.core._chunks import Chunk, ErrorChunk, ErrorKind
from agentsim.core._errors import AgentsimError
from agentsim.core._sse_framing import ServerSentEvent, SSEDecoder

__all__ = [
    "API_NAMES",
    "ApiName",
    "SSEJsonDecoder",
    "StreamDecoder",
    "WireFormatError",
    "error_body_decoder",
    "error_from_status",
    "parse_json",
]

ApiName = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
API_NAMES: tuple[ApiName, ...] = ("openai-chat", "openai-responses", "anthropic", "gemini")


class WireFormatError(AgentsimError, ValueError):
    """Bytes that are not the API's stream format. Names the API, the event number and why."""

    def __init__(self, message: str, *, api: str, event: int | None = None) -> None:
        self.api = api
        self.event = event
        where = f"{api}" + (f", event {event}" if event is not None else "")
        super().__init__(f"{where}: {message}")


class StreamDecoder(Protocol):
    """Incremental decoder of one response body."""

    def feed(self, data: bytes) -> list[Chunk]: ...

    def close(self) -> list[Chunk]:
        """The body ended. A stream cut short simply yields no finish (the loop sees truncation)."""
        ...


def error_from_status(status: int, error_type: str = "") -> tuple[ErrorKind, bool]:
    """(kind, retryable) of an HTTP status and, when known, the provider's error type string."""
    t = error_type.lower()
    # 503 UNAVAILABLE is how Gemini (and OpenAI) say "the model is overloaded"; Anthropic uses 529.
    if "overloaded" in t or "unavailable" in t or status in (503, 529):
        return "overloaded", True
    if "rate_limit" in t or "resource_exhausted" in t or status == 429:
        return "rate_limit", True
    if status in (401, 403) or "auth" in t or "permission" in t:
        return "auth", False
    if status == 408 or "timeout" in t or status == 504:
        return "timeout", True
    if status >= 500 or "server" in t or "api_error" in t or "internal" in t:
        return "server", True
    if 400 <= status < 500 or "invalid" in t:
        return "invalid_request", False
    return "other", False


class _ErrorBodyDecoder:
    """Collects a whole error answer and turns it into one `ErrorChunk` at `close()`."""

    def __init__(self, status: int) -> None:
        self._status = status
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[Chunk]:
        self._parts.append(data)
        return []

    def close(self) -> list[Chunk]:
        body = b"".join(self._parts).decode("utf-8", "replace")
        message, error_type = body.strip()[:500], ""
        try:
            parsed: Any = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None  # not JSON: the text itself is the message
        if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
            parsed = parsed[0]  # Gemini's JSON-array answers
        if isinstance(parsed, dict):
            error = parsed.get("error", parsed)
            if isinstance(error, dict):
                message = str(error.get("message", message))
                error_type = str(
                    error.get("type") or error.get("status") or error.get("code") or ""
                )
            elif isinstance(error, str):
                message = error
        kind, retryable = error_from_status(self._status, error_type)
        return [ErrorChunk(kind, message, retryable, self._status)]


# The C scanner `json.loads` itself ends in (JSONDecoder keeps it as an instance attribute).
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
_JSON_WS = " \t\n\r"


def parse_json(text: str) -> Any:
    """Exactly `json.loads(text)` (same values, same errors: `ValueError` subclasses and
    `RecursionError`), without its Python-level wrapper.

    `json.loads` spends a third of its time on a text the size of a stream event outside the
    scanner: two regular-expression matches for whitespace and three Python calls. An event's
    JSON starts at its first character, so the scanner is called directly; text with leading
    whitespace takes the ordinary path.
    """
    if not text or text[0] in _JSON_WS:
        return json.loads(text)
    try:
        value, end = _SCAN(text, 0)
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None
    if end != len(text):
        rest = text[end:].lstrip(_JSON_WS)
        if rest:
            raise json.JSONDecodeError("Extra data", text, len(text) - len(rest))
    return value


class SSEJsonDecoder(abc.ABC):
    """What the SSE-framed decoders share: WHATWG framing, one `json.loads` per event, and
    turning anything malformed into a `WireFormatError` that names the API and the event.

    A subclass sets `api` and implements `_payload(event_name, payload, out)`; `MALFORMED` lists
    the exceptions its payload handling raises on a wrongly shaped object. `done_marker` is a
    `data:` value that ends the stream before any JSON (OpenAI's ``[DONE]``), handled by
    `_on_done`. Once `_done` is set, the rest of the body is ignored, as the SDKs do.
    """

    __slots__ = ("_done", "_events", "_sse")

    api: ClassVar[str]
    done_marker: ClassVar[str | None] = None
    MALFORMED: ClassVar[tuple[type[Exception], ...]] = (
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        ValueError,
    )

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._events = 0
        self._done = False

    def feed(self, data: bytes) -> list[Chunk]:
        if self._done:
            return []
        return self._handle(self._sse.feed(data))

    def close(self) -> list[Chunk]:
        return self._handle(self._sse.close())

    def _handle(self, events: list[ServerSentEvent]) -> list[Chunk]:
        out: list[Chunk] = []
        marker = self.done_marker
        for event in events:
            if self._done:
                break
            self._events += 1
            data = event.data
            if marker is not None and data.startswith(marker):
                self._done = True
                self._on_done(out)
                break
            try:
                payload = parse_json(data)
            except (ValueError, RecursionError):  # deep nesting must not escape as RecursionError
                raise WireFormatError(
                    f"data is not JSON: {data[:80]!r}", api=self.api, event=self._events
                ) from None
            if payload.__class__ is not dict:
                raise WireFormatError(
                    f"data is not a JSON object: {data[:80]!r}", api=self.api, event=self._events
                )
            try:
                self._payload(event.event, payload, out)
            except KeyError as exc:
                raise WireFormatError(
                    f"missing field {exc} in a {event.event} event",
                    api=self.api,
                    event=self._events,
                ) from None
            except self.MALFORMED as exc:
                raise WireFormatError(
                    f"malformed {event.event} event ({exc})", api=self.api, event=self._events
                ) from None
        return out

    @abc.abstractmethod
    def _payload(self, event_name: str, payload: dict[str, Any], out: list[Chunk]) -> None:
        """Turn one event's JSON object into chunks appended to `out`."""

    def _on_done(self, out: list[Chunk]) -> None:  # noqa: B027 - optional hook, empty by default
        """The `done_marker` arrived: a codec with a marker may add chunks (none by default)."""


def error_body_decoder(status: int) -> StreamDecoder:
    return _ErrorBodyDecoder(status)


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value, case-insensitively; vcrpy stores values as lists."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value)
    return None
