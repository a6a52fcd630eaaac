"""Provider API replies: a scripted response as timed HTTP answer bytes, for `agentsim serve` and
the httpx transport alike (pure: no I/O, no clock).

A `Reply` is what to send and when: the status and headers at `head_at`, then each piece of the
body at its offset (seconds since the request), then either the end, a hang (`stall`), a
connection closed short of the announced length (`length`), or a connection dropped mid-body
(`reset`).

Choices:

- **Streams are the wire codecs' exact bytes.** The scripted chunks are encoded once with
  `encode_stream` (so the SDKs read what the codec tests prove they read) and cut into one piece
  per SSE event. Each event is due when the scripted chunks it carries are due: the event is fed
  to the API's own decoder, and what it yields is matched against the script by progress, not by
  identity, because codecs legitimately move and merge things (Chat sends tool-call ends with the
  finish, Gemini sends a call's arguments whole, Anthropic groups a call's fragments in its
  block). The n-th decoded text / reasoning / argument character is due when the scripted chunk
  holding the n-th such character is; the n-th tool-call start, signature, finish or error when
  the n-th scripted one is; a call's end when its last fragment is. Events that carry nothing
  (``message_start``, ``ping``, a role chunk) go with the event before them. Offsets never
  decrease, and time after the last chunk is not played (as cassette replay does). A script
  without delays is all due at once, so its events are not decoded for their times.
- **An error before any output is an HTTP error** when the script gives it a `status`: that is how
  providers refuse a request (429, 529, 503 ...), and how the SDKs' own retry logic sees it. An
  error without a status, or after output, is sent inside the stream as the API does.
- **Non-streaming requests** get the API's whole JSON response, built from the same chunks, at
  the time of the last chunk; a scripted error becomes an HTTP error answer; a response that never
  finishes (truncation) is cut in half mid-body, as a dropped connection would leave it.
- Gemini without ``alt=sse`` streams a JSON array of the same response objects.
- **Wire-only faults** (issue #16 part 4; `RetryAfter`, `Reset`, `Malformed` stream items): an
  HTTP error answer carries ``Retry-After`` when scripted (whole seconds as the header's
  integer form when whole, else a decimal, which the openai and anthropic SDKs parse as float);
  a reset ends the body with the connection dropped (the transports raise what httpx raises on
  an incomplete chunked body, the server closes the socket without the last chunk); a malformed
  event is sent in the API's own framing (with the ``event:`` name the SDK dispatches on, for
  Anthropic and Responses, so it is not skipped as an unknown event) after the events before it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agentsim.cassettes._provider import _EVENT_END, _cuts
from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    ErrorKind,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.scenario._script import Delay, Malformed, Reset, RetryAfter, Stall, StreamItem
from agentsim.wire._anthropic import _ERROR_STATUS, _STOP_REASON, _error_type, _layout, _wire_usage
from agentsim.wire._base import ApiName
from agentsim.wire._gemini import wire_error as _wire_error
from agentsim.wire._openai_chat import CREATED, ERROR_TYPES, MODEL, _digest, _usage_json
from agentsim.wire._registry import decoder_for, encode_stream

__all__ = ["Reply", "error_reply", "malformed_event", "scripted_reply"]

Piece = tuple[float, bytes]
_SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))
_JSON_HEADERS = (("content-type", "application/json"),)
# The status an OpenAI-style error answer gets when the script gives none.
_STATUS: dict[ErrorKind, int] = {
    "rate_limit": 429,
    "overloaded": 503,
    "server": 500,
    "timeout": 408,
    "invalid_request": 400,
    "auth": 401,
    "other": 500,
}


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: status and headers at `head_at`, body pieces at their offsets, then the end.

    `stall`: after the last piece the answer hangs until the client gives up (a non-streaming
    answer that stalls has `head_at` infinite: nothing at all arrives). `length`: the
    announced Content-Length (None for a streamed body); pieces adding up to less mean the
    connection closes mid-body.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    head_at: float
    pieces: tuple[Piece, ...]
    stall: bool = False
    length: int | None = None
    reset: bool = False

    @property
    def cut(self) -> bool:
        """The connection closes before the body is complete (dropped, or short of `length`)."""
        if self.reset:
            return True
        return self.length is not None and sum(len(p) for _, p in self.pieces) < self.length


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# -- errors ---------------------------------------------------------------------------------------


def error_body(api: ApiName, chunk: ErrorChunk, code: str | None = None) -> tuple[int, bytes]:
    """(HTTP status, JSON body) of an error answer in `api`'s shape; decodes back to the kind."""
    if api == "anthropic":
        error_type = _error_type(chunk)
        status = chunk.status or _ERROR_STATUS.get(error_type, 500)
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": error_type, "message": chunk.message},
        }
    elif api == "gemini":
        status, grpc = _wire_error(chunk)
        body = {"error": {"code": status, "message": chunk.message, "status": grpc}}
    else:
        status = chunk.status or _STATUS[chunk.kind]
        error_type = ERROR_TYPES[chunk.kind] or "server_error"
        body = {
            "error": {"message": chunk.message, "type": error_type, "param": None, "code": code}
        }
    return status, _dumps(body)


