"""`pydantic_ai_loop` (issue 17 part 1): a pydantic-ai Agent, unmodified, as an agentsim loop.

Scripted runs on each model the agent may use (Chat Completions, Responses, Anthropic), through
its own event stream and through its AG-UI and Vercel AI apps; failures, cancellation and a
consumer drop; the options' validation; and a short fuzz of the two-tool agent on what it
declares (the long one is in test_pydantic_ai_fuzz.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic_ai import Agent, RunContext

from agentsim import (
    InputError,
    OutputReady,
    RunCancelled,
    RunCompleted,
    RunFailed,
    ToolExecuted,
)
from agentsim.adapters import offered_tool_names
from agentsim.frameworks import pydantic_ai_loop
from agentsim.fuzz._properties import run_guarded
from agentsim.fuzz._search import search

from ._pydantic_ai_agents import (
    RETRIED_OUTPUT,
    TEXT,
    TOOL_THEN_TEXT,
    anthropic_model,
    call,
    chat_model,
    responses_model,
    structured_agent,
    text_agent,
)


def _run(data: dict[str, Any], loop: Any) -> Any:
    return run_guarded(data, loop=lambda: loop)


MODELS = {"chat": None, "responses": responses_model, "anthropic": anthropic_model}


@pytest.mark.parametrize("model", list(MODELS))
def test_a_tool_run_on_each_model_passes(model: str) -> None:
    make = MODELS[model]
    loop = pydantic_ai_loop(text_agent(make() if make else None))
    result = _run(TOOL_THEN_TEXT, loop)
    assert result.violations == (), result.report()
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Sunny, 21 °C."
    executed = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert [(e.name, e.ok, e.output) for e in executed] == [
        ("get_weather", True, '{"city":"Paris","celsius":21}')
    ]
    assert ("reasoning" in (loop.features or ())) == (model == "anthropic")


def test_a_ui_stream_that_never_forwards_tool_results_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One planted bug in pydantic-ai's own Vercel stream: the browser never gets a tool's
    # result, so its tool part stays running while the run completes (EV5). The same agent and
    # stream without the bug pass (test_the_ui_apps_stream_passes_the_dialect_rules).
    from pydantic_ai.ui.vercel_ai._event_stream import VercelAIEventStream

    async def forgets(self: Any, event: Any) -> AsyncIterator[Any]:
        return
        yield

    monkeypatch.setattr(VercelAIEventStream, "handle_function_tool_result", forgets)
    result = _run(TOOL_THEN_TEXT, pydantic_ai_loop(text_agent(), ui="vercel"))
    assert isinstance(result.outcome, RunCompleted)
    assert [v.invariant for v in result.violations] == ["EV5"], result.report()


PAUSED = {
    "input": "Search the web.",
    "requests": [
        {"chunks": [{"text": "Searching."}, {"finish": "pause"}]},
        {"chunks": [{"text": " Found it."}, {"finish": "stop"}]},
    ],
}


def test_a_paused_turn_continued_within_one_step_passes() -> None:
    # pydantic-ai continues Anthropic's pause_turn inside one model request: its events show one
    # step, the wire two responses, the paused one sent back as an assistant message. No false
    # alarm (H3 once compared the wire's two messages with the step's one).
    result = _run(PAUSED, pydantic_ai_loop(text_agent(anthropic_model())))
    assert result.violations == (), result.report()
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Searching. Found it."
    assert sum(e.type == "step_started" for e in result.events) == 1


@pytest.mark.parametrize("model", list(MODELS))
def test_a_structured_output_retried_once_passes(model: str) -> None:
    make = MODELS[model]
    loop = pydantic_ai_loop(structured_agent(make() if make else None))
    result = _run(RETRIED_OUTPUT, loop)
    assert result.violations == (), result.report()
    assert isinstance(result.events[-2], OutputReady)


@pytest.mark.parametrize("ui", ["agui", "vercel"])
@pytest.mark.parametrize("agent", ["text", "structured"])
def test_the_ui_apps_stream_passes_the_dialect_rules(ui: str, agent: str) -> None:
    loop = pydantic_ai_loop(text_agent() if agent == "text" else structured_agent(), ui=ui)
    result = _run(TOOL_THEN_TEXT if agent == "text" else RETRIED_OUTPUT, loop)
    assert result.violations == (), result.report()
    assert isinstance(result.outcome, RunCompleted)
    assert loop.last_run is not None
    assert loop.last_run.dialect == ui
    assert loop.last_run.transcript.startswith(b"data: ")


def test_the_agent_offers_its_own_tools() -> None:
    assert offered_tool_names(TEXT) == ("get_weather", "lookup")
    assert offered_tool_names(pydantic_ai_loop(structured_agent())) == (
        "get_weather",
        "lookup",
        "final_result",
    )


def test_a_provider_error_fails_the_run_after_the_sdks_own_retries() -> None:
    data = {
        "input": "hi",
        "requests": [{"chunks": [{"error": {"kind": "server", "status": 500}}]}] * 3,
    }
    result = _run(data, TEXT)
    assert isinstance(result.outcome, RunFailed), result.report()
    assert result.outcome.kind == "provider"
    assert result.violations == (), result.report()
    assert len(result.trace.requests or ()) == 3  # the openai SDK retried twice


def test_usage_limits_fail_the_run_as_usage_limit() -> None:
    from pydantic_ai.usage import UsageLimits

    loop = pydantic_ai_loop(
        text_agent(), run_options={"usage_limits": UsageLimits(request_limit=1)}
    )
    result = _run(TOOL_THEN_TEXT, loop)
    assert isinstance(result.outcome, RunFailed), result.report()
    assert result.outcome.kind == "usage_limit"
    assert result.violations == (), result.report()


def test_a_cancel_mid_stream_ends_the_run_cancelled_at_once() -> None:
    data = {
        "input": "hi",
        "requests": [
            {
                "chunks": [
                    {"text": "One, "},
                    {"text": "two, ", "delay": 0.5},
                    {"text": "three.", "delay": 0.5},
                    {"finish": "stop"},
                ]
            }
        ],
        "cancel": {"request": 1, "before_chunk": 3},
    }
    result = _run(data, TEXT)
    assert isinstance(result.outcome, RunCancelled), result.report()
    assert result.outcome.partial_text == "One, two, "
    assert result.outcome.t == 1.0
    assert result.violations == (), result.report()


@pytest.mark.parametrize("ui", [None, "agui"])
def test_the_same_seed_gives_the_same_events_and_history(ui: str | None) -> None:
    first = _run(RETRIED_OUTPUT, pydantic_ai_loop(structured_agent(), ui=ui))
    again = _run(RETRIED_OUTPUT, pydantic_ai_loop(structured_agent(), ui=ui))
    assert first.events == again.events
    assert first.history == again.history


def test_options_are_validated_eagerly() -> None:
    with pytest.raises(InputError, match=r"pydantic_ai\.Agent"):
        pydantic_ai_loop(object())
    with pytest.raises(InputError, match="ui"):
        pydantic_ai_loop(text_agent(), ui="gradio")
    with pytest.raises(InputError, match="deps"):
        pydantic_ai_loop(text_agent(), run_options={"deps": 1})
    with pytest.raises(InputError, match="feature"):
        pydantic_ai_loop(text_agent(), features=["teleport"])
    with pytest.raises(InputError, match="provider API"):
        pydantic_ai_loop(text_agent(), api="carrier-pigeon")


def test_a_short_fuzz_of_the_two_tool_agent_finds_only_the_known_findings() -> None:
    """What a short fuzz of the agent on its declared features finds is one of the findings in
    docs/frameworks.md (malformed or interleaved call arguments), never anything else."""
    found = search("run", lambda: TEXT, examples=6, seed=3, shrink=False)
    if found.failure is not None:
        assert set(found.failure.ids) <= {"EV5", "H3"}, found.failure.lines()


def test_deps_reach_the_agents_tools() -> None:
    agent = Agent(chat_model(), deps_type=str)

    @agent.tool
    def get_weather(ctx: RunContext[str], city: str) -> str:
        """The weather, in the unit the deps name."""
        return f"{city}: 21 {ctx.deps}"

    result = _run(TOOL_THEN_TEXT, pydantic_ai_loop(agent, deps="°C"))
    assert result.violations == (), result.report()
    executed = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert [e.output for e in executed] == ["Paris: 21 °C"]


@pytest.mark.parametrize("model", list(MODELS))
def test_a_tools_duration_starts_when_the_response_is_in(model: str) -> None:
    # pydantic-ai runs the calls once the whole response is in: the provider's delay before the
    # finish is not the tool's (it made M3 fail: stretched delays stretched a call's duration).
    # (The first call's part ends as the second starts, before the delay: finding 2 of
    # docs/frameworks.md.)
    first = [
        call("c1", "get_weather", {"city": "Paris"}),
        call("c2", "lookup", {"query": "Paris"}),
        {"finish": "tool_calls", "delay": 1.5},
    ]
    data = {**TOOL_THEN_TEXT, "requests": [{"chunks": first}, *TOOL_THEN_TEXT["requests"][1:]]}
    make = MODELS[model]
    result = _run(data, pydantic_ai_loop(text_agent(make() if make else None)))
    assert result.violations == (), result.report()
    executed = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert [(e.name, e.duration) for e in executed] == [("get_weather", 0.0), ("lookup", 0.0)]


def test_a_refused_answer_fails_the_same_way_every_time() -> None:
    # pydantic-ai's ContentFilterError carries a dump of the messages (wall-clock timestamps,
    # fresh run ids): the failure says the error's message only, so M1 and M2 can compare runs.
    data = {"input": "hi", "requests": [{"chunks": [{"finish": "content_filter"}]}]}
    first, second = (_run(data, TEXT) for _ in range(2))
    assert first.events == second.events
    assert isinstance(first.outcome, RunFailed)
    assert first.outcome.message == (
        "ContentFilterError: Content filter triggered. Finish reason: 'content_filter'"
    )
