"""Anthropic Messages streaming codec (`POST /v1/messages`, `stream: true`; DESIGN §5).

Decoding follows the event names of the API; the choices where the API leaves room:

- Only client tool calls become tool-call chunks. `tool_use` blocks give
  `ToolCallStartChunk(index=<content block index>)`, their `input_json_delta` fragments
  `ToolCallArgsChunk`s and their `content_block_stop` a `ToolCallEndChunk`. Empty fragments
  are dropped; a call with no non-empty fragment gets one `"{}"` at its stop (an empty buffer
  means `{}`), and a non-empty `input` on the block start is sent as the arguments.
- Blocks the *server* runs or produces (`server_tool_use`, `mcp_tool_use`,
  `web_search_tool_result`, code-execution results, `compaction`, ...) are skipped with their
  deltas: the loop under test neither executes nor answers them. Their visible outcome is the
  text blocks around them, which are decoded as usual. `citations_delta` is skipped too.
- `signature_delta` gives `ReasoningChunk("", signature=...)`. A `redacted_thinking` block is
  opaque reasoning, so it also gives `ReasoningChunk("", signature=<its data>)` (the chunk
  vocabulary cannot tell it from a signed empty thinking block). Encoding signs every
  thinking block: with the scenario's signature, else a deterministic base64 one made from the
  chunks' digest (`_sign`), as the real API always signs thinking.
- Usage is one `UsageChunk` at `message_delta`, with OpenAI's conventions so that all APIs
  agree: `input_tokens` counts every prompt token (`input_tokens` + cache reads + cache
  writes), `cached_tokens` is the cache reads, `output_tokens` includes thinking, and
  `reasoning_tokens` is `output_tokens_details.thinking_tokens` when the API sends it. Values in
  `message_delta.usage` replace those of `message_start` when present (as the official SDK does:
  server tools add input tokens during the turn).
- The `FinishChunk` comes right after that `UsageChunk` (`message_stop` only finishes a message
  whose `message_delta` had no `stop_reason`, as ``other``). `pause_turn` (server tools paused
  a long turn; the client sends the response back to let the model continue) is ``pause``;
  stop reasons the decoder does not know are ``other``. An in-stream `error` event gives an
  `ErrorChunk` (kind from the error type, `status` its documented HTTP equivalent); the
  decoder then ignores the rest of the stream.
- A malformed known event (wrong field types, missing keys) is a `WireFormatError`.

Encoding writes what the API sends: `message_start` (deterministic id `msg_agentsim_<hash>`,
model `agentsim-model`), one content block per run of text / thinking chunks and per tool call
(arguments as `input_json_delta` fragments exactly as the chunks split them, after the leading
empty fragment the API sends), a `ping`, `message_delta` with `stop_reason` (none for
``other``) and usage, `message_stop`; payloads compact JSON, LF line endings. Tool-call
arguments that arrive after other chunks go into their call's block, so blocks come out in
order of their first chunk. Chunks after a `FinishChunk` are dropped (except usage: the last
`UsageChunk` anywhere counts); an `ErrorChunk` ends the stream with an `error` event.
`normalize_anthropic` gives exactly what decoding the encoded stream yields.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from agentsim.core._sse_framing import encode_sse
from agentsim.core._usage import Usage
from agentsim.wire._base import SSEJsonDecoder, error_from_status

__all__ = ["AnthropicDecoder", "encode_anthropic", "normalize_anthropic"]

_API = "anthropic"
MODEL = "agentsim-model"

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
}
# `other` has no stop reason of its own: it is written as a `message_delta` without one (the
# stream's `message_stop` then finishes it, as the decoder reads an unknown ending).
_STOP_REASON: dict[FinishReason, str | None] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "other": None,
    "pause": "pause_turn",
}
# The HTTP status Anthropic documents for each error type.
_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_STATUS_ERROR = {status: name for name, status in _ERROR_STATUS.items()}
_KIND_ERROR: dict[ErrorKind, str] = {
    "overloaded": "overloaded_error",
    "rate_limit": "rate_limit_error",
    "server": "api_error",
    "timeout": "timeout_error",
    "invalid_request": "invalid_request_error",
    "auth": "authentication_error",
    "other": "unknown_error",
}


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r:.40}")
    return value


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if type(value) is not str:
        raise TypeError(f"{key} is not a string")
    return value


def _error_chunk(error_type: str, message: str) -> ErrorChunk:
    status = _ERROR_STATUS.get(error_type)
    kind, retryable = error_from_status(status or 0, error_type)
    return ErrorChunk(kind, message, retryable, status)


def _error_type(chunk: ErrorChunk) -> str:
    """The error type the encoder sends for `chunk`: its status's type when that keeps the kind."""
    by_status = _STATUS_ERROR.get(chunk.status) if chunk.status is not None else None
    if by_status is not None and error_from_status(chunk.status or 0, by_status)[0] == chunk.kind:
        return by_status
    return _KIND_ERROR[chunk.kind]


