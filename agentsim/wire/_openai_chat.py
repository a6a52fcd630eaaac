"""OpenAI Chat Completions streaming wire codec (DESIGN §5): `data: <chunk>` events, `data: [DONE]`.

Design choices:
- The decoder sits on `SSEDecoder` (WHATWG framing) and does one `json.loads` plus a few dict
  lookups per event; no per-character work in Python. It is total over the compatible servers in
  the corpus: reasoning in `delta.reasoning_content` (DeepSeek, Z.ai) or `delta.reasoning` (Groq,
  OpenRouter), errors as `event: error` (Groq) or an `error` key in a chunk (OpenRouter).
- Tool-call chunk indexes are allocated by the decoder, not copied blindly: a fragment with a new
  `id` on a wire `index` already in use (servers that reuse index 0 for parallel calls) ends the
  previous call and starts a new one under a fresh index, so indexes stay unique per response.
- Chat has no "tool call done" marker: `ToolCallEndChunk`s come at `finish_reason`, for every call
  still open, in index order. Only the first `finish_reason` counts (OpenRouter repeats it).
- Events after `data: [DONE]` are ignored, as the official SDK does. `[DONE]` without any
  `finish_reason` (Snowflake sends none) finishes the response ("tool_calls" if it had calls,
  else "stop"): the stream is complete, and a missing finish would read as truncation.
- Usage comes from `usage` (with `stream_options.include_usage`, or OpenRouter's alongside the
  last choice) or, failing that, Groq's `x_groq.usage`.
- Groq's ``tool_use_failed`` error (the model's tool call failed Groq's schema check) carries
  the call in ``failed_generation`` (``{"name": ..., "arguments": {...}}``). It decodes as that
  call - start, arguments, a `ToolCallEndChunk` whose `rejected` is the error's message - and a
  ``tool_calls`` finish; the rest of the body is ignored, as the SDK raises there. This is how
  pydantic-ai reads it (`pydantic_ai/models/groq.py`, `_map_tool_use_failed` and
  `_parse_tool_use_failed_error`: a `ToolCallPart` from the failed generation, which it then
  validates and answers with a retry prompt), so the run goes on instead of failing. Groq sends
  no call id: the call gets ``rejected_call_<index>``. A ``failed_generation`` that is not a
  call (empty, or text) leaves the error an `ErrorChunk`, as before.
- The encoder writes what OpenAI sends with `stream_options.include_usage`: a role chunk, deltas,
  a `finish_reason` chunk, a `choices: []` usage chunk, `[DONE]`. `normalize_openai_chat` is the
  canonical form of a chunk sequence for this API, i.e. what `decode(encode(chunks))` yields:
  empty deltas and reasoning signatures vanish (not representable), tool-call indexes become
  0, 1, 2… in start order, ends move to the finish, only the last usage is kept (at the end).
  A rejected call is written as Groq does (`event: error`, ``tool_use_failed``), which ends the
  stream. ``pause`` has no Chat form: it is written (and reads back) as ``other``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, cast

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
from agentsim.core._usage import Usage
from agentsim.wire._base import SSEJsonDecoder, error_from_status

__all__ = ["OpenAIChatDecoder", "encode_openai_chat", "normalize_openai_chat"]

API = "openai-chat"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# Error `type` strings the encoder writes; `error_from_status(status, type)` maps each back.
ERROR_TYPES: dict[ErrorKind, str] = {
    "rate_limit": "rate_limit_exceeded",
    "overloaded": "overloaded_error",
    "server": "server_error",
    "timeout": "timeout",
    "invalid_request": "invalid_request_error",
    "auth": "authentication_error",
    "other": "",
}


def _str(value: Any, what: str) -> str:
    if value.__class__ is str:
        text: str = value
        return text
    if value is None:
        return ""
    raise TypeError(f"{what} is not a string: {value!r}")


def _int(value: Any) -> int:
    if value is None:
        return 0
    if value.__class__ is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def error_chunk(error: Any, status: int | None = None) -> ErrorChunk:
    """An `ErrorChunk` from an in-stream error object (OpenAI/Groq/OpenRouter shapes)."""
    if isinstance(error, dict):
        message = error.get("message")
        message = message if isinstance(message, str) else json.dumps(error, sort_keys=True)
        code = error.get("code")
        for key in ("status_code", "status", "code"):
            value = error.get(key)
            if value.__class__ is int:
                status = value
                break
        words = [error.get("type"), code, error.get("status")]
        error_type = " ".join(w for w in words if isinstance(w, str) and w)
    else:
        message, error_type = ("" if error is None else str(error)), ""
    kind, retryable = error_from_status(0 if status is None else status, error_type)
    return ErrorChunk(kind, message, retryable, status)


REJECTED_ID = "rejected_call_"  # + the call's index: Groq's failed_generation has no call id


def _failed_call(error: Any) -> tuple[str, str, str] | None:
    """(name, argument text, message) of a ``tool_use_failed`` error that reports a call."""
    if not isinstance(error, dict) or error.get("code") != "tool_use_failed":
        return None
    generation = error.get("failed_generation")
    try:
        call = json.loads(generation) if isinstance(generation, str) else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    arguments = call.get("arguments")
    if isinstance(arguments, dict):
        try:
            arguments = _dumps(arguments)
        except (ValueError, RecursionError):  # decoders raise only WireFormatError
            return None
    elif not isinstance(arguments, str):
        return None
    message = error.get("message")
    return call["name"], arguments, message if isinstance(message, str) else ""


def usage_from(usage: dict[str, Any]) -> Usage:
    """Chat Completions `usage`; missing or null fields count 0."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return Usage(
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(completion.get("reasoning_tokens")),
        _int(prompt.get("cached_tokens")),
    )


