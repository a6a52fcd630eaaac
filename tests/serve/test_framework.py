"""A real third-party agent framework, unmodified, against `agentsim serve`: pydantic-ai's agent
(over the official openai SDK) completes a multi-step tool-calling run, streamed and not, and the
scenario checks every request it sends.

`Agent.run_stream` is not used for the streamed run: it ends the run at the first text it sees
(by design, for str output), and step 1 here says something before calling its tool. `Agent.run`
with an `event_stream_handler` streams every model request and runs the whole loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentsim import parse_scenario
from agentsim.serve._server import ScenarioServer

httpx2 = pytest.importorskip("httpx2")
pydantic_ai = pytest.importorskip("pydantic_ai")
pytest.importorskip("pydantic_ai.models.openai")

SCENARIO = parse_scenario(
    {
        "description": "Three steps: weather in Paris, then in London, then the comparison.",
        "input": "Is Paris warmer than London?",
        "tools": {"get_weather": {"results": ["Paris: 21 C", "London: 14 C"]}},
        "requests": [
            {
                "expect": {"last_role": "user", "tools": ["get_weather"], "contains": "warmer"},
                "chunks": [
                    {"text": "Checking Paris first.", "split": 6},
                    {
                        "tool_call": {
                            "id": "call_paris",
                            "name": "get_weather",
                            "arguments": {"city": "Paris"},
                            "split": 4,
                        }
                    },
                    {"usage": {"input_tokens": 50, "output_tokens": 12}},
                    {"finish": "tool_calls"},
                ],
            },
            {
                "expect": {"last_role": "tool", "contains": "Paris: 21 C"},
                "chunks": [
                    {
                        "tool_call": {
                            "id": "call_london",
                            "name": "get_weather",
                            "arguments": {"city": "London"},
                        },
                        "delay": 0.2,
                    },
                    {"usage": {"input_tokens": 70, "output_tokens": 9}},
                    {"finish": "tool_calls"},
                ],
            },
            {
                "expect": {"last_role": "tool", "contains": "London: 14 C"},
                "chunks": [
                    {"text": "Yes: Paris is 21 C, London 14 C.", "split": 7, "delay": 0.1},
                    {"usage": {"input_tokens": 90, "output_tokens": 15}},
                    {"finish": "stop"},
                ],
            },
        ],
    }
)
CITIES = {"Paris": "Paris: 21 C", "London": "London: 14 C"}


def agent(base_url: str, http: Any) -> tuple[Any, list[str]]:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    called: list[str] = []
    provider = OpenAIProvider(base_url=base_url + "/v1", api_key="sk-test", http_client=http)
    weather = Agent(OpenAIChatModel("gpt-agentsim", provider=provider))

    @weather.tool_plain
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        called.append(city)
        return CITIES[city]

    return weather, called


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
def test_pydantic_ai_agent_completes_a_multi_step_tool_run(stream: bool) -> None:
    seen: list[str] = []

    async def main() -> tuple[str, Any, list[str], ScenarioServer]:
        async with ScenarioServer(SCENARIO, speed=20) as server, httpx2.AsyncClient() as http:
            weather, called = agent(server.url, http)
            handler = None
            if stream:  # an event handler makes the agent stream every model request

                async def handler(_context: Any, events: Any) -> None:
                    async for event in events:
                        seen.append(type(event).__name__)

            result = await weather.run("Is Paris warmer than London?", event_stream_handler=handler)
            output, usage = result.output, result.usage
        return output, usage, called, server

    output, usage, called, server = asyncio.run(main())
    assert output == "Yes: Paris is 21 C, London 14 C."
    assert called == ["Paris", "London"]
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (3, 210, 36)
    assert server.playback.passed, server.playback.report()
    assert [len(r.messages) for r in server.playback.requests] == [1, 3, 5]
    assert all(call.stream is stream for call in server.playback.calls)
    if stream:
        assert {"PartDeltaEvent", "FunctionToolCallEvent", "FunctionToolResultEvent"} <= set(seen)


def test_pydantic_ai_def_tool_runs_on_the_virtual_loop_through_scenario_transport() -> None:
    # pydantic-ai runs a plain `def` tool in anyio's worker threads: on the virtual loop the
    # clock waits for the thread, and the scripted delays cost no real time.
    from agentsim import run_virtual
    from agentsim.serve import ScenarioTransport

    transport = ScenarioTransport(SCENARIO)
    threads: list[bool] = []

    async def main() -> tuple[str, float]:
        async with httpx2.AsyncClient(transport=transport) as http:
            weather, called = agent("http://agentsim.test", http)
            result = await weather.run("Is Paris warmer than London?")
        threads.extend(city in CITIES for city in called)
        return result.output, asyncio.get_running_loop().time()

    output, now = run_virtual(main())
    assert output == "Yes: Paris is 21 C, London 14 C."
    assert threads == [True, True]
    assert now == pytest.approx(0.3)  # the scripted 0.2 s and 0.1 s delays, on virtual time
    assert transport.playback.passed, transport.playback.report()


def test_pydantic_ai_parallel_def_tools_report_in_the_same_order_whatever_the_threads_take() -> (
    None
):
    # Two `def` tools called in one step run at once in anyio's worker threads. However long each
    # takes in real time, the agent sees their results in the same order, so its events and its
    # next request are the same on every run.
    import time

    from agentsim import run_virtual
    from agentsim.serve import ScenarioTransport

    def call(call_id: str, city: str) -> dict[str, Any]:
        return {"tool_call": {"id": call_id, "name": "get_weather", "arguments": {"city": city}}}

    scenario = parse_scenario(
        {
            "input": "Paris and London?",
            "tools": {"get_weather": {"results": ["unused", "unused"]}},
            "requests": [
                {"chunks": [call("a", "Paris"), call("b", "London"), {"finish": "tool_calls"}]},
                {"chunks": [{"text": "Both done."}, {"finish": "stop"}]},
            ],
        }
    )

    def run(slow: str) -> tuple[list[str], list[str], Any]:
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        transport = ScenarioTransport(scenario)
        finished: list[str] = []
        seen: list[str] = []

        async def handler(_context: Any, events: Any) -> None:
            async for event in events:
                if type(event).__name__ == "FunctionToolResultEvent":
                    seen.append(event.tool_call_id)

        async def main() -> str:
            async with httpx2.AsyncClient(transport=transport) as http:
                provider = OpenAIProvider(
                    base_url="http://agentsim.test/v1", api_key="sk-test", http_client=http
                )
                weather = Agent(OpenAIChatModel("gpt-agentsim", provider=provider))

                @weather.tool_plain
                def get_weather(city: str) -> str:
                    """The current weather in a city."""
                    time.sleep(0.05 if city == slow else 0.0)
                    finished.append(city)
                    return CITIES[city]

                result = await weather.run("Paris and London?", event_stream_handler=handler)
            return str(result.output)

        assert run_virtual(main()) == "Both done."
        assert transport.playback.passed, transport.playback.report()
        return finished, seen, transport.playback.calls[1].body

    paris_slow, london_slow = run("Paris"), run("London")
    assert paris_slow[0] == ["London", "Paris"]  # the threads finished in different orders...
    assert london_slow[0] == ["Paris", "London"]
    assert paris_slow[1] == london_slow[1] == ["a", "b"]  # ... the agent saw the same
    assert paris_slow[2] == london_slow[2]
