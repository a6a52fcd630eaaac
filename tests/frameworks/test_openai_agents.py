"""openai_agents_loop: an unmodified openai-agents agent (two tools and a handoff) run by the
harness on both of the SDK's OpenAI models, with no client wiring and no API key; its endings
(max turns, cancellation, a crash) map to agentsim's; bad options are input errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, RunConfig, RunHooks, function_tool
from agents.models import _openai_shared

from agentsim import (
    RunCancelled,
    RunCompleted,
    RunFailed,
    SubRunFinished,
    SubRunStarted,
    ToolExecuted,
    run_scenario,
)
from agentsim.core._errors import InputError
from agentsim.frameworks import openai_agents_loop
from agentsim.frameworks.openai_agents import OPENAI_AGENTS_FEATURES
from agentsim.fuzz._properties import run_guarded


@function_tool
def lookup(query: str = "") -> str:
    """Look something up."""
    return f"found: {query}"


@function_tool
async def slow(seconds: float = 1.0) -> str:
    """Take a while."""
    import asyncio

    await asyncio.sleep(float(seconds))
    return "done"


BILLING = Agent(name="billing", instructions="Billing.", tools=[lookup])
AGENT = Agent(name="triage", instructions="Triage.", tools=[lookup, slow], handoffs=[BILLING])
TOOLS = {"lookup": {"result": "x"}, "slow": {"result": "x"}, "transfer_to_billing": {"result": "x"}}


def _call(name: str, arguments: str, call_id: str) -> list[dict[str, Any]]:
    return [
        {"tool_call_start": {"index": 0, "id": call_id, "name": name}},
        {"tool_call_args": {"index": 0, "delta": arguments}},
        {"tool_call_end": {"index": 0}},
        {"finish": "tool_calls"},
    ]


HANDOFF = {
    "input": "What is my balance?",
    "tools": TOOLS,
    "requests": [
        {"chunks": [{"text": "Let me check."}, *_call("lookup", '{"query": "balance"}', "c1")]},
        {"chunks": _call("transfer_to_billing", "{}", "c2")},
        {"chunks": [{"text": "Your balance "}, {"text": "is 3."}, {"finish": "stop"}]},
    ],
}


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user without OPENAI_API_KEY: a simulated run needs none."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert _openai_shared.get_default_openai_key() is None


@pytest.mark.parametrize("api", ["openai-responses", "openai-chat"])
def test_tools_and_a_handoff_run_on_both_models_with_no_key_and_no_wiring(api: str) -> None:
    loop = openai_agents_loop(AGENT, api=api)
    assert loop.api == api
    result = run_guarded(HANDOFF, loop=lambda: loop)
    assert result.violations == (), result.report()
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Your balance is 3."
    ran = [(e.name, e.output) for e in result.trace.events if isinstance(e, ToolExecuted)]
    assert ran == [
        ("lookup", "found: balance"),
        ("transfer_to_billing", '{"assistant": "billing"}'),
    ]
    subs = [e for e in result.trace.events if isinstance(e, SubRunStarted | SubRunFinished)]
    assert [type(e).__name__ for e in subs] == ["SubRunStarted", "SubRunFinished"]
    began, ended = subs
    assert isinstance(began, SubRunStarted)
    assert isinstance(ended, SubRunFinished)
    assert (began.parent_call_id, began.agent, began.mode) == ("c2", "billing", "handoff")
    assert (ended.outcome, ended.output) == ("completed", "Your balance is 3.")
    assert "OPENAI_API_KEY" not in os.environ  # the placeholder key never reaches the env
    # the billing agent answered: its request offered only its own tool
    assert [s.name for s in loop.last_run.interception.requests[-1][0].tools] == ["lookup"]


def test_the_default_features_are_the_sdks_and_tracing_is_off() -> None:
    given = RunConfig(workflow_name="mine")
    loop = openai_agents_loop(AGENT, run_config=given)
    assert loop.features == OPENAI_AGENTS_FEATURES
    assert "retries" not in loop.features
    assert "deadline" not in loop.features
    assert loop.run_config.tracing_disabled
    assert not given.tracing_disabled
    assert loop.run_config.workflow_name == "mine"
    assert openai_agents_loop(AGENT, tracing=True).run_config.tracing_disabled is False
    assert openai_agents_loop(AGENT, features=["tools"]).features == {"tools"}
    assert {s.name for s in loop.offered_tools()} == {"lookup", "slow", "transfer_to_billing"}


def test_max_turns_is_max_steps_and_the_tools_of_the_last_turn_keep_their_output() -> None:
    data = {**HANDOFF, "options": {"max_steps": 1}}
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT))
    assert isinstance(result.outcome, RunFailed)
    assert result.outcome.kind == "max_steps"
    assert result.violations == (), result.report()
    assert result.history[-1].content == "found: balance"  # type: ignore[union-attr]


def test_a_cancel_while_a_tool_runs_cancels_the_sdk_run_at_once() -> None:
    data = {
        "input": "wait",
        "tools": TOOLS,
        "requests": [{"chunks": _call("slow", '{"seconds": 20}', "c1")}],
        "cancel": {"at_time": 5},
    }
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT))
    assert isinstance(result.outcome, RunCancelled)
    assert result.outcome.t == 5
    assert result.outcome.pending_tool_calls == ("c1",)
    assert result.violations == (), result.report()


def test_a_cancel_after_a_handoff_ends_the_sub_run_first() -> None:
    data = {
        **HANDOFF,
        "requests": [
            HANDOFF["requests"][1],  # type: ignore[index]
            {"chunks": [{"text": "Checking", "delay": 1}, {"text": " more", "delay": 9}]},
        ],
        "cancel": {"at_time": 5},
    }
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT))
    assert isinstance(result.outcome, RunCancelled)
    end = result.trace.events[-2]
    assert isinstance(end, SubRunFinished)
    assert end.outcome == "cancelled"
    assert result.violations == (), result.report()


def test_a_consumer_drop_cancels_the_sdk_run() -> None:
    data = {**HANDOFF, "drop": {"after_event": 4}}
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT))
    assert result.dropped
    assert result.violations == (), result.report()


class _Crash(RunHooks[Any]):
    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        raise KeyError("planted")


def test_a_framework_crash_is_a_failure_not_a_harness_traceback() -> None:
    result = run_guarded(HANDOFF, loop=lambda: openai_agents_loop(AGENT, hooks=_Crash()))
    assert isinstance(result.outcome, RunFailed)
    assert [v.invariant for v in result.violations] == ["FW1"]
    assert "KeyError" in result.violations[0].seen


@pytest.mark.parametrize("api", ["openai-responses", "openai-chat"])
def test_a_tools_duration_starts_when_the_response_is_in(api: str) -> None:
    # The SDK runs tools after the whole response: the provider's delay before the finish is
    # not the tool's (it made M3 fail: stretched delays stretched a handoff's duration).
    calls = [
        _call("lookup", '{"query": "balance"}', "c1"),
        _call("transfer_to_billing", "{}", "c2"),
    ]
    for chunks in calls:
        chunks[-1] = {"finish": "tool_calls", "delay": 1.5}
    answer = [{"text": "Your balance is 3."}, {"finish": "stop"}]
    data = {**HANDOFF, "requests": [{"chunks": c} for c in [*calls, answer]]}
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT, api=api))
    assert result.violations == (), result.report()
    ran = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert [(e.name, e.duration) for e in ran] == [("lookup", 0.0), ("transfer_to_billing", 0.0)]


class _DecodeCrash(RunHooks[Any]):
    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        json.loads("{")


@pytest.mark.parametrize("api", ["openai-responses", "openai-chat"])
def test_an_event_that_is_not_json_ends_the_run_as_the_openai_client_does(api: str) -> None:
    # The client's unguarded json.loads of an event's data raises JSONDecodeError out of the
    # run: the SDK's ending for a broken stream (provider), not a crash of the framework.
    data = {**HANDOFF, "requests": [{"chunks": [{"text": "Hello "}, {"malformed": '{"a": "'}]}]}
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT, api=api))
    assert isinstance(result.outcome, RunFailed)
    assert result.outcome.kind == "provider"
    assert "JSONDecodeError" in result.outcome.message
    assert result.violations == (), result.report()


def test_a_json_error_raised_by_other_code_is_still_a_framework_crash() -> None:
    result = run_guarded(HANDOFF, loop=lambda: openai_agents_loop(AGENT, hooks=_DecodeCrash()))
    assert [v.invariant for v in result.violations] == ["FW1"]
    assert "JSONDecodeError" in result.violations[0].seen


def test_bad_options_are_input_errors() -> None:
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    with pytest.raises(InputError, match=r"expected an agents\.Agent"):
        openai_agents_loop(object())
    with pytest.raises(InputError, match="api must be one of"):
        openai_agents_loop(AGENT, api="anthropic")
    with pytest.raises(InputError, match="run_config must be"):
        openai_agents_loop(AGENT, run_config={"model": "x"})
    with pytest.raises(InputError, match="tracing must be"):
        openai_agents_loop(AGENT, tracing="yes")
    with pytest.raises(InputError, match="unknown feature"):
        openai_agents_loop(AGENT, features=["telepathy"])
    helper = Agent(name="helper", instructions="Help.")
    inner = BILLING.clone(tools=[helper.as_tool("ask_helper", "Ask.")])
    with pytest.raises(InputError, match=r"agents used as tools .* not supported yet: ask_helper"):
        openai_agents_loop(AGENT.clone(handoffs=[inner]))
    model = OpenAIChatCompletionsModel("gpt-4o", AsyncOpenAI(api_key="k"))
    with pytest.raises(InputError, match="speaks openai-chat"):
        openai_agents_loop(AGENT.clone(model=model), api="openai-responses")
    assert openai_agents_loop(AGENT.clone(model=model)).api == "openai-chat"


SDK_BREAKS = {
    "openai_agents_final_output_last_message": ["EV7"],
    "openai_agents_parallel_handoffs_results_out_of_order": ["H1", "H4"],
}
REPRODUCERS = Path(__file__).resolve().parents[2] / "examples" / "frameworks" / "reproducers"


@pytest.mark.parametrize(
    "path", sorted(REPRODUCERS.glob("openai_agents_*.yaml")), ids=lambda p: p.stem
)
def test_the_reproducers_replay_as_docs_frameworks_md_says(path: Path) -> None:
    """The false positives fuzzing found (agentsim mis-modelling the SDK) stay fixed; the SDK's
    own breaks still fail, with the invariant the page names."""
    api = "openai-chat" if "_chat_" in path.name else "openai-responses"
    result = run_scenario(path, loop=openai_agents_loop(AGENT, api=api))
    if path.stem in SDK_BREAKS:
        assert [v.invariant for v in result.violations] == SDK_BREAKS[path.stem]
    else:
        assert result.passed, result.report()


def test_the_openai_clients_own_retries_are_shown_as_retry_scheduled() -> None:
    from agentsim import RetryScheduled

    error = {"kind": "rate_limit", "message": "slow down", "retryable": True, "status": 429}
    data = {
        "input": "hi",
        "requests": [
            {"chunks": [{"error": error}]},
            {"chunks": [{"text": "hello"}, {"finish": "stop"}]},
        ],
    }
    result = run_guarded(data, loop=lambda: openai_agents_loop(AGENT))
    retries = [e for e in result.trace.events if isinstance(e, RetryScheduled)]
    assert [(e.step, e.attempt) for e in retries] == [(1, 2)]
    assert retries[0].delay > 0  # the client's own jittered backoff, in virtual time
    assert isinstance(result.outcome, RunCompleted)
    assert result.violations == (), result.report()