class OpenAIChatDecoder(SSEJsonDecoder):
    """Incremental decoder of one Chat Completions streaming body (HTTP 200)."""

    __slots__ = ("_calls", "_errored", "_finished", "_next", "_open", "_used")
    api = API
    done_marker = "[DONE]"  # the SDK stops reading there

    def __init__(self) -> None:
        super().__init__()
        self._finished = False
        self._errored = False
        self._calls: dict[int, tuple[int, str]] = {}  # wire index -> (chunk index, call id)
        self._open: list[int] = []  # chunk indexes started and not yet ended
        self._used: set[int] = set()
        self._next = 0  # lowest chunk index never allocated above every used one

    def _on_done(self, out: list[Chunk]) -> None:
        if not self._finished and not self._errored:
            # A complete stream without `finish_reason` (Snowflake): finish it here.
            self._finish("tool_calls" if self._used else "stop", out)

    def _payload(self, event_name: str, payload: dict[str, Any], out: list[Chunk]) -> None:
        is_error_event = event_name == "error"
        choices = payload.get("choices")
        if choices:
            for choice in choices:
                if choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if delta:
                        self._delta(delta, out)
                    reason = choice.get("finish_reason")
                    if reason is not None and not self._finished:
                        self._finish(_str(reason, "finish_reason"), out)
        usage = payload.get("usage")
        if not usage and "x_groq" in payload:
            usage = (payload["x_groq"] or {}).get("usage")  # Groq without include_usage
        if usage:
            out.append(UsageChunk(usage_from(usage)))
        error = payload.get("error")
        if error is not None or is_error_event:
            self._errored = True
            inner = payload if error is None else error
            if not self._finished and self._rejected_call(inner, out):
                self._done = True  # the SDK raises at this event: nothing after it is read
                return
            out.append(error_chunk(inner))

    def _rejected_call(self, error: Any, out: list[Chunk]) -> bool:
        """Groq's ``tool_use_failed`` with the call in ``failed_generation``: the call, ended
        with the error's message as `rejected`, and a ``tool_calls`` finish (module comment)."""
        call = _failed_call(error)
        if call is None:
            return False
        name, arguments, message = call
        out.extend(ToolCallEndChunk(index) for index in sorted(self._open))
        self._open.clear()
        index = self._next
        self._used.add(index)
        self._next = index + 1
        out.append(ToolCallStartChunk(index, f"{REJECTED_ID}{index}", name))
        if arguments:
            out.append(ToolCallArgsChunk(index, arguments))
        out.append(ToolCallEndChunk(index, message))
        self._finished = True
        out.append(FinishChunk("tool_calls"))
        return True

    def _delta(self, delta: dict[str, Any], out: list[Chunk]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            out.append(ReasoningChunk(_str(reasoning, "delta.reasoning")))
        content = delta.get("content")
        if isinstance(content, list):  # Mistral: content parts, thinking among them
            for part in content:
                self._part(part, out)
        elif content:
            out.append(TextChunk(_str(content, "delta.content")))
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for fragment in tool_calls:
                self._fragment(fragment, out)

    def _part(self, part: Any, out: list[Chunk]) -> None:
        """One content part: ``{type: text, text}`` or ``{type: thinking, thinking: [parts]}``."""
        if not isinstance(part, dict):
            raise TypeError(f"delta.content[] is not an object: {part!r}")
        if part.get("type") == "thinking":
            inner = part.get("thinking")
            pieces = inner if isinstance(inner, list) else [{"text": inner}]
            text = "".join(
                _str(p.get("text") if isinstance(p, dict) else p, "thinking[].text") for p in pieces
            )
            if text:
                out.append(ReasoningChunk(text))
            return
        text = _str(part.get("text"), "delta.content[].text")
        if text:
            out.append(TextChunk(text))

    def _fragment(self, fragment: dict[str, Any], out: list[Chunk]) -> None:
        wire = _int(fragment.get("index"))
        call_id = _str(fragment.get("id"), "tool_calls[].id")
        function = fragment.get("function") or {}
        current = self._calls.get(wire)
        if current is None or (call_id and call_id != current[1]):
            if current is not None and current[0] in self._open:
                self._open.remove(current[0])
                out.append(ToolCallEndChunk(current[0]))
            index = wire if wire not in self._used and wire >= 0 else self._next
            self._used.add(index)
            self._next = max(self._next, index + 1)
            self._calls[wire] = current = (index, call_id)
            self._open.append(index)
            name = _str(function.get("name"), "function.name")
            out.append(ToolCallStartChunk(index, call_id, name))
        arguments = function.get("arguments")
        if arguments:
            out.append(ToolCallArgsChunk(current[0], _str(arguments, "function.arguments")))

    def _finish(self, reason: str, out: list[Chunk]) -> None:
        self._finished = True
        out.extend(ToolCallEndChunk(index) for index in sorted(self._open))
        self._open.clear()
        out.append(FinishChunk(_FINISH.get(reason, "other")))


# -- encoding --------------------------------------------------------------------------------------

CREATED = 1_700_000_000
MODEL = "agentsim-model"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _digest(chunks: Sequence[Chunk]) -> str:
    """Deterministic per-content hex digest, so ids differ between different responses."""
    return hashlib.sha256(repr(list(chunks)).encode("utf-8", "surrogatepass")).hexdigest()


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _rejection(chunks: Sequence[Chunk]) -> tuple[int, ToolCallStartChunk, set[int]] | None:
    """The call the stream reports as rejected, if any: (position of its rejecting
    `ToolCallEndChunk`, its start, positions of its start and argument chunks).

    Only the first rejection before any finish counts (it ends the stream on the wire), and
    only for a call still open then."""
    starts: dict[int, int] = {}  # chunk index -> position of the open call's start
    for position, chunk in enumerate(chunks):
        if isinstance(chunk, FinishChunk):
            return None
        if isinstance(chunk, ToolCallStartChunk):
            starts[chunk.index] = position
        elif isinstance(chunk, ToolCallEndChunk):
            begin = starts.pop(chunk.index, None)
            if chunk.rejected is not None and begin is not None:
                start = chunks[begin]
                assert isinstance(start, ToolCallStartChunk)
                own = {
                    k
                    for k in range(begin + 1, position)
                    if isinstance(chunks[k], ToolCallArgsChunk)
                    and cast(ToolCallArgsChunk, chunks[k]).index == chunk.index
                }
                return position, start, {begin, *own}
    return None


def _rejected_arguments(chunks: Sequence[Chunk], own: set[int]) -> str:
    """The argument text of a rejected call, as it reads back from ``failed_generation``."""
    text = "".join(cast(ToolCallArgsChunk, chunks[k]).delta for k in sorted(own)[1:])
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return _dumps(value) if isinstance(value, dict) else text


def _failed_generation(name: str, arguments: str, message: str) -> str:
    try:
        value: Any = json.loads(arguments)
    except (ValueError, RecursionError):
        value = arguments
    generation = {"name": name, "arguments": value if isinstance(value, dict) else arguments}
    error = {
        "message": message,
        "type": "invalid_request_error",
        "code": "tool_use_failed",
        "failed_generation": _dumps(generation),
        "status_code": 400,
    }
    return f"event: error\ndata: {_dumps({'error': error})}\n\n"


def encode_openai_chat(chunks: Sequence[Chunk]) -> bytes:
    """The Chat Completions stream OpenAI would send for `chunks` (deterministic bytes)."""
    digest = _digest(chunks)
    usage = next((c.usage for c in reversed(chunks) if isinstance(c, UsageChunk)), None)
    head = (
        f'{{"id":"chatcmpl-{digest[:29]}","object":"chat.completion.chunk","created":{CREATED},'
        f'"model":"{MODEL}","service_tier":"default","system_fingerprint":"fp_{digest[29:39]}",'
    )
    tail = ',"usage":null}' if usage is not None else "}"
    parts: list[str] = []

    def choice(delta: dict[str, Any], finish: str | None = None) -> None:
        body = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        parts.append(f'data: {head}"choices":[{_dumps(body)}]{tail}\n\n')

    choice({"role": "assistant", "content": "", "refusal": None})
    wire: dict[int, int] = {}  # chunk index -> wire index (0, 1, 2… in start order)
    calls = 0
    finished = errored = False
    rejection = _rejection(chunks)
    for position, chunk in enumerate(chunks):
        if rejection is not None:
            end, start, own = rejection
            if position in own:
                continue  # a rejected call is not streamed: Groq reports it in its error
            if position == end:
                arguments = _rejected_arguments(chunks, own)
                message = cast(ToolCallEndChunk, chunk).rejected or ""
                parts.append(_failed_generation(start.name, arguments, message))
                return "".join(parts).encode("utf-8")
        if isinstance(chunk, TextChunk):
            if chunk.text:
                choice({"content": chunk.text})
        elif isinstance(chunk, ReasoningChunk):
            if chunk.text:
                choice({"reasoning_content": chunk.text})
        elif isinstance(chunk, ToolCallStartChunk):
            wire[chunk.index] = n = calls
            calls += 1
            call = {"name": chunk.name, "arguments": ""}
            fragment = {"index": n, "id": chunk.call_id, "type": "function", "function": call}
            choice({"tool_calls": [fragment]})
        elif isinstance(chunk, ToolCallArgsChunk):
            if chunk.delta and chunk.index in wire:
                fragment = {"index": wire[chunk.index], "function": {"arguments": chunk.delta}}
                choice({"tool_calls": [fragment]})
        elif isinstance(chunk, FinishChunk):
            if not finished:
                finished = True
                choice({}, "other" if chunk.reason == "pause" else chunk.reason)
        elif isinstance(chunk, ErrorChunk):
            errored = True
            error = {
                "message": chunk.message,
                "type": ERROR_TYPES[chunk.kind],
                "param": None,
                "code": chunk.status,
            }
            parts.append(f"data: {_dumps({'error': error})}\n\n")
    if usage is not None:
        parts.append(f'data: {head}"choices":[],"usage":{_dumps(_usage_json(usage))}}}\n\n')
    if finished or errored:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode("utf-8")


def normalize_error(chunk: ErrorChunk, *, keep_status: bool = True) -> ErrorChunk:
    """The error as it decodes after encoding: kind and retryable re-derived from the wire."""
    status = chunk.status if keep_status else None
    kind, retryable = error_from_status(0 if status is None else status, ERROR_TYPES[chunk.kind])
    return ErrorChunk(kind, chunk.message, retryable, status)


def normalize_openai_chat(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The canonical form of `chunks` for Chat Completions: what `decode(encode(chunks))` gives.

    Empty deltas and reasoning signatures vanish; tool-call indexes become 0, 1, 2… in start
    order; `ToolCallEndChunk`s move to the first finish (for every call open then, index order);
    later finishes vanish; only the last usage survives, at the end; an error takes the kind and
    retryability that its status and type map back to. Deltas after a finish stay (the wire
    allows them).
    """
    out: list[Chunk] = []
    wire: dict[int, int] = {}
    calls = 0
    open_: list[int] = []
    usage: UsageChunk | None = None
    finished = False
    rejection = _rejection(chunks)
    for position, chunk in enumerate(chunks):
        if rejection is not None:
            end, start, own = rejection
            if position in own:
                continue
            if position == end:  # the call, its end with the message, a finish; nothing more
                out.extend(ToolCallEndChunk(n) for n in sorted(open_))
                out.append(ToolCallStartChunk(calls, f"{REJECTED_ID}{calls}", start.name))
                arguments = _rejected_arguments(chunks, own)
                if arguments:
                    out.append(ToolCallArgsChunk(calls, arguments))
                out.append(ToolCallEndChunk(calls, cast(ToolCallEndChunk, chunk).rejected))
                out.append(FinishChunk("tool_calls"))
                return out
        if isinstance(chunk, TextChunk):
            if chunk.text:
                out.append(chunk)
        elif isinstance(chunk, ReasoningChunk):
            if chunk.text:
                out.append(ReasoningChunk(chunk.text))
        elif isinstance(chunk, ToolCallStartChunk):
            wire[chunk.index] = n = calls
            calls += 1
            open_.append(n)
            out.append(ToolCallStartChunk(n, chunk.call_id, chunk.name))
        elif isinstance(chunk, ToolCallArgsChunk):
            if chunk.delta and chunk.index in wire:
                out.append(ToolCallArgsChunk(wire[chunk.index], chunk.delta))
        elif isinstance(chunk, UsageChunk):
            usage = chunk
        elif isinstance(chunk, FinishChunk):
            if not finished:
                finished = True
                out.extend(ToolCallEndChunk(n) for n in sorted(open_))
                open_.clear()
                out.append(FinishChunk("other") if chunk.reason == "pause" else chunk)
        elif isinstance(chunk, ErrorChunk):
            out.append(normalize_error(chunk))
    if usage is not None:
        out.append(usage)
    return out
