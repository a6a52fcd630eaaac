"""Gemini's `thoughtSignature` is base64 on the wire: a scenario's readable signature is sent as
base64 (google-genai rejects anything else, while the server would report PASS), a recorded one
as it is, and a response that thinks without one gets a deterministic one on the part after its
thoughts. `cassettes/gemini.yaml` plays under plain vcrpy with google-genai's default API
version (v1)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from agentsim import (
    Chunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
)
from agentsim.wire._gemini_encode import encode_gemini, normalize_gemini, wire_signature
from agentsim.wire._registry import decoder_for

ROOT = Path(__file__).resolve().parents[2]
RECORDED = "EpIDCo8DAQw51scLr2Vx+/Qa"  # the shape of a real one (base64)


def parts(body: bytes) -> list[dict[str, object]]:
    out = []
    for event in body.split(b"\r\n\r\n"):
        if event.startswith(b"data: "):
            payload = json.loads(event[6:])
            for candidate in payload.get("candidates", []):
                out += candidate["content"]["parts"]
    return out


def decoded(body: bytes) -> list[Chunk]:
    decoder = decoder_for("gemini")
    return decoder.feed(body) + decoder.close()


def genai_parts(body: bytes) -> list[object]:
    types = pytest.importorskip("google.genai.types", reason="google-genai checks what it reads")
    out = []
    for event in body.split(b"\r\n\r\n"):
        if event.startswith(b"data: "):
            response = types.GenerateContentResponse.model_validate_json(event[6:])
            for candidate in response.candidates or []:
                out += candidate.content.parts
    return out


def test_a_readable_scenario_signature_is_sent_as_base64_that_google_genai_accepts() -> None:
    chunks: list[Chunk] = [
        ReasoningChunk("think", "sig-weather-1"),
        TextChunk("hi"),
        FinishChunk("stop"),
    ]
    body = encode_gemini(chunks)
    [signed] = [p for p in parts(body) if "thoughtSignature" in p]
    assert signed["thoughtSignature"] == base64.b64encode(b"sig-weather-1").decode()
    [sdk] = [p for p in genai_parts(body) if p.thought_signature]  # type: ignore[attr-defined]
    assert sdk.thought_signature == b"sig-weather-1"  # type: ignore[attr-defined]
    assert decoded(body) == normalize_gemini(chunks)


def test_a_recorded_base64_signature_is_sent_as_it_is() -> None:
    assert wire_signature(RECORDED) == RECORDED
    chunks: list[Chunk] = [ReasoningChunk("", RECORDED), TextChunk("hi"), FinishChunk("stop")]
    assert [p.get("thoughtSignature") for p in parts(encode_gemini(chunks))] == [RECORDED, None]
    assert decoded(encode_gemini(chunks)) == normalize_gemini(chunks)


def test_thinking_without_a_signature_gets_a_deterministic_one_on_the_next_part() -> None:
    chunks: list[Chunk] = [
        ReasoningChunk("I should look it up."),
        ToolCallStartChunk(0, "call_1", "get_weather"),
        ToolCallArgsChunk(0, '{"city": "Paris"}'),
        ToolCallEndChunk(0),
        FinishChunk("tool_calls"),
    ]
    body = encode_gemini(chunks)
    wire = parts(body)
    assert "thoughtSignature" not in wire[0]
    assert "functionCall" in wire[1]
    signature = wire[1]["thoughtSignature"]
    assert isinstance(signature, str)
    assert base64.b64decode(signature, validate=True)
    assert encode_gemini(chunks) == body  # the same chunks give the same bytes
    other = [ReasoningChunk("Something else."), *chunks[1:]]
    assert parts(encode_gemini(other))[1]["thoughtSignature"] != signature
    assert decoded(body) == normalize_gemini(chunks)
    assert any(p.thought_signature for p in genai_parts(body))  # type: ignore[attr-defined]
    only_thoughts: list[Chunk] = [ReasoningChunk("hmm"), FinishChunk("stop")]
    assert "thoughtSignature" in parts(encode_gemini(only_thoughts))[0]
    no_thoughts: list[Chunk] = [TextChunk("hi"), FinishChunk("stop")]
    assert all("thoughtSignature" not in p for p in parts(encode_gemini(no_thoughts)))


def test_the_gemini_cassette_plays_under_plain_vcrpy_with_google_genais_defaults() -> None:
    vcr = pytest.importorskip("vcr", reason="vcrpy is a test-only check of compatibility")
    genai = pytest.importorskip("google.genai", reason="google-genai is the client checked")
    question = "What's the weather in Paris right now?"
    with vcr.use_cassette(str(ROOT / "cassettes" / "gemini.yaml"), record_mode="none") as played:
        client = genai.Client(api_key="test-key")  # the default API version, no http_options
        answers = [
            [
                part
                for response in client.models.generate_content_stream(
                    model="gemini-2.5-flash", contents=question
                )
                for part in (response.candidates[0].content.parts if response.candidates else [])
            ]
            for _ in range(2)
        ]
        assert played.all_played
    first, second = answers
    assert [p.thought_signature for p in first if p.thought_signature] == [b"sig-weather-1"]
    assert [p.function_call.name for p in first if p.function_call] == ["get_weather"]
    assert "".join(p.text or "" for p in second).startswith("It is 18 °C and sunny in Paris")