class AnthropicDecoder(SSEJsonDecoder):
    """Incremental decoder of one Anthropic Messages stream body (HTTP 200); `_done` after an
    error event."""

    __slots__ = ("_finished", "_start", "_tools")
    api = _API
    MALFORMED = (KeyError, TypeError, AttributeError, IndexError)

    def __init__(self) -> None:
        super().__init__()
        self._finished = False
        self._tools: dict[int, bool] = {}  # open tool_use block index -> non-empty args seen
        self._start: dict[str, int] = {}  # message_start usage

    def _payload(self, name: str, obj: dict[str, Any], out: list[Chunk]) -> None:
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            delta = obj["delta"]
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                text = _str(delta, "text")
                if text:
                    out.append(TextChunk(text))
            elif delta_type == "input_json_delta":
                index = obj["index"]
                if index in self._tools:
                    fragment = _str(delta, "partial_json")
                    if fragment:
                        self._tools[index] = True
                        out.append(ToolCallArgsChunk(index, fragment))
            elif delta_type == "thinking_delta":
                text = _str(delta, "thinking")
                if text:
                    out.append(ReasoningChunk(text))
            elif delta_type == "signature_delta":
                signature = _str(delta, "signature")
                if signature:
                    out.append(ReasoningChunk("", signature))
            # citations_delta, compaction_delta and unknown deltas: skipped
        elif kind == "error" or name == "error":
            error = obj.get("error")
            if type(error) is dict:
                chunk = _error_chunk(str(error.get("type") or ""), str(error.get("message") or ""))
            else:
                chunk = _error_chunk("", str(error or "error event"))
            out.append(chunk)
            self._done = True
        elif kind == "content_block_start":
            self._block_start(_int(obj["index"]), obj["content_block"], out)
        elif kind == "content_block_stop":
            self._end_tool(obj["index"], out)
        elif kind == "message_start":
            usage = obj["message"].get("usage") or {}
            self._start = {key: value for key, value in usage.items() if type(value) is int}
        elif kind == "message_delta":
            for index in list(self._tools):
                self._end_tool(index, out)
            out.append(UsageChunk(self._usage(obj.get("usage") or {})))
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason is not None and not self._finished:
                self._finished = True
                out.append(FinishChunk(_FINISH.get(str(reason), "other")))
        elif kind == "message_stop" and not self._finished:
            for index in list(self._tools):
                self._end_tool(index, out)
            self._finished = True
            out.append(FinishChunk("other"))
        # ping and unknown events: skipped

    def _block_start(self, index: int, block: dict[str, Any], out: list[Chunk]) -> None:
        block_type = block.get("type")
        if block_type == "tool_use":
            out.append(ToolCallStartChunk(index, _str(block, "id"), _str(block, "name")))
            arguments = block.get("input")
            has_args = type(arguments) is dict and bool(arguments)
            if has_args:
                compact = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
                out.append(ToolCallArgsChunk(index, compact))
            self._tools[index] = has_args
        elif block_type == "text":
            text = _str(block, "text")
            if text:
                out.append(TextChunk(text))
        elif block_type == "thinking":
            text, signature = _str(block, "thinking"), _str(block, "signature")
            if text:
                out.append(ReasoningChunk(text))
            if signature:
                out.append(ReasoningChunk("", signature))
        elif block_type == "redacted_thinking":
            data = _str(block, "data")
            if data:
                out.append(ReasoningChunk("", data))

    def _end_tool(self, index: Any, out: list[Chunk]) -> None:
        has_args = self._tools.pop(index, None)
        if has_args is None:
            return
        if not has_args:
            out.append(ToolCallArgsChunk(index, "{}"))
        out.append(ToolCallEndChunk(index))

    def _usage(self, usage: dict[str, Any]) -> Usage:
        def pick(key: str) -> int:
            value = usage.get(key)
            return self._start.get(key, 0) if value is None else _int(value)

        cache_read = pick("cache_read_input_tokens")
        prompt = pick("input_tokens") + cache_read + pick("cache_creation_input_tokens")
        details = usage.get("output_tokens_details")
        thinking = _int(details.get("thinking_tokens") or 0) if type(details) is dict else 0
        return Usage(prompt, pick("output_tokens"), thinking, cache_read)


# -- encoding -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    kind: str  # "text" | "thinking" | "tool_use"
    pieces: list[str] = field(default_factory=list)
    signature: str | None = None
    call_id: str = ""
    name: str = ""


@dataclass(slots=True)
class _Response:
    blocks: list[_Block]
    usage: Usage | None
    finish: FinishReason | None
    error: ErrorChunk | None


