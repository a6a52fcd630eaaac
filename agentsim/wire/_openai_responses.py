"""OpenAI Responses streaming wire codec (DESIGN §5): `event: <type>` + `data: {type, …}` events.

Design choices:
- Decoding keys function calls by output item: `response.output_item.added` starts a call, argument
  deltas find it by `item_id` (falling back to `output_index`), and the first of
  `function_call_arguments.done` / `output_item.done` ends it. The `call_id` (what the loop echoes
  back) becomes `ToolCallStartChunk.call_id`; the item `id` stays internal. Chunk indexes are
  allocated 0, 1, 2… in call order, as Chat Completions numbers its calls, so the same chunks
  normalize alike for both APIs.
- A `.done` with full arguments for a call that had no deltas yields them as one args chunk; an
  `output_item.done` for a call never announced yields start, args and end at once.
- A reasoning item's `encrypted_content` is its opaque provider signature: it decodes to
  `ReasoningChunk("", signature=…)` when the item is done (the `added` copy differs and is ignored).
- `response.completed` / `.incomplete` close calls still open (index order), then usage, then the
  finish; `response.failed` gives usage (if any) and an `ErrorChunk`. Nothing after a terminal event
  counts. Unknown event and item types (web search, code interpreter, MCP, …) are skipped.
- The encoder writes the events OpenAI sends (created, in_progress, items with their parts, deltas
  and done events, a terminal event with usage), `sequence_number` counting from 0. An
  `ErrorChunk` becomes `response.failed` (terminal), whose error object has no HTTP status.
  `normalize_openai_responses` gives the canonical form (what `decode(encode(chunks))` yields).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
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
from agentsim.wire._base import SSEJsonDecoder
from agentsim.wire._openai_chat import (
    CREATED,
    ERROR_TYPES,
    MODEL,
    _digest,
    _dumps,
    _int,
    _str,
    error_chunk,
    normalize_error,
)

__all__ = ["OpenAIResponsesDecoder", "encode_openai_responses", "normalize_openai_responses"]

API = "openai-responses"
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class _Call:
    __slots__ = ("ended", "got_args", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.got_args = False
        self.ended = False


def usage_from(usage: dict[str, Any]) -> Usage:
    """Responses `usage`; missing or null fields count 0."""
    inp = usage.get("input_tokens_details") or {}
    out = usage.get("output_tokens_details") or {}
    return Usage(
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(out.get("reasoning_tokens")),
        _int(inp.get("cached_tokens")),
    )


class OpenAIResponsesDecoder(SSEJsonDecoder):
    """Incremental decoder of one Responses streaming body (HTTP 200); `_done` after a terminal
    event (completed, incomplete, failed)."""

    __slots__ = ("_by_output", "_calls", "_order")
    api = API

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[Any, _Call] = {}  # item id -> call
        self._by_output: dict[Any, _Call] = {}  # output_index -> call
        self._order: list[_Call] = []  # every call, in index order

    def _payload(self, event_name: str, payload: dict[str, Any], out: list[Chunk]) -> None:
        self._event(payload, payload.get("type") or event_name, out)

    def _event(self, p: dict[str, Any], kind: Any, out: list[Chunk]) -> None:
        if kind == "response.output_text.delta":
            delta = p.get("delta")
            if delta:
                out.append(TextChunk(_str(delta, "delta")))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = p.get("delta")
            if delta:
                out.append(ReasoningChunk(_str(delta, "delta")))
        elif kind == "response.function_call_arguments.delta":
            call = self._find(p)
            delta = p.get("delta")
            if call is not None and not call.ended and delta:
                call.got_args = True
                out.append(ToolCallArgsChunk(call.index, _str(delta, "delta")))
        elif kind == "response.output_item.added":
            item = p["item"]
            if item.get("type") == "function_call" and (
                item.get("id") is None or item.get("id") not in self._calls
            ):
                self._start(item, p.get("output_index"), out)
        elif kind == "response.function_call_arguments.done":
            call = self._find(p)
            if call is not None:
                self._end(call, p.get("arguments"), out)
        elif kind == "response.output_item.done":
            item = p["item"]
            item_type = item.get("type")
            if item_type == "function_call":
                call = self._calls.get(item.get("id"))
                if call is None:
                    call = self._start(item, p.get("output_index"), out)
                self._end(call, item.get("arguments"), out)
            elif item_type == "reasoning":
                signature = item.get("encrypted_content")
                if signature is not None:
                    out.append(ReasoningChunk("", _str(signature, "encrypted_content")))
        elif kind in _TERMINAL:
            self._terminal(kind, p.get("response") or {}, out)
        elif kind == "error":
            error = p.get("error")
            out.append(error_chunk(error if isinstance(error, dict) else _error_fields(p)))

    def _find(self, p: dict[str, Any]) -> _Call | None:
        return self._calls.get(p.get("item_id")) or self._by_output.get(p.get("output_index"))

    def _start(self, item: dict[str, Any], output_index: Any, out: list[Chunk]) -> _Call:
        call = _Call(len(self._order))
        self._order.append(call)
        item_id = item.get("id")
        if item_id is not None:
            self._calls[item_id] = call
        if output_index is not None:
            self._by_output[output_index] = call
        call_id = item.get("call_id")
        call_id = _str(item.get("id") if call_id is None else call_id, "call_id")
        out.append(ToolCallStartChunk(call.index, call_id, _str(item.get("name"), "name")))
        return call

    @staticmethod
    def _end(call: _Call, arguments: Any, out: list[Chunk]) -> None:
        if call.ended:
            return
        call.ended = True
        if not call.got_args and arguments:
            call.got_args = True
            out.append(ToolCallArgsChunk(call.index, _str(arguments, "arguments")))
        out.append(ToolCallEndChunk(call.index))

    def _terminal(self, kind: str, response: dict[str, Any], out: list[Chunk]) -> None:
        self._done = True
        if kind != "response.failed":
            for call in self._order:
                self._end(call, None, out)
        usage = response.get("usage")
        if usage:
            out.append(UsageChunk(usage_from(usage)))
        if kind == "response.failed":
            out.append(error_chunk(response.get("error") or {"message": "the response failed"}))
            return
        reason: FinishReason = "tool_calls" if self._order else "stop"
        if kind == "response.incomplete":
            details = response.get("incomplete_details") or {}
            filtered = "content_filter" in str(details.get("reason"))
            reason = "content_filter" if filtered else "length"
        out.append(FinishChunk(reason))


def _error_fields(p: dict[str, Any]) -> dict[str, Any]:
    return {"message": p.get("message"), "code": p.get("code")}


# -- encoding --------------------------------------------------------------------------------------


class _Item:
    """An output item being streamed: a message, a reasoning item or a function call."""

    __slots__ = ("fields", "id", "index", "parts", "signature")

    def __init__(self, id_: str, index: int, fields: dict[str, Any]) -> None:
        self.id = id_
        self.index = index  # output_index
        self.fields = fields
        self.parts: list[str] = []  # text deltas or argument fragments so far
        self.signature: str | None = None


class _Encoder:
    """Builds the event stream; one instance per `encode_openai_responses` call."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        digest = _digest(chunks)
        self.prefix = digest[:40]
        self.response_id = "resp_" + digest[16:64]
        self.usage = next((c.usage for c in reversed(chunks) if isinstance(c, UsageChunk)), None)
        self.parts: list[bytes] = []
        self.seq = 0
        self.items = 0
        self.outputs: dict[int, dict[str, Any]] = {}  # output_index -> item when done
        self.current: _Item | None = None  # the open message / reasoning item
        self.calls: dict[int, _Item] = {}  # chunk index -> latest function call with it
        self.open_calls: list[_Item] = []

    def emit(self, type_: str, **fields: Any) -> None:
        payload = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        self.parts.append(encode_sse(event=type_, data=_dumps(payload)))

    def response(self, status: str, **fields: Any) -> dict[str, Any]:
        final = status != "in_progress"
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "background": False,
            "error": fields.get("error"),
            "incomplete_details": fields.get("incomplete_details"),
            "instructions": None,
            "max_output_tokens": None,
            "model": MODEL,
            "output": [self.outputs[i] for i in sorted(self.outputs)] if final else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _usage_json(self.usage) if self.usage is not None and final else None,
            "user": None,
            "metadata": {},
        }

    def new_item(self, prefix: str, fields: dict[str, Any]) -> _Item:
        item = _Item(f"{prefix}_{self.prefix}{self.items:08x}", self.items, fields)
        self.items += 1
        added = {"id": item.id, **fields}
        self.emit("response.output_item.added", output_index=item.index, item=added)
        return item

    def done(self, item: _Item, fields: dict[str, Any]) -> None:
        done = {"id": item.id, **fields}
        self.emit("response.output_item.done", output_index=item.index, item=done)
        self.outputs[item.index] = done

    def open_text(self, kind: str) -> _Item:
        if self.current is not None and self.current.fields["type"] == kind:
            return self.current
        self.close_text()
        if kind == "message":
            fields = {
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
            item = self.new_item("msg", fields)
            self.emit(
                "response.content_part.added",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            )
        else:
            item = self.new_item("rs", {"type": "reasoning", "summary": []})
        self.current = item
        return item

    def close_text(self) -> None:
        item = self.current
        if item is None:
            return
        self.current = None
        ids = {"item_id": item.id, "output_index": item.index}
        text = "".join(item.parts)
        if item.fields["type"] == "message":
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            self.emit("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            self.emit("response.content_part.done", **ids, content_index=0, part=part)
            self.done(item, {**item.fields, "status": "completed", "content": [part]})
            return
        summary = []
        if item.parts:
            part = {"type": "summary_text", "text": text}
            self.emit("response.reasoning_summary_text.done", **ids, summary_index=0, text=text)
            self.emit("response.reasoning_summary_part.done", **ids, summary_index=0, part=part)
            summary = [part]
        fields: dict[str, Any] = {"type": "reasoning", "summary": summary}
        if item.signature is not None:
            fields["encrypted_content"] = item.signature
        self.done(item, fields)

    def text_delta(self, kind: str, delta: str) -> None:
        item = self.open_text(kind)
        ids = {"item_id": item.id, "output_index": item.index}
        if kind == "message":
            self.emit(
                "response.output_text.delta", **ids, content_index=0, delta=delta, logprobs=[]
            )
        else:
            if not item.parts:
                part = {"type": "summary_text", "text": ""}
                self.emit(
                    "response.reasoning_summary_part.added", **ids, summary_index=0, part=part
                )
            self.emit("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=delta)
        item.parts.append(delta)

    def signature(self, signature: str) -> None:
        self.open_text("reasoning").signature = signature
        self.close_text()

    def start_call(self, chunk: ToolCallStartChunk) -> None:
        self.close_text()
        fields = {
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": chunk.call_id,
            "name": chunk.name,
        }
        item = self.new_item("fc", fields)
        self.calls[chunk.index] = item
        self.open_calls.append(item)

    def open_call(self, index: int) -> _Item | None:
        item = self.calls.get(index)
        return item if item is not None and item in self.open_calls else None

    def call_delta(self, item: _Item, delta: str) -> None:
        ids = {"item_id": item.id, "output_index": item.index}
        self.emit("response.function_call_arguments.delta", **ids, delta=delta)
        item.parts.append(delta)

    def end_call(self, item: _Item) -> None:
        self.open_calls.remove(item)
        arguments = "".join(item.parts)
        ids = {"item_id": item.id, "output_index": item.index}
        self.emit("response.function_call_arguments.done", **ids, arguments=arguments)
        self.done(item, {**item.fields, "status": "completed", "arguments": arguments})


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def encode_openai_responses(chunks: Sequence[Chunk]) -> bytes:
    """The Responses stream OpenAI would send for `chunks` (deterministic bytes)."""
    enc = _Encoder(chunks)
    enc.emit("response.created", response=enc.response("in_progress"))
    enc.emit("response.in_progress", response=enc.response("in_progress"))
    for chunk in chunks:
        if isinstance(chunk, TextChunk):
            if chunk.text:
                enc.text_delta("message", chunk.text)
        elif isinstance(chunk, ReasoningChunk):
            if chunk.text:
                enc.text_delta("reasoning", chunk.text)
            if chunk.signature is not None:
                enc.signature(chunk.signature)
        elif isinstance(chunk, ToolCallStartChunk):
            enc.start_call(chunk)
        elif isinstance(chunk, ToolCallArgsChunk):
            item = enc.open_call(chunk.index)
            if chunk.delta and item is not None:
                enc.call_delta(item, chunk.delta)
        elif isinstance(chunk, ToolCallEndChunk):
            item = enc.open_call(chunk.index)
            if item is not None:
                enc.end_call(item)
        elif isinstance(chunk, FinishChunk):
            enc.close_text()
            for item in list(enc.open_calls):
                enc.end_call(item)
            if chunk.reason in ("length", "content_filter"):
                reason = "max_output_tokens" if chunk.reason == "length" else "content_filter"
                response = enc.response("incomplete", incomplete_details={"reason": reason})
                enc.emit("response.incomplete", response=response)
            else:
                enc.emit("response.completed", response=enc.response("completed"))
            break
        elif isinstance(chunk, ErrorChunk):
            error = {"code": ERROR_TYPES[chunk.kind] or None, "message": chunk.message}
            enc.emit("response.failed", response=enc.response("failed", error=error))
            break
    return b"".join(enc.parts)


def normalize_openai_responses(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The canonical form of `chunks` for Responses: what `decode(encode(chunks))` gives.

    Empty deltas vanish; a signature becomes its own `ReasoningChunk("", signature)` (it closes a
    reasoning item); tool-call indexes become 0, 1, 2… in start order; nothing after the first
    finish or error survives; the last usage anywhere goes right before that terminal chunk, and
    calls still open are ended before a finish; a finish other than length / content_filter is
    "tool_calls" if the response has calls, else "stop"; an error loses its HTTP status (the
    Responses error object has none) and takes the kind and retryability its code maps back to.
    """
    usage = next((c for c in reversed(chunks) if isinstance(c, UsageChunk)), None)
    out: list[Chunk] = []
    index: dict[int, int] = {}  # chunk index -> canonical index (0, 1, 2… in start order)
    started = 0
    ended: set[int] = set()
    for chunk in chunks:
        if isinstance(chunk, TextChunk):
            if chunk.text:
                out.append(chunk)
        elif isinstance(chunk, ReasoningChunk):
            if chunk.text:
                out.append(ReasoningChunk(chunk.text))
            if chunk.signature is not None:
                out.append(ReasoningChunk("", chunk.signature))
        elif isinstance(chunk, ToolCallStartChunk):
            index[chunk.index] = started
            out.append(ToolCallStartChunk(started, chunk.call_id, chunk.name))
            started += 1
        elif isinstance(chunk, ToolCallArgsChunk):
            n = index.get(chunk.index)
            if chunk.delta and n is not None and n not in ended:
                out.append(ToolCallArgsChunk(n, chunk.delta))
        elif isinstance(chunk, ToolCallEndChunk):
            n = index.get(chunk.index)
            if n is not None and n not in ended:
                ended.add(n)
                out.append(ToolCallEndChunk(n))
        elif isinstance(chunk, FinishChunk):
            out.extend(ToolCallEndChunk(n) for n in range(started) if n not in ended)
            if usage is not None:
                out.append(usage)
            reason = chunk.reason
            if reason not in ("length", "content_filter"):
                reason = "tool_calls" if started else "stop"
            out.append(FinishChunk(reason))
            break
        elif isinstance(chunk, ErrorChunk):
            if usage is not None:
                out.append(usage)
            out.append(normalize_error(chunk, keep_status=False))
            break
    return out