def error_reply(
    api: ApiName,
    chunk: ErrorChunk,
    *,
    at: float = 0.0,
    code: str | None = None,
    retry_after: float | None = None,
) -> Reply:
    status, body = error_body(api, chunk, code)
    headers: tuple[tuple[str, str], ...] = (*_JSON_HEADERS, ("content-length", str(len(body))))
    if retry_after is not None:
        value = str(int(retry_after)) if retry_after == int(retry_after) else f"{retry_after:g}"
        headers = (*headers, ("retry-after", value))
    return Reply(status, headers, at, ((at, body),), length=len(body))


# The event name a malformed event is sent under, for the APIs whose SDKs dispatch on it.
_MALFORMED_EVENT: dict[str, str] = {
    "openai-responses": "response.output_text.delta",
    "anthropic": "content_block_delta",
}


def malformed_event(api: ApiName, data: str) -> bytes:
    """An SSE event carrying `data` as is, in `api`'s framing (Gemini: CRLF pairs)."""
    name = _MALFORMED_EVENT.get(api)
    lines = [f"event: {name}"] if name else []
    lines += [f"data: {line}" for line in data.split("\n")]
    newline = "\r\n" if api == "gemini" else "\n"
    return (newline.join(lines) + newline * 2).encode("utf-8", "surrogatepass")


# -- streams --------------------------------------------------------------------------------------


class _Calls:
    """Tool calls by chunk index, numbered 0, 1, 2... in start order (an index may be reused)."""

    def __init__(self) -> None:
        self.ordinal: dict[int, int] = {}
        self.started = 0

    def start(self, index: int) -> None:
        self.ordinal[index] = self.started
        self.started += 1


def _marks(chunk: Chunk, calls: _Calls) -> list[tuple[object, int]]:
    """What a chunk advances: (key, characters) for text-like progress, (key, 0) for counted."""
    if isinstance(chunk, TextChunk):
        return [("text", len(chunk.text))]
    if isinstance(chunk, ReasoningChunk):
        marks: list[tuple[object, int]] = [("reasoning", len(chunk.text))]
        return [*marks, ("signature", 0)] if chunk.signature else marks
    if isinstance(chunk, ToolCallStartChunk):
        calls.start(chunk.index)
        return [("start", 0)]
    if isinstance(chunk, ToolCallArgsChunk) and chunk.index in calls.ordinal:
        return [(("args", calls.ordinal[chunk.index]), len(chunk.delta))]
    if isinstance(chunk, ToolCallEndChunk) and chunk.index in calls.ordinal:
        return [(("end", calls.ordinal[chunk.index]), 0)]
    if isinstance(chunk, FinishChunk | ErrorChunk):
        return [(chunk.type, 0)]
    return []