def _layout(chunks: Sequence[Chunk]) -> _Response:
    """The content blocks, usage and end of the message the chunks describe."""
    blocks: list[_Block] = []
    calls: dict[int, _Block] = {}
    usage: Usage | None = None
    finish: FinishReason | None = None
    for chunk in chunks:
        if isinstance(chunk, UsageChunk):
            usage = chunk.usage
        elif finish is not None:
            continue
        elif isinstance(chunk, TextChunk):
            if chunk.text:
                if blocks and blocks[-1].kind == "text":
                    blocks[-1].pieces.append(chunk.text)
                else:
                    blocks.append(_Block("text", [chunk.text]))
        elif isinstance(chunk, ReasoningChunk):
            signature = chunk.signature or None
            if not chunk.text and signature is None:
                continue
            if blocks and blocks[-1].kind == "thinking" and blocks[-1].signature is None:
                block = blocks[-1]
            else:
                block = _Block("thinking")
                blocks.append(block)
            if chunk.text:
                block.pieces.append(chunk.text)
            block.signature = signature
        elif isinstance(chunk, ToolCallStartChunk):
            block = _Block("tool_use", call_id=chunk.call_id, name=chunk.name)
            blocks.append(block)
            calls[chunk.index] = block
        elif isinstance(chunk, ToolCallArgsChunk):
            call = calls.get(chunk.index)
            if call is not None and chunk.delta:
                call.pieces.append(chunk.delta)
        elif isinstance(chunk, ToolCallEndChunk):
            calls.pop(chunk.index, None)
        elif isinstance(chunk, FinishChunk):
            finish = chunk.reason
        else:
            return _Response(blocks, usage, None, chunk)
    return _Response(blocks, usage, finish, None)


def _wire_usage(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    wire: dict[str, Any] = {
        "input_tokens": max(usage.input_tokens - usage.cached_tokens, 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.reasoning_tokens:
        wire["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return wire


def _event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return encode_sse(event=name, data=data)


def _block_events(index: int, block: _Block) -> list[bytes]:
    def delta(body: dict[str, Any]) -> bytes:
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": body}
        )

    if block.kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": piece}) for piece in block.pieces]
    elif block.kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": piece}) for piece in block.pieces]
        if block.signature is not None:
            deltas.append(delta({"type": "signature_delta", "signature": block.signature}))
    else:
        start = {"type": "tool_use", "id": block.call_id, "name": block.name, "input": {}}
        deltas = [
            delta({"type": "input_json_delta", "partial_json": piece})
            for piece in ["", *block.pieces]
        ]
    begin = {"type": "content_block_start", "index": index, "content_block": start}
    stop = {"type": "content_block_stop", "index": index}
    return [_event("content_block_start", begin), *deltas, _event("content_block_stop", stop)]


def _digest(chunks: Sequence[Chunk]) -> str:
    return hashlib.sha256(repr(list(chunks)).encode("utf-8", "surrogatepass")).hexdigest()


def _sign(response: _Response, digest: str) -> None:
    """Give every thinking block without a signature a deterministic one (base64, from the
    chunks' digest and the block's index): the real API always signs thinking, and clients
    that send thinking back (pydantic-ai) treat an unsigned block as plain text."""
    for index, block in enumerate(response.blocks):
        if block.kind == "thinking" and block.signature is None:
            seed = hashlib.sha256(f"agentsim-signature:{digest}:{index}".encode()).digest()
            block.signature = base64.b64encode(seed * 2).decode()


def encode_anthropic(chunks: Sequence[Chunk]) -> bytes:
    """The exact Messages stream the API sends for `chunks` (see the module docstring)."""
    response = _layout(chunks)
    digest = _digest(chunks)
    _sign(response, digest)
    usage = _wire_usage(response.usage)
    start_usage = {**usage, "output_tokens": 1}
    start_usage.pop("output_tokens_details", None)
    message: dict[str, Any] = {
        "id": f"msg_agentsim_{digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    out = [_event("message_start", {"type": "message_start", "message": message})]
    ping = _event("ping", {"type": "ping"})
    for index, block in enumerate(response.blocks):
        events = _block_events(index, block)
        out.extend(events if index else [events[0], ping, *events[1:]])
    if not response.blocks:
        out.append(ping)
    if response.error is not None:
        error = {"type": _error_type(response.error), "message": response.error.message}
        out.append(_event("error", {"type": "error", "error": error}))
    elif response.finish is not None:
        delta = {"stop_reason": _STOP_REASON[response.finish], "stop_sequence": None}
        out.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(_event("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def normalize_anthropic(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The canonical form of `chunks` for this API: `decode(encode_anthropic(chunks))`."""
    response = _layout(chunks)
    _sign(response, _digest(chunks))
    out: list[Chunk] = []
    for index, block in enumerate(response.blocks):
        if block.kind == "text":
            out.extend(TextChunk(piece) for piece in block.pieces)
        elif block.kind == "thinking":
            out.extend(ReasoningChunk(piece) for piece in block.pieces)
            if block.signature is not None:
                out.append(ReasoningChunk("", block.signature))
        else:
            out.append(ToolCallStartChunk(index, block.call_id, block.name))
            pieces = block.pieces or ["{}"]
            out.extend(ToolCallArgsChunk(index, piece) for piece in pieces)
            out.append(ToolCallEndChunk(index))
    if response.error is not None:
        out.append(_error_chunk(_error_type(response.error), response.error.message))
    elif response.finish is not None:
        usage = response.usage or Usage()
        prompt = max(usage.input_tokens, usage.cached_tokens)
        out.append(
            UsageChunk(
                Usage(prompt, usage.output_tokens, usage.reasoning_tokens, usage.cached_tokens)
            )
        )
        out.append(FinishChunk(response.finish))
    return out
