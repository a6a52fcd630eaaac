"""Anthropic thinking blocks always carry a signature on the wire: the scenario's, else a
deterministic one (the real API signs every thinking block; pydantic-ai sends an unsigned one
back as a user message)."""

from __future__ import annotations

import base64

from agentsim import Chunk, FinishChunk, ReasoningChunk, TextChunk
from agentsim.wire._anthropic import encode_anthropic, normalize_anthropic
from agentsim.wire._registry import decoder_for


def signatures(body: bytes) -> list[str]:
    decoder = decoder_for("anthropic")
    chunks = decoder.feed(body) + decoder.close()
    return [c.signature for c in chunks if isinstance(c, ReasoningChunk) and c.signature]


def test_an_unsigned_thinking_block_gets_a_deterministic_base64_signature() -> None:
    chunks: list[Chunk] = [ReasoningChunk("hmm"), TextChunk("hi"), FinishChunk("stop")]
    [signature] = signatures(encode_anthropic(chunks))
    assert base64.b64decode(signature, validate=True)
    assert signatures(encode_anthropic(chunks)) == [signature]  # same chunks, same bytes
    other: list[Chunk] = [ReasoningChunk("other"), TextChunk("hi"), FinishChunk("stop")]
    assert signatures(encode_anthropic(other)) != [signature]
    normalized = normalize_anthropic(chunks)
    assert ReasoningChunk("", signature) in normalized


def test_a_scenario_signature_is_kept() -> None:
    chunks: list[Chunk] = [ReasoningChunk("hmm"), ReasoningChunk("", "sig-1"), FinishChunk("stop")]
    assert signatures(encode_anthropic(chunks)) == ["sig-1"]