class _Due:
    """When decoded chunks are due, by their progress through the scripted chunks."""

    def __init__(self, chunks: Sequence[Chunk], times: Sequence[float]) -> None:
        self._chars: dict[object, list[tuple[int, float]]] = {}  # key -> [(chars so far, time)]
        self._counts: dict[object, list[float]] = {}  # key -> time of each occurrence
        calls = _Calls()
        for chunk, t in zip(chunks, times, strict=True):
            for key, size in _marks(chunk, calls):
                if size:
                    marks = self._chars.setdefault(key, [])
                    marks.append(((marks[-1][0] if marks else 0) + size, t))
                elif not isinstance(key, tuple):
                    self._counts.setdefault(key, []).append(t)
        self._seen: dict[object, int] = {}
        self._calls = _Calls()

    def _at(self, key: object, size: int) -> float:
        seen = self._seen.get(key, 0) + (size or 1)
        self._seen[key] = seen
        if isinstance(key, tuple) and key[0] == "end":  # a call ends with its last fragment
            marks = self._chars.get(("args", key[1]), [])
            return marks[-1][1] if marks else 0.0
        if not size:
            times = self._counts.get(key, [])
            return times[seen - 1] if seen <= len(times) else 0.0
        marks = self._chars.get(key, [])
        return next((t for total, t in marks if total >= seen), marks[-1][1] if marks else 0.0)

    def due(self, decoded: Sequence[Chunk]) -> float:
        """The time by which every chunk in `decoded` is due (0.0 when nothing constrains it)."""
        due = 0.0
        for chunk in decoded:
            for key, size in _marks(chunk, self._calls):
                if size or not isinstance(key, tuple) or key[0] == "end":
                    due = max(due, self._at(key, size))
        return due


@dataclass(frozen=True, slots=True)
class _Timeline:
    """The scripted chunks, the time each is due, and how the stream ends: a stall, a reset,
    or a malformed event (its data), at `end_at`."""

    chunks: list[Chunk]
    times: list[float]
    stall: bool = False
    reset: bool = False
    malformed: str | None = None
    end_at: float = 0.0

    def __iter__(self) -> Iterator[Any]:  # the older (chunks, times, stall) triple
        return iter((self.chunks, self.times, self.stall))


def _timeline(items: Sequence[StreamItem]) -> _Timeline:
    chunks: list[Chunk] = []
    times: list[float] = []
    now = 0.0
    for item in items:
        if isinstance(item, Delay):
            now += item.seconds
        elif isinstance(item, Stall):
            return _Timeline(chunks, times, stall=True, end_at=now)
        elif isinstance(item, Reset):
            return _Timeline(chunks, times, reset=True, end_at=now)
        elif isinstance(item, Malformed):
            return _Timeline(chunks, times, malformed=item.data, end_at=now)
        elif not isinstance(item, RetryAfter):
            chunks.append(item)
            times.append(now)
    return _Timeline(chunks, times, end_at=now)


def _event_pieces(api: ApiName, chunks: Sequence[Chunk], times: Sequence[float]) -> list[Piece]:
    body = encode_stream(api, chunks)
    events = _cuts(body, {m.end() for m in _EVENT_END.finditer(body)})
    if not any(times):  # nothing scripted waits: every event is due at once, no need to decode
        return [(0.0, event) for event in events if event]
    decoder, due = decoder_for(api), _Due(chunks, times)
    pieces: list[Piece] = []
    at = 0.0
    for number, event in enumerate(events):
        decoded = decoder.feed(event)
        if number == len(events) - 1:
            decoded += decoder.close()
        at = max(at, due.due(decoded))
        if event:
            pieces.append((at, event))
    return pieces


