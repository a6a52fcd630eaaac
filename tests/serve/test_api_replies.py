"""The pure parts of serving: replies (stream bytes and timing, whole JSON answers, error bodies)
and the translation of each API's request body into agentsim messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentsim import (
    ERROR_KINDS,
    AssistantMessage,
    ErrorChunk,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    TextChunk,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
    load_scenario,
)
from agentsim.core._chunks import ErrorKind
from agentsim.scenario._script import compile_request
from agentsim.serve._api_replies import _timeline, error_body, scripted_reply, whole_json
from agentsim.serve._api_requests import Rejection, parse_call, request_messages
from agentsim.wire import API_NAMES, ApiName, decoder_for, encode_stream

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
SCRIPTS = [
    (f"{path.stem}#{n}", compile_request(request, n + 1))
    for path in SCENARIOS
    for n, request in enumerate(load_scenario(path).requests)
]


@pytest.mark.parametrize("api", API_NAMES)
def test_streams_are_the_codec_bytes_each_event_sent_when_its_chunks_are_due(api: ApiName) -> None:
    checked = 0
    for name, items in SCRIPTS:
        chunks, times, _ = _timeline(items)
        try:
            reply = scripted_reply(api, items, stream=True)
        except ValueError:
            continue  # arguments Gemini cannot carry (not a JSON object)
        if reply.status != 200:
            continue  # an HTTP error answer
        checked += 1
        offsets = [at for at, _ in reply.pieces]
        assert offsets == sorted(offsets), name
        assert b"".join(p for _, p in reply.pieces) == encode_stream(api, chunks), name
        assert not offsets or offsets[-1] <= max(times, default=0.0), name
        # Every text delta arrives no earlier than scripted; in order, with its exact text.
        decoder = decoder_for(api)
        arrived = [(at, c) for at, p in reply.pieces for c in decoder.feed(p)]
        texts = [(at, c.text) for at, c in arrived if isinstance(c, TextChunk)]
        scripted = [(t, c.text) for t, c in zip(times, chunks, strict=True) if type(c) is TextChunk]
        assert [t for _, t in texts] == [t for _, t in scripted if t], name
        for (at, _), (due, _) in zip(texts, [s for s in scripted if s[1]], strict=True):
            assert at >= due, name
            if api == "openai-chat":
                assert at == due, name  # Chat moves no content: exactly on time
    assert checked > 40


def test_event_offsets_follow_the_script() -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios/tool_call_then_answer.yaml")
    items = compile_request(scenario.requests[0], 1)
    reply = scripted_reply("anthropic", items, stream=True)
    names = [(at, piece.split(b"\n")[0].decode()) for at, piece in reply.pieces]
    assert names[0] == (0.0, "event: message_start")
    thinking = [at for at, piece in reply.pieces if b"thinking_delta" in piece]
    assert thinking == [0.4] * 5
    arguments = [at for at, piece in reply.pieces if b'"partial_json":"{' in piece]
    assert arguments == [pytest.approx(0.6)]
    assert names[-1][1] == "event: message_stop"
    assert names[-1][0] == pytest.approx(0.6)


def _openai() -> Any:
    return pytest.importorskip("openai")


def test_whole_answers_validate_against_the_sdks_models() -> None:
    openai = _openai()
    anthropic = pytest.importorskip("anthropic")
    genai = pytest.importorskip("google.genai")
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios/tool_call_then_answer.yaml")
    chunks, _, _ = _timeline(compile_request(scenario.requests[0], 1))
    chat = openai.types.chat.ChatCompletion.model_validate(whole_json("openai-chat", chunks))
    call = chat.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_weather_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert chat.choices[0].finish_reason == "tool_calls"
    responses = openai.types.responses.Response.model_validate(
        whole_json("openai-responses", chunks)
    )
    assert [o.type for o in responses.output] == ["reasoning", "function_call"]
    message = anthropic.types.Message.model_validate(whole_json("anthropic", chunks))
    assert message.content[1].input == {"city": "Paris"}
    assert message.usage.output_tokens == 31
    gemini = genai.types.GenerateContentResponse.model_validate(whole_json("gemini", chunks))
    parts = gemini.candidates[0].content.parts
    assert parts[0].thought
    assert parts[0].text.startswith("The user wants")
    assert parts[1].function_call.args == {"city": "Paris"}


@pytest.mark.parametrize("api", API_NAMES)
@pytest.mark.parametrize("kind", [k for k in ERROR_KINDS if k != "other"])
def test_error_bodies_decode_back_to_their_kind(api: ApiName, kind: ErrorKind) -> None:
    status, body = error_body(api, ErrorChunk(kind, "It broke"))
    decoder = decoder_for(api, status=status)
    [chunk] = decoder.feed(body) + decoder.close()
    assert isinstance(chunk, ErrorChunk)
    assert (chunk.kind, chunk.message, chunk.status) == (kind, "It broke", status)


def test_an_error_before_any_output_with_a_status_is_an_http_error() -> None:
    error = ErrorChunk("rate_limit", "slow down", True, 429)
    assert scripted_reply("openai-chat", [error], stream=True).status == 429
    assert scripted_reply("openai-chat", [TextChunk("a"), error], stream=True).status == 200
    no_status = ErrorChunk("rate_limit", "slow down", True)
    assert scripted_reply("anthropic", [no_status], stream=True).status == 200
    assert scripted_reply("anthropic", [no_status], stream=False).status == 429


CALL = ToolCallBlock("c1", "get_weather", '{"city":"Paris"}')
EXPECTED_HISTORY = (
    SystemMessage("sys"),
    UserMessage("hi"),
    AssistantMessage((ReasoningBlock("hmm"), TextBlock("Let me see."), CALL)),
    ToolResultMessage("c1", "sunny"),
)
BODIES: dict[str, dict[str, Any]] = {
    "openai-chat": {
        "messages": [
            {"role": "developer", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "reasoning_content": "hmm",
                "content": "Let me see.",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
    },
    "openai-responses": {
        "instructions": "sys",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}]},
            {"type": "message", "role": "assistant", "content": [{"text": "Let me see."}]},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "get_weather"}],
    },
    "anthropic": {
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Let me see."},
                    {
                        "type": "tool_use",
                        "id": "c1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "c1",
                        "content": [{"type": "text", "text": "sunny"}],
                    }
                ],
            },
        ],
        "tools": [{"name": "get_weather", "input_schema": {}}],
    },
    "gemini": {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "hmm", "thought": True},
                    {"text": "Let me see."},
                    {
                        "functionCall": {
                            "id": "c1",
                            "name": "get_weather",
                            "args": {"city": "Paris"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "c1", "name": "get_weather", "response": "sunny"}}
                ],
            },
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather"}]}],
    },
}


@pytest.mark.parametrize("api", API_NAMES)
def test_each_apis_request_becomes_the_same_history(api: ApiName) -> None:
    messages, tools = request_messages(api, BODIES[api])
    assert messages == EXPECTED_HISTORY
    assert [t.name for t in tools] == ["get_weather"]


def test_routing_and_validation() -> None:
    gemini = parse_call(
        "POST", "/v1beta/models/gem-1:streamGenerateContent?alt=sse", b'{"contents":[]}'
    )
    assert (gemini.api, gemini.model, gemini.stream, gemini.array) == (
        "gemini",
        "gem-1",
        True,
        False,
    )
    array = parse_call("POST", "/v1beta/models/gem-1:streamGenerateContent", b'{"contents":[]}')
    assert array.array
    chat = parse_call(
        "POST", "/proxy/v1/chat/completions", json.dumps({"model": "m", "messages": []}).encode()
    )
    assert (chat.api, chat.stream) == ("openai-chat", False)
    for target, body, status, message in [
        ("/v1/responses/resp_1", b"{}", 404, "Invalid URL"),
        ("/v1/messages", b'{"model": "m", "messages": []}', 400, "max_tokens: Field required"),
        (
            "/v1/messages",
            b'{"model": 3, "messages": [], "max_tokens": 1}',
            400,
            "model: invalid type",
        ),
        ("/v1/chat/completions", b'{"model": " ", "messages": []}', 400, "must not be empty"),
        ("/v1/responses", b"", 400, "JSON object"),
        ("/v1/chat/completions", b"[" * 100_000, 400, "nested too deeply"),
    ]:
        with pytest.raises(Rejection, match=message) as raised:
            parse_call("POST", target, body)
        assert raised.value.status == status
