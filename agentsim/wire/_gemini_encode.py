"""Gemini `streamGenerateContent` encoder: chunks to the exact `alt=sse` stream (DESIGN §5).

Encoding writes one `data: <response>\\r\\n\\r\\n` event per part (a bare signature is put on the
text or call part that follows it, as Gemini does), then a last event with `finishReason` and
`usageMetadata` (model version `agentsim-model`). Call arguments must make a JSON object (an
empty buffer is `{}`), otherwise `ValueError`. An `ErrorChunk` becomes Google's pretty-printed
`{"error": {...}}` written outside the SSE framing. `normalize_gemini` gives exactly what
decoding the encoded stream yields.

`thoughtSignature` is base64 on the wire (google-genai reads it as bytes and rejects anything
else), so a signature that is not base64 (a scenario's readable ``sig-weather-1``) is sent as
the base64 of its UTF-8 text, and one that is (a recorded signature) as it is. A response that
thinks but carries no signature at all gets one, deterministic (from the chunks' digest), on
the first part after its thoughts, as Gemini signs the part that follows its thinking and
expects it back with the function call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from agentsim.core._usage import Usage
from agentsim.wire._base import error_from_status
from agentsim.wire._gemini import MODEL, WIRE_FINISH, compact, wire_error

__all__ = ["encode_gemini", "normalize_gemini", "wire_signature"]


# -- encoding -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    n: int
    call_id: str
    name: str
    pieces: list[str] = field(default_factory=list)

    def args(self) -> Any:
        text = "".join(self.pieces)
        value = json.loads(text) if text.strip() else {}
        if type(value) is not dict:
            raise ValueError(f"Gemini function call arguments must be a JSON object: {text[:80]!r}")
        return value


@dataclass(slots=True)
class _Response:
    parts: list[dict[str, Any] | _Call]
    calls: int
    usage: Usage | None
    finish: FinishReason | None
    error: ErrorChunk | None


def _layout(chunks: Sequence[Chunk]) -> _Response:
    """The parts, usage and end of the response the chunks describe."""
    parts: list[dict[str, Any] | _Call] = []
    open_calls: dict[int, _Call] = {}
    usage: Usage | None = None
    finish: FinishReason | None = None
    n = 0
    for chunk in chunks:
        if isinstance(chunk, UsageChunk):
            usage = chunk.usage
        elif finish is not None:
            continue
        elif isinstance(chunk, TextChunk):
            if chunk.text:
                parts.append({"text": chunk.text})
        elif isinstance(chunk, ReasoningChunk):
            part: dict[str, Any] = {"text": chunk.text, "thought": True} if chunk.text else {}
            if chunk.signature:
                part["thoughtSignature"] = wire_signature(chunk.signature)
            if part:
                parts.append(part)
        elif isinstance(chunk, ToolCallStartChunk):
            call = _Call(n, chunk.call_id or f"gemini_call_{n}", chunk.name)
            n += 1
            parts.append(call)
            open_calls[chunk.index] = call
        elif isinstance(chunk, ToolCallArgsChunk):
            if chunk.index in open_calls:
                open_calls[chunk.index].pieces.append(chunk.delta)
        elif isinstance(chunk, ToolCallEndChunk):
            open_calls.pop(chunk.index, None)
        elif isinstance(chunk, FinishChunk):
            finish = chunk.reason
        else:
            return _Response(parts, n, usage, None, chunk)
    return _Response(parts, n, usage, finish, None)


def wire_signature(signature: str) -> str:
    """`signature` as Gemini sends it: itself when it is base64, else the base64 of its text."""
    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64encode(signature.encode("utf-8", "surrogatepass")).decode()
    return signature


def _digest(chunks: Sequence[Chunk]) -> str:
    return hashlib.sha256(repr(list(chunks)).encode("utf-8", "surrogatepass")).hexdigest()


def _sign(response: _Response, digest: str) -> None:
    """A response with thoughts and no signature gets one on the part after its thoughts (a
    bare signature part, which encoding puts on the part that follows), or on its last
    thought when nothing follows."""
    parts = response.parts
    thoughts = [i for i, p in enumerate(parts) if isinstance(p, dict) and p.get("thought")]
    signed = any(isinstance(p, dict) and "thoughtSignature" in p for p in parts)
    if not thoughts or signed:
        return
    seed = hashlib.sha256(f"agentsim-signature:{digest}".encode()).digest()
    signature = base64.b64encode(seed * 2).decode()
    after = thoughts[-1] + 1
    if after < len(parts):
        parts.insert(after, {"thoughtSignature": signature})
    else:
        last = parts[thoughts[-1]]
        assert isinstance(last, dict)
        last["thoughtSignature"] = signature


def encode_gemini(chunks: Sequence[Chunk]) -> bytes:
    """The exact `alt=sse` stream Gemini sends for `chunks` (see the module docstring)."""
    response = _layout(chunks)
    digest = _digest(chunks)
    _sign(response, digest)
    tail = {"modelVersion": MODEL, "responseId": f"agentsim{digest[:16]}"}
    wire_parts: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, _Call):
            call: dict[str, Any] = {"name": part.name, "args": part.args()}
            if part.call_id != f"gemini_call_{part.n}":
                call["id"] = part.call_id
            wire: dict[str, Any] = {"functionCall": call}
        else:
            wire = dict(part)
        previous = wire_parts[-1] if wire_parts else None
        if (
            previous is not None
            and previous.keys() == {"thoughtSignature"}
            and "thoughtSignature" not in wire
            and not wire.get("thought")
        ):
            wire["thoughtSignature"] = wire_parts.pop()["thoughtSignature"]
        wire_parts.append(wire)

    def event(payload: dict[str, Any]) -> bytes:
        return (
            b"data: " + json.dumps({**payload, **tail}, ensure_ascii=False).encode() + b"\r\n\r\n"
        )

    out = [
        event({"candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}]})
        for part in wire_parts
    ]
    if response.error is not None:
        code, status = wire_error(response.error)
        error = {"error": {"code": code, "message": response.error.message, "status": status}}
        out.append(json.dumps(error, indent=2, ensure_ascii=False).encode() + b"\n")
        return b"".join(out)
    last: dict[str, Any] = {}
    if response.finish is not None:
        candidate = {
            "content": {"parts": [{"text": ""}], "role": "model"},
            "finishReason": WIRE_FINISH[response.finish],
            "index": 0,
        }
        last["candidates"] = [candidate]
    if response.usage is not None:
        usage = response.usage
        candidates = max(usage.output_tokens - usage.reasoning_tokens, 0)
        meta: dict[str, int] = {
            "promptTokenCount": usage.input_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": usage.input_tokens + candidates + usage.reasoning_tokens,
        }
        if usage.reasoning_tokens:
            meta["thoughtsTokenCount"] = usage.reasoning_tokens
        if usage.cached_tokens:
            meta["cachedContentTokenCount"] = usage.cached_tokens
        last["usageMetadata"] = meta
    if last:
        out.append(event(last))
    return b"".join(out)


def normalize_gemini(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The canonical form of `chunks` for this API: `decode(encode_gemini(chunks))`."""
    response = _layout(chunks)
    _sign(response, _digest(chunks))
    out: list[Chunk] = []
    for part in response.parts:
        if isinstance(part, _Call):
            out.append(ToolCallStartChunk(part.n, part.call_id, part.name))
            out.append(ToolCallArgsChunk(part.n, compact(part.args())))
            out.append(ToolCallEndChunk(part.n))
        elif "thought" in part:
            out.append(ReasoningChunk(part["text"], part.get("thoughtSignature")))
        elif "text" in part:
            out.append(TextChunk(part["text"]))
        else:
            out.append(ReasoningChunk("", part["thoughtSignature"]))
    if response.error is not None:
        code, status = wire_error(response.error)
        kind, retryable = error_from_status(code, status)
        out.append(ErrorChunk(kind, response.error.message, retryable, code))
        return out
    if response.usage is not None:
        usage = response.usage
        output = max(usage.output_tokens, usage.reasoning_tokens)
        out.append(
            UsageChunk(
                Usage(usage.input_tokens, output, usage.reasoning_tokens, usage.cached_tokens)
            )
        )
    if response.finish is not None:
        finish = response.finish
        if finish in ("stop", "tool_calls"):
            finish = "tool_calls" if response.calls else "stop"
        out.append(FinishChunk("other" if finish == "pause" else finish))
    return out