def _array_pieces(pieces: list[Piece], complete: bool) -> list[Piece]:
    """Gemini's stream without ``alt=sse``: the same response objects as one JSON array."""
    out: list[Piece] = []
    for at, event in pieces:
        element = event.strip()
        element = element.removeprefix(b"data: ")
        out.append((at, (b",\r\n" if out else b"[") + element))
    if complete:
        at, last = out[-1] if out else (0.0, b"[")
        out[-1:] = [(at, last + b"]")]
    return out


def _stream_reply(api: ApiName, items: Sequence[StreamItem], *, array: bool) -> Reply:
    line = _timeline(items)
    pieces = _event_pieces(api, line.chunks, line.times)
    if line.malformed is not None:
        at = max([line.end_at, *(t for t, _ in pieces[-1:])])
        pieces.append((at, malformed_event(api, line.malformed)))
    finished = any(isinstance(c, FinishChunk | ErrorChunk) for c in line.chunks)
    complete = (finished or line.malformed is not None) and not (line.stall or line.reset)
    headers: tuple[tuple[str, str], ...] = _SSE_HEADERS
    if array:
        pieces = _array_pieces(pieces, complete)
        headers = (("content-type", "application/json; charset=utf-8"),)
    return Reply(200, headers, 0.0, tuple(pieces), line.stall, reset=line.reset)


# -- whole JSON responses -------------------------------------------------------------------------


def _chat_json(chunks: Sequence[Chunk]) -> dict[str, Any]:
    digest = _digest(chunks)
    text, reasoning = [], []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage = None
    for chunk in chunks:
        if isinstance(chunk, TextChunk):
            text.append(chunk.text)
        elif isinstance(chunk, ReasoningChunk):
            reasoning.append(chunk.text)
        elif isinstance(chunk, ToolCallStartChunk):
            function = {"name": chunk.name, "arguments": ""}
            calls[chunk.index] = {"id": chunk.call_id, "type": "function", "function": function}
        elif isinstance(chunk, ToolCallArgsChunk) and chunk.index in calls:
            calls[chunk.index]["function"]["arguments"] += chunk.delta
        elif isinstance(chunk, UsageChunk):
            usage = chunk.usage
        elif isinstance(chunk, FinishChunk) and finish is None:
            finish = chunk.reason
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) or None,
        "refusal": None,
        "annotations": [],
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = list(calls.values())
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return {
        "id": f"chatcmpl-{digest[:29]}",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [choice],
        "usage": None if usage is None else _usage_json(usage),
        "service_tier": "default",
        "system_fingerprint": f"fp_{digest[29:39]}",
    }


def _events(api: ApiName, chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """The JSON objects of the encoded stream's events, in order (Gemini's raw error included)."""
    out: list[dict[str, Any]] = []
    for line in encode_stream(api, chunks).split(b"\n"):
        if line.startswith(b"data: "):
            out.append(json.loads(line[6:]))
    return out


def _responses_json(chunks: Sequence[Chunk]) -> dict[str, Any]:
    objects = [e["response"] for e in _events("openai-responses", chunks) if "response" in e]
    response: dict[str, Any] = objects[-1]
    if response.get("usage"):  # the field current API answers carry and the SDK's model requires
        response["usage"]["input_tokens_details"].setdefault("cache_write_tokens", 0)
    return response


def _anthropic_json(chunks: Sequence[Chunk]) -> dict[str, Any]:
    response = _layout(chunks)
    content: list[dict[str, Any]] = []
    for block in response.blocks:
        text = "".join(block.pieces)
        if block.kind == "text":
            content.append({"type": "text", "text": text})
        elif block.kind == "thinking":
            content.append(
                {"type": "thinking", "thinking": text, "signature": block.signature or ""}
            )
        else:
            arguments = json.loads(text) if text.strip() else {}
            if not isinstance(arguments, dict):
                raise ValueError(f"tool_use input must be a JSON object: {text[:80]!r}")
            call = {"type": "tool_use", "id": block.call_id, "name": block.name}
            content.append({**call, "input": arguments})
    digest = hashlib.sha256(repr(list(chunks)).encode("utf-8", "surrogatepass")).hexdigest()
    finish = response.finish
    return {
        "id": f"msg_agentsim_{digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": None if finish is None else _STOP_REASON[finish],
        "stop_sequence": None,
        "usage": _wire_usage(response.usage),
    }


def _gemini_json(chunks: Sequence[Chunk]) -> dict[str, Any]:
    events = _events("gemini", chunks)
    parts: list[dict[str, Any]] = []
    for event in events:
        for streamed in event.get("candidates", [])[:1]:
            for part in streamed["content"]["parts"]:
                previous = parts[-1] if parts else None
                plain = set(part) in ({"text"}, {"text", "thought"})
                if part == {"text": ""}:
                    continue
                if plain and previous is not None and set(previous) == set(part):
                    previous["text"] += part["text"]  # one part per run, as generateContent does
                else:
                    parts.append(dict(part))
    last = events[-1] if events else {}
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    finish = next((c.get("finishReason") for c in last.get("candidates", [])), None)
    if finish is not None:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate]}
    if "usageMetadata" in last:
        out["usageMetadata"] = last["usageMetadata"]
    return {**out, "modelVersion": MODEL, "responseId": last.get("responseId", "agentsim")}


