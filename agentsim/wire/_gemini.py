"""Gemini `streamGenerateContent` codec: the `alt=sse` stream and the JSON-array body (DESIGN §5).

Each event (or array element) is a whole `GenerateContentResponse`; only `candidates[0]` is read.
Choices where the API leaves room:

- Parts: `text` gives a `TextChunk`, or a `ReasoningChunk` when `thought: true`. A
  `thoughtSignature` is opaque reasoning state: on a thought part it is that chunk's
  `signature`; on any other part (text, `functionCall`, server-side parts, or a part of its
  own) it comes first as `ReasoningChunk("", signature=...)`. `functionCall` parts are whole, so
  each gives start + one args chunk (compact JSON of `args`, `{}` when absent) + end. Calls
  often have no `id`: the decoder names them `gemini_call_<n>`, `n` being the call's position
  among this response's calls (0, 1, ...) and also its `index`, so a replay gives the same ids.
  Server-side parts (`executableCode`, `codeExecutionResult`, `toolCall`, `toolResponse`, ...)
  are skipped: the loop under test does not run them.
- `usageMetadata` is a running total: the last one counts. It and the finish are emitted at
  `close()`, as `UsageChunk` then `FinishChunk`, so usage sent after the event that carries
  `finishReason` still counts. Usage follows OpenAI's conventions so that all APIs agree:
  input = `promptTokenCount` + `toolUsePromptTokenCount`, output = `candidatesTokenCount` +
  `thoughtsTokenCount`, reasoning = `thoughtsTokenCount`, cached = `cachedContentTokenCount`.
- `finishReason` `STOP` means `tool_calls` when the response had function calls (Gemini says
  `STOP` on a tool turn), else `stop`; `MAX_TOKENS` is `length`; the safety family and a
  blocked prompt (`promptFeedback.blockReason`) are `content_filter`; anything else `other`.
- Errors: a response with an `error` member, whether a `data:` event or a raw JSON value the
  server writes outside the SSE framing (a line starting with `{` or `[`, possibly pretty-printed
  over several lines), gives an `ErrorChunk` (`status` = its `code`); the rest of the stream is
  then ignored. Raw JSON is detected beside the SSE decoder, which sees every byte as usual (SSE
  ignores such lines), so framing is unchanged. A raw value cut short at the end is dropped.
- `GeminiArrayDecoder` (the body without `alt=sse`: `[{...},{...}]`) is incremental: an element
  is decoded once complete, found by re-parsing it when a piece ends with `}` (the usual write
  boundary) or the buffered text has doubled since the last try, so the parsing work stays
  linear however small the pieces; an element completed mid-piece may wait for the next such
  point. An element cut short at the end is dropped.

The encoder is `_gemini_encode`.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    ErrorKind,
    FinishChunk,
    FinishReason,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.core._sse_framing import ServerSentEvent, SSEDecoder
from agentsim.core._usage import Usage
from agentsim.wire._base import WireFormatError, error_from_status, parse_json

__all__ = ["MODEL", "WIRE_FINISH", "GeminiArrayDecoder", "GeminiDecoder", "compact", "wire_error"]

_API = "gemini"
MODEL = "agentsim-model"
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKED",  # agentsim's name for a blocked prompt
    }
)
WIRE_FINISH: dict[FinishReason, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "other": "OTHER",
    "pause": "OTHER",  # Gemini cannot pause a turn: a client sees an unexplained ending
}
_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_KIND_CODE: dict[ErrorKind, tuple[int, str]] = {
    "overloaded": (503, "UNAVAILABLE"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "server": (500, "INTERNAL"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
    "invalid_request": (400, "INVALID_ARGUMENT"),
    "auth": (403, "PERMISSION_DENIED"),
    "other": (500, "UNKNOWN"),
}
_MALFORMED = (KeyError, TypeError, AttributeError, IndexError)
_CLOSER = re.compile(r"[}\]]")
_WS = re.compile(r"[ \t\n\r]*")
_RAW_LIMIT = 1 << 20
_JSON = json.JSONDecoder()


# Two patterns, each with a one-byte literal prefix (the regular-expression engine scans for a
# literal byte far faster than for a class of bytes such as [\r\n]): 3x cheaper than one
# pattern or four substring tests, on the 256-byte pieces of bench/bench_decode.py.
_LF_THEN_JSON = re.compile(rb"\n[{\[]").search
_CR_THEN_JSON = re.compile(rb"\r[{\[]").search


def _raw_start(data: bytes) -> int:
    """Offset of the first `{` or `[` that starts a line (after CR or LF) in `data`, or -1."""
    after_lf = _LF_THEN_JSON(data)
    end = len(data) if after_lf is None else after_lf.start()
    after_cr = _CR_THEN_JSON(data, 0, end + 1)  # one that comes before the LF one
    if after_cr is not None:
        return after_cr.start() + 1
    return -1 if after_lf is None else end + 1


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _int(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r:.40}")
    return value


def _parse_prefix(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value at `text[start:]` and its end, or None while it may still be incomplete.

    Raises ValueError when no continuation can make it valid: the parser failed somewhere other
    than in an unterminated string and a closing bracket follows the failure point (a value cut
    short fails only inside its last, unfinished token, which contains no bracket).
    """
    try:
        return _JSON.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Unterminated string") and _CLOSER.search(text, exc.pos):
            raise
        return None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _error_chunk(error: Any) -> ErrorChunk:
    if type(error) is not dict:
        kind, retryable = error_from_status(0, "")
        return ErrorChunk(kind, str(error), retryable, None)
    code = error.get("code")
    code = code if type(code) is int else None
    kind, retryable = error_from_status(code or 0, str(error.get("status") or ""))
    return ErrorChunk(kind, str(error.get("message") or ""), retryable, code)


