"""Structured output (issue 17 part 3): `output_ready` / `output_retry` and the invariants O1-O3.

The correct subject is a real pydantic-ai agent with a structured output type whose first answer
fails validation (``retries={'output': 2}``): it passes. Each planted bug is that run's trace with
one promise broken, and the invariant named catches it. The reference loop, which emits neither
event, is never judged by them (no false alarm on any bundled scenario).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentsim import OutputReady, OutputRetry, RunCompleted, ToolResultMessage, run_scenario
from agentsim.check._invariants import check_trace
from agentsim.check._trace import Trace
from agentsim.fuzz._properties import run_guarded
from agentsim.sse._dialects import get_dialect
from agentsim.sse._encode_native import encode_native

from ._pydantic_ai_agents import RETRIED_OUTPUT, STRUCTURED

ROOT = Path(__file__).resolve().parents[2]
O_IDS = ("O1", "O2", "O3")


@pytest.fixture(scope="module")
def trace() -> Trace:
    result = run_guarded(RETRIED_OUTPUT, loop=lambda: STRUCTURED)
    assert result.violations == (), result.report()
    return result.trace


def test_the_retried_structured_run_passes_and_says_what_happened(trace: Trace) -> None:
    retries = [e for e in trace.events if isinstance(e, OutputRetry)]
    assert [(r.step, r.attempt, r.limit, r.call_id) for r in retries] == [(2, 1, 2, "c2")]
    assert "valid integer" in retries[0].error
    ready = trace.events[-2]
    assert isinstance(ready, OutputReady)
    assert ready.output == '{"city":"Paris","celsius":21}'
    assert check_trace(trace, only=O_IDS) == []


def test_the_native_dialect_carries_the_output_events(trace: Trace) -> None:
    decoded = get_dialect("native").decode(encode_native(trace.events)).events
    assert [e for e in decoded if isinstance(e, OutputRetry | OutputReady)] == [
        e for e in trace.events if isinstance(e, OutputRetry | OutputReady)
    ]


def _events(trace: Trace, edit: Callable[[list[Any]], list[Any]]) -> Trace:
    events = edit(list(trace.events))
    events = [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(events)]
    return dataclasses.replace(trace, events=events)


def _index(events: list[Any], kind: type) -> int:
    return next(i for i, e in enumerate(events) if isinstance(e, kind))


def _twice(events: list[Any]) -> list[Any]:
    return [*events[:-1], events[-2], events[-1]]


def _early(events: list[Any]) -> list[Any]:
    ready = events.pop(-2)
    return [*events[:3], ready, *events[3:]]


def _dropped(events: list[Any]) -> list[Any]:
    return [e for e in events if not isinstance(e, OutputReady)]


def _no_retry_step(events: list[Any]) -> list[Any]:
    i = _index(events, OutputRetry)
    end = events[-1]
    assert isinstance(end, RunCompleted)
    ready = events[-2]
    return [*events[: i + 1], events[i + 1], ready, end]  # the step closes, the run completes


def _over_budget(events: list[Any]) -> list[Any]:
    i = _index(events, OutputRetry)
    events[i] = dataclasses.replace(events[i], limit=0)
    return events


def _misnumbered(events: list[Any]) -> list[Any]:
    i = _index(events, OutputRetry)
    events[i] = dataclasses.replace(events[i], attempt=2)
    return events


PLANTED = [
    ("output_ready_twice", _twice, "O1"),
    ("output_ready_before_the_end", _early, "O1"),
    ("completed_without_output_ready_after_a_retry", _dropped, "O1"),
    ("no_request_after_the_retry", _no_retry_step, "O2"),
    ("retries_beyond_the_budget", _over_budget, "O3"),
    ("retries_misnumbered", _misnumbered, "O3"),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [p[1:] for p in PLANTED], ids=[p[0] for p in PLANTED]
)
def test_each_planted_bug_is_caught(
    trace: Trace, edit: Callable[[list[Any]], list[Any]], expected: str
) -> None:
    found = {v.invariant for v in check_trace(_events(trace, edit), only=O_IDS)}
    assert found == {expected}


def test_a_retry_whose_error_never_reaches_the_model_breaks_o2(trace: Trace) -> None:
    assert trace.history is not None
    history = [
        dataclasses.replace(m, content='{"error": "try again"}')
        if isinstance(m, ToolResultMessage) and m.call_id == "c2"
        else m
        for m in trace.history
    ]
    broken = dataclasses.replace(trace, history=history)
    violations = check_trace(broken, only=O_IDS)
    assert [v.invariant for v in violations] == ["O2"], violations
    assert "valid integer" in violations[0].expected


def test_a_text_path_retry_is_judged_by_the_next_user_turn(trace: Trace) -> None:
    """An output validator's ModelRetry on a text answer: the error comes as a user turn."""
    data = {
        "input": "hi",
        "tools": {"final_result": {"result": "unused"}},
        "requests": [
            {"chunks": [{"text": "no"}, {"finish": "stop"}]},
            {"chunks": [{"text": "yes"}, {"finish": "stop"}]},
        ],
    }
    from pydantic_ai import Agent, ModelRetry

    from agentsim.frameworks import pydantic_ai_loop

    from ._pydantic_ai_agents import chat_model

    agent = Agent(chat_model(), retries={"output": 1})

    @agent.output_validator
    def must_say_yes(output: str) -> str:
        if output != "yes":
            raise ModelRetry("say yes, please")
        return output

    loop = pydantic_ai_loop(agent)
    result = run_guarded(data, loop=lambda: loop)
    assert result.violations == (), result.report()
    retries = [e for e in result.events if isinstance(e, OutputRetry)]
    assert [(r.step, r.call_id, r.error) for r in retries] == [(1, "", "say yes, please")]
    assert result.history is not None
    cut = [m for m in result.history if "say yes" not in getattr(m, "text", "")]
    broken = dataclasses.replace(result.trace, history=cut)
    assert [v.invariant for v in check_trace(broken, only=O_IDS)] == ["O2"]


def test_an_empty_answer_retried_then_a_tool_call_is_no_false_alarm() -> None:
    """pydantic-ai drops an empty response from the history and asks again; O2 must not take
    the next step's call-only message (no text either) for the rejected response."""
    from ._pydantic_ai_agents import TEXT, TOOLS, call

    data = {
        "input": "hi",
        "tools": TOOLS,
        "requests": [
            {"chunks": []},
            {"chunks": [call("c1", "get_weather", {"city": "Paris"}), {"finish": "tool_calls"}]},
            {"chunks": [{"text": "Sunny."}, {"finish": "stop"}]},
        ],
    }
    result = run_guarded(data, loop=lambda: TEXT)
    assert [e.call_id for e in result.events if isinstance(e, OutputRetry)] == [""]
    assert result.violations == (), result.report()


def test_no_false_alarm_on_the_bundled_scenarios() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        result = run_scenario(path)
        assert not [v for v in result.violations if v.invariant in O_IDS], path


def test_a_drop_between_the_retry_and_its_request_is_not_judged_on_the_error() -> None:
    """Found by fuzzing (a false positive, fixed): the consumer left after the retry's step
    started, before its request was sent, so the model was never told anything."""
    data = {
        "input": "Plan my trip",
        "requests": [{"chunks": [{"text": "s"}, {"text": "👩"}]}],
        "drop": {"after_event": 8},
    }
    result = run_guarded(data, loop=lambda: STRUCTURED)
    assert any(isinstance(e, OutputRetry) for e in result.events)
    assert result.violations == (), result.report()