def whole_json(api: ApiName, chunks: Sequence[Chunk]) -> dict[str, Any]:
    """The API's non-streaming JSON response for `chunks` (no error among them)."""
    if api == "openai-chat":
        return _chat_json(chunks)
    if api == "openai-responses":
        return _responses_json(chunks)
    if api == "anthropic":
        return _anthropic_json(chunks)
    return _gemini_json(chunks)


def _json_reply(api: ApiName, items: Sequence[StreamItem]) -> Reply:
    line = _timeline(items)
    chunks = line.chunks
    at = line.times[-1] if line.times else 0.0
    error = next((c for c in chunks if isinstance(c, ErrorChunk)), None)
    if error is not None:
        return error_reply(api, error, at=at)
    if line.malformed is not None:  # the whole answer is the malformed data
        body = line.malformed.encode("utf-8", "surrogatepass")
        headers = (*_JSON_HEADERS, ("content-length", str(len(body))))
        return Reply(200, headers, line.end_at, ((line.end_at, body),), length=len(body))
    body = _dumps(whole_json(api, chunks))
    headers = (*_JSON_HEADERS, ("content-length", str(len(body))))
    if line.stall:  # a whole answer that never comes: not even its status line
        return Reply(200, headers, math.inf, (), stall=True, length=len(body))
    finished = any(isinstance(c, FinishChunk) for c in chunks) and not line.reset
    piece = body if finished else body[: len(body) // 2]
    return Reply(200, headers, at, ((at, piece),), length=len(body))


def scripted_reply(
    api: ApiName,
    items: Sequence[StreamItem],
    *,
    stream: bool,
    array: bool = False,
    usage: bool = True,
) -> Reply:
    """The answer to a request that a script entry plays (its chunks, delays and stall).

    `usage` False leaves the usage out of a streamed answer (`ApiCall.streams_usage`: an OpenAI
    Chat Completions request that did not ask for it gets no usage chunk, as from the real API).

    Raises `ValueError` when the API cannot express the chunks (arguments that are not a JSON
    object, for Anthropic's or Gemini's whole calls).
    """
    now = 0.0
    retry_after: float | None = None
    for item in items:
        if isinstance(item, Delay):
            now += item.seconds
        elif isinstance(item, RetryAfter):
            retry_after = item.seconds
        elif isinstance(item, ErrorChunk) and item.status is not None:
            return error_reply(api, item, at=now, retry_after=retry_after)
        elif not isinstance(item, UsageChunk):
            break
    if stream:
        if not usage:
            items = [item for item in items if not isinstance(item, UsageChunk)]
        return _stream_reply(api, items, array=array)
    return _json_reply(api, items)