def wire_error(chunk: ErrorChunk) -> tuple[int, str]:
    """(code, status) the encoder sends: the chunk's status when that keeps its kind."""
    if chunk.status is not None and 400 <= chunk.status < 600:
        status = _GRPC_STATUS.get(chunk.status, _KIND_CODE[chunk.kind][1])
        if error_from_status(chunk.status, status)[0] == chunk.kind:
            return chunk.status, status
    return _KIND_CODE[chunk.kind]


class _GeminiResponses:
    """What both decoders share: turning `GenerateContentResponse` objects into chunks."""

    def __init__(self) -> None:
        self._events = 0
        self._calls = 0
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._done = False  # an error ended the stream

    def _value(self, value: Any, out: list[Chunk]) -> None:
        self._events += 1
        if self._done:
            return
        try:
            if type(value) is dict:  # an SSE event: one response
                self._response(value, out)
                return
            for item in value if type(value) is list else [value]:
                if type(item) is not dict:
                    raise WireFormatError("not a JSON object", api=_API, event=self._events)
                self._response(item, out)
        except _MALFORMED as exc:
            raise WireFormatError(
                f"malformed response: {exc}", api=_API, event=self._events
            ) from None

    def _response(self, obj: dict[str, Any], out: list[Chunk]) -> None:
        if self._done:
            return
        error = obj.get("error")
        if error is not None:
            out.append(_error_chunk(error))
            self._done = True
            return
        usage = obj.get("usageMetadata")
        if usage is not None:
            self._usage = Usage(
                _int(usage.get("promptTokenCount")) + _int(usage.get("toolUsePromptTokenCount")),
                _int(usage.get("candidatesTokenCount")) + _int(usage.get("thoughtsTokenCount")),
                _int(usage.get("thoughtsTokenCount")),
                _int(usage.get("cachedContentTokenCount")),
            )
        candidates = obj.get("candidates")
        if candidates:
            candidate = candidates[0]
            content = candidate.get("content") or {}
            for part in content.get("parts") or ():
                self._part(part, out)
            reason = candidate.get("finishReason")
            if reason is not None:
                self._finish = str(reason)
        elif (obj.get("promptFeedback") or {}).get("blockReason"):
            self._finish = "BLOCKED"

    def _part(self, part: dict[str, Any], out: list[Chunk]) -> None:
        signature = part.get("thoughtSignature") or None
        if signature is not None and type(signature) is not str:
            raise TypeError("thoughtSignature is not a string")
        call = part.get("functionCall")
        text = part.get("text")
        if text is not None and type(text) is not str:
            raise TypeError("text is not a string")
        if call is not None:
            n = self._calls
            self._calls += 1
            name, call_id, args = call.get("name") or "", call.get("id") or "", call.get("args")
            if type(name) is not str or type(call_id) is not str:
                raise TypeError("functionCall name / id is not a string")
            if signature is not None:
                out.append(ReasoningChunk("", signature))
            out.append(ToolCallStartChunk(n, call_id or f"gemini_call_{n}", name))
            out.append(ToolCallArgsChunk(n, compact({} if args is None else args)))
            out.append(ToolCallEndChunk(n))
        elif part.get("thought") is True and text is not None:
            if text or signature is not None:
                out.append(ReasoningChunk(text, signature))
        else:
            if signature is not None:
                out.append(ReasoningChunk("", signature))
            if text:
                out.append(TextChunk(text))

    def _end(self) -> list[Chunk]:
        if self._done:
            return []
        self._done = True
        out: list[Chunk] = []
        if self._usage is not None:
            out.append(UsageChunk(self._usage))
        if self._finish is not None:
            out.append(FinishChunk(_finish_reason(self._finish, self._calls > 0)))
        return out


def _finish_reason(reason: str, had_calls: bool) -> FinishReason:
    if reason == "STOP":
        return "tool_calls" if had_calls else "stop"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in _FILTERED else "other"


