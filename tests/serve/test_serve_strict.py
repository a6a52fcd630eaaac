"""``agentsim serve --strict``: a request that fails its scenario check is answered at once with the
API's own 400 (the SDK raises its BadRequestError), instead of streaming the scripted answer and
reporting the mismatch at the end; a request that passes is served as always."""

from __future__ import annotations

import argparse

import openai
import pytest

from agentsim.cli._serve import add_serve_commands
from agentsim.scenario._schema import parse_scenario
from agentsim.serve import ScenarioPlayback, serve_scenario

SCENARIO = parse_scenario(
    {
        "input": "hi",
        "requests": [
            {
                "expect": {"messages": 1, "last_role": "user", "contains": "weather"},
                "chunks": [{"text": "sunny"}, {"finish": "stop"}],
            }
        ],
    }
)


def _ask(base: str, question: str) -> str:
    client = openai.OpenAI(base_url=base + "/v1", api_key="test", max_retries=0)
    stream = client.chat.completions.create(
        model="m", stream=True, messages=[{"role": "user", "content": question}]
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_strict_answers_a_failing_request_with_the_apis_400() -> None:
    with serve_scenario(SCENARIO, strict=True, speed=100) as server:
        with pytest.raises(openai.BadRequestError) as caught:
            _ask(server.url, "what time is it?")
        assert caught.value.status_code == 400
        assert "fails its scenario check" in str(caught.value)
        assert "weather" in str(caught.value)  # what was expected
        assert caught.value.code == "agentsim_request_check"
    assert not server.playback.passed  # and the report says so too
    assert any("weather" in p for p in server.playback.problems)


def test_strict_serves_a_request_that_passes_and_lenient_serves_both() -> None:
    with serve_scenario(SCENARIO, strict=True, speed=100) as server:
        assert _ask(server.url, "the weather?") == "sunny"
    assert server.playback.passed
    with serve_scenario(SCENARIO, speed=100) as server:  # the default: served, reported later
        assert _ask(server.url, "what time is it?") == "sunny"
    assert not server.playback.passed


def test_the_cli_flag_reaches_the_playback() -> None:
    parser = argparse.ArgumentParser()
    add_serve_commands(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["serve", "s.yaml", "--strict"]).strict is True
    assert parser.parse_args(["serve", "s.yaml"]).strict is False
    assert ScenarioPlayback(SCENARIO, strict=True).strict
