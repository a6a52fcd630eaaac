"""OpenAI Chat Completions streams its usage chunk (``choices: []`` and ``usage``) only when the
request asks for it with ``stream_options.include_usage``, as the real API does; the other APIs
always stream their usage, and a whole (non-streaming) answer always has it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentsim.scenario._schema import parse_scenario
from agentsim.serve import ScenarioPlayback

SCENARIO = {
    "input": "hi",
    "requests": [
        {
            "chunks": [
                {"text": "hello"},
                {"usage": {"input_tokens": 5, "output_tokens": 2}},
                {"finish": "stop"},
            ]
        }
    ],
}


def _events(body: dict[str, Any]) -> list[Any]:
    playback = ScenarioPlayback(parse_scenario(SCENARIO))
    reply = playback.answer("POST", "/v1/chat/completions", json.dumps(body).encode())
    assert reply.status == 200
    text = b"".join(piece for _, piece in reply.pieces).decode()
    if not body.get("stream"):
        return [json.loads(text)]
    return [
        json.loads(line[6:])
        for line in text.split("\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def _ask(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_the_usage_chunk_comes_only_when_the_request_asks_for_it() -> None:
    asked = _events(_ask(stream=True, stream_options={"include_usage": True}))
    assert asked[-1]["choices"] == []
    assert asked[-1]["usage"]["prompt_tokens"] == 5
    assert all("usage" in e for e in asked)  # every chunk says usage: null until then
    for body in (
        _ask(stream=True),
        _ask(stream=True, stream_options={"include_usage": False}),
        _ask(stream=True, stream_options={}),
    ):
        events = _events(body)
        assert all(e["choices"] for e in events)
        assert all(e.get("usage") is None for e in events)
        assert "usage" not in events[0]  # the real API leaves the key out when not asked
        assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == "hello"
    [whole] = _events(_ask())
    assert whole["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/v1/messages", {"model": "m", "max_tokens": 9, "stream": True, "messages": []}),
        ("/v1/responses", {"model": "m", "stream": True, "input": "hi"}),
    ],
)
def test_other_apis_always_stream_their_usage(target: str, body: dict[str, Any]) -> None:
    playback = ScenarioPlayback(parse_scenario(SCENARIO))
    reply = playback.answer("POST", target, json.dumps(body).encode())
    text = b"".join(piece for _, piece in reply.pieces).decode()
    assert '"output_tokens": 2' in text or '"output_tokens":2' in text