class GeminiDecoder(_GeminiResponses):
    """Incremental decoder of one `streamGenerateContent?alt=sse` body (HTTP 200)."""

    def __init__(self) -> None:
        super().__init__()
        self._sse = SSEDecoder()
        self._line_start = True
        self._raw: bytearray | None = None  # a raw JSON value being received

    def feed(self, data: bytes) -> list[Chunk]:
        out: list[Chunk] = []
        while data and not self._done:
            if self._raw is None:
                if self._line_start and data[:1] in (b"{", b"["):
                    begin = 0
                else:
                    begin = _raw_start(data)
                    if begin < 0:
                        self._events_out(self._sse.feed(data), out)
                        self._line_start = data[-1:] in (b"\n", b"\r")
                        break
                self._events_out(self._sse.feed(data[:begin]), out)
                self._raw = bytearray()
                data = data[begin:]
            seen = len(self._raw)
            self._raw += data
            end = self._raw_end() if b"}" in data or b"]" in data else None
            if end is None:
                if len(self._raw) > _RAW_LIMIT:
                    raise WireFormatError("raw JSON value too long", api=_API)
                self._events_out(self._sse.feed(data), out)
                break
            self._events_out(self._sse.feed(data[: end - seen]), out)
            value = json.loads(bytes(self._raw[:end]).decode("utf-8", "replace"))
            self._raw = None
            self._line_start = False
            self._value(value, out)
            data = data[end - seen :]
        return out

    def close(self) -> list[Chunk]:
        out: list[Chunk] = []
        if self._raw is not None and not self._done:
            end = self._raw_end()
            if end is not None:  # a complete value without a line break after it
                self._value(json.loads(bytes(self._raw[:end]).decode("utf-8", "replace")), out)
            self._raw = None
        self._events_out(self._sse.close(), out)
        return out + self._end()

    def _raw_end(self) -> int | None:
        """Byte offset just past the raw JSON value in `self._raw`, if it is complete."""
        assert self._raw is not None
        text = self._raw.decode("utf-8", "surrogateescape")
        try:
            parsed = _parse_prefix(text, 0)
        except ValueError:
            raise WireFormatError(
                f"a line that is neither SSE nor JSON: {text[:80]!r}", api=_API
            ) from None
        if parsed is None:
            return None
        return len(text[: parsed[1]].encode("utf-8", "surrogateescape"))

    def _events_out(self, events: list[ServerSentEvent], out: list[Chunk]) -> None:
        for event in events:
            if self._done:
                return
            try:
                value = parse_json(event.data)
            except (ValueError, RecursionError):
                raise WireFormatError(
                    f"data is not JSON: {event.data[:80]!r}", api=_API, event=self._events + 1
                ) from None
            self._value(value, out)


_START, _FIRST, _ELEMENT, _AFTER, _END = range(5)


class GeminiArrayDecoder(_GeminiResponses):
    """Incremental decoder of one `streamGenerateContent` body without `alt=sse` (a JSON array)."""

    def __init__(self) -> None:
        super().__init__()
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._size = 0  # characters in `_pending`
        self._tried = 0  # size of the element text at the last parse that found it incomplete
        self._state = _START

    def feed(self, data: bytes) -> list[Chunk]:
        return self._run(self._text.decode(data), final=False)

    def close(self) -> list[Chunk]:
        return self._run(self._text.decode(b"", final=True), final=True) + self._end()

    def _run(self, text: str, final: bool) -> list[Chunk]:
        out: list[Chunk] = []
        if self._done:
            return out
        self._pending.append(text)
        self._size += len(text)
        if self._state == _ELEMENT and not final and self._wait(text):
            return out
        buf = "".join(self._pending)
        pos = 0
        while not self._done:
            pos = _skip_ws(buf, pos)
            if pos >= len(buf):
                break
            char, state = buf[pos], self._state
            if state == _ELEMENT:
                if char != "{":
                    raise WireFormatError("array element is not an object", api=_API)
                try:
                    parsed = _parse_prefix(buf, pos)
                except ValueError as exc:
                    raise WireFormatError(f"invalid array element: {exc}", api=_API) from None
                if parsed is None:
                    self._tried = len(buf) - pos
                    break  # incomplete: wait for more (or drop it at close)
                self._value(parsed[0], out)
                pos, self._state, self._tried = parsed[1], _AFTER, 0
            elif state == _START and char in "[\ufeff":
                self._state = _FIRST if char == "[" else _START
                pos += 1
            elif state in (_FIRST, _AFTER) and char == "]":
                self._state, pos = _END, pos + 1
            elif state == _AFTER and char == ",":
                self._state, pos = _ELEMENT, pos + 1
            elif state == _FIRST and char == "{":
                self._state = _ELEMENT
            else:
                raise WireFormatError(f"unexpected {char!r} in the JSON array", api=_API)
        self._pending = [buf[pos:]] if pos < len(buf) else []
        self._size = len(buf) - pos
        return out

    def _wait(self, text: str) -> bool:
        """Whether re-parsing the element is pointless or premature after `text` arrived.

        An element ends with `}`. It is re-parsed when the buffer ends with one (the usual
        network write boundary) or has doubled since the last try, which keeps the total
        parsing work linear however small the pieces are.
        """
        if "}" not in text:
            return True
        return not text.rstrip().endswith("}") and self._size < 2 * self._tried
