"""Conformance: the official openai, anthropic and google-genai SDKs, unmodified, run a two-step
tool-calling conversation against `agentsim serve` (on loopback) and against the in-process
transport (on virtual time), streamed and not, and accumulate exactly the scenario's text, tool
calls and usage; the scenario's request checks hold for what each SDK sends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentsim import UserMessage, VirtualEventLoop
from agentsim.serve._server import ScenarioServer, serve_scenario
from agentsim.serve._transport import ScenarioTransport

from ._sdk_conversations import CONVERSATIONS, EXPECTED, SCRIPTED_DELAY, scenario

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")

CASES = [(api, stream) for api in CONVERSATIONS for stream in (True, False)]
IDS = [f"{api}-{'stream' if stream else 'whole'}" for api, stream in CASES]


@pytest.mark.parametrize(("api", "stream"), CASES, ids=IDS)
def test_sdk_against_the_server(api: str, stream: bool) -> None:
    async def main() -> list[Any]:
        async with (
            ScenarioServer(scenario(), speed=20) as server,
            httpx2.AsyncClient(timeout=10) as http,
        ):
            turns = await CONVERSATIONS[api](server.url, http, stream=stream)
        assert server.playback.passed, server.playback.report()
        assert [call.api for call in server.playback.calls] == [api, api]
        return turns

    assert asyncio.run(main()) == EXPECTED


@pytest.mark.parametrize(("api", "stream"), CASES, ids=IDS)
def test_sdk_against_the_transport_on_virtual_time(api: str, stream: bool) -> None:
    transport = ScenarioTransport(scenario())

    async def main() -> tuple[list[Any], float]:
        async with httpx2.AsyncClient(transport=transport) as http:
            turns = await CONVERSATIONS[api]("http://agentsim.test", http, stream=stream)
        return turns, asyncio.get_running_loop().time()

    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        turns, elapsed = runner.run(main())
    assert turns == EXPECTED
    assert transport.playback.passed, transport.playback.report()
    assert elapsed == pytest.approx(SCRIPTED_DELAY)  # exactly the script's time, virtually


def test_server_plays_the_scripted_delays_in_real_time_scaled_by_speed() -> None:
    async def main() -> float:
        async with ScenarioServer(scenario(), speed=2) as server, httpx2.AsyncClient() as http:
            start = asyncio.get_running_loop().time()
            await CONVERSATIONS["openai-chat"](server.url, http, stream=True)
            return asyncio.get_running_loop().time() - start

    elapsed = asyncio.run(main())
    assert SCRIPTED_DELAY / 2 <= elapsed < SCRIPTED_DELAY / 2 + 2.0


def test_sync_sdk_clients_against_the_threaded_server_and_the_sync_transport() -> None:
    import openai

    def ask(client: Any) -> tuple[str, list[str]]:
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        stream = client.chat.completions.create(model="m", messages=messages, stream=True)
        text, names = "", []
        for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                names += [c.function.name for c in choice.delta.tool_calls or [] if c.function.name]
        return text, names

    with serve_scenario(scenario(), speed=50) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)
        assert ask(client) == ("Let me check the wéather.", ["get_weather"])
        client.close()
    transport = ScenarioTransport(scenario())
    http = httpx2.Client(transport=transport)
    client = openai.OpenAI(api_key="sk-test", base_url="http://agentsim.test/v1", http_client=http)
    assert ask(client) == ("Let me check the wéather.", ["get_weather"])
    question = UserMessage("What is the weather in Paris?")
    assert transport.playback.requests[0].messages[-1] == question
