"""SR1-SR2 (nested runs): a correct tree of sub-runs passes; each planted misplacement fails;
traces without sub-runs (the reference loop on every bundled scenario) have nothing to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsim import run_scenario
from agentsim.check._invariants import Trace, check_trace
from agentsim.core._events import (
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunStarted,
    StepFinished,
    StepStarted,
    SubRunFinished,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._usage import Usage

R = "run_1"
SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def _call(call_id: str, name: str) -> list[AgentEvent]:
    return [
        ToolCallStarted(0, 0, R, call_id, name),
        ToolCallCompleted(0, 0, R, call_id, name, "{}"),
    ]


def _done(call_id: str, name: str, output: str) -> ToolExecuted:
    return ToolExecuted(0, 0, R, call_id, name, True, output, None, 0.0)


def _tree() -> list[AgentEvent]:
    """An agent-as-tool call (c1, sub-run s1 with a nested s2), then a handoff (c2, s3)."""
    return [
        RunStarted(0, 0, R),
        StepStarted(0, 0, R, 1),
        *_call("c1", "research"),
        SubRunStarted(0, 0, R, "s1", "c1", "researcher", "call"),
        SubRunStarted(0, 0, R, "s2", "c1", "searcher", "call"),
        SubRunFinished(0, 0, R, "s2", "completed", "hits"),
        SubRunFinished(0, 0, R, "s1", "completed", "notes"),
        _done("c1", "research", "notes"),
        *_call("c2", "transfer_to_billing"),
        _done("c2", "transfer_to_billing", "billing"),
        StepFinished(0, 0, R, 1, "tool_calls", Usage()),
        SubRunStarted(0, 0, R, "s3", "c2", "billing", "handoff"),
        StepStarted(0, 0, R, 2),
        StepFinished(0, 0, R, 2, "stop", Usage()),
        SubRunFinished(0, 0, R, "s3", "completed", ""),
        RunCompleted(0, 0, R, "", Usage(), 2),
    ]


def _ids(events: list[AgentEvent]) -> list[str]:
    violations = check_trace(Trace(events=_seq(events)), only=["SR1", "SR2"])
    return [v.invariant for v in violations]


def _seq(events: list[AgentEvent]) -> list[AgentEvent]:
    from dataclasses import replace

    return [replace(e, seq=i + 1) for i, e in enumerate(events)]


def test_a_correct_tree_passes() -> None:
    assert _ids(_tree()) == []


def _move(events: list[AgentEvent], what: type, sub: str, before: type, key: str) -> None:
    i = next(
        k
        for k, e in enumerate(events)
        if type(e) is what and isinstance(e, SubRunStarted | SubRunFinished) and e.sub_run_id == sub
    )
    moved = events.pop(i)
    j = next(k for k, e in enumerate(events) if type(e) is before and key in str(e))
    events.insert(j + 1, moved)


def test_the_parent_result_before_the_sub_run_ends_is_sr1() -> None:
    events = _tree()
    _move(events, SubRunFinished, "s1", ToolExecuted, "c1")  # s1 now ends after c1's result
    assert _ids(events) == ["SR1"]


def test_a_sub_run_of_a_call_not_yet_made_is_sr1() -> None:
    events = _tree()
    events.insert(2, SubRunStarted(0, 0, R, "s0", "c1", "early", "call"))
    events.insert(3, SubRunFinished(0, 0, R, "s0", "completed", ""))
    assert _ids(events) == ["SR1"]


def test_a_handoff_sub_run_before_the_transfer_is_sr1() -> None:
    events = _tree()
    i = next(
        k for k, e in enumerate(events) if isinstance(e, SubRunStarted) and e.mode == "handoff"
    )
    started = events.pop(i)
    j = next(
        k for k, e in enumerate(events) if isinstance(e, ToolCallCompleted) and e.call_id == "c2"
    )
    events.insert(j + 1, started)
    assert _ids(events) == ["SR1"]


def test_a_sub_run_left_running_at_the_end_is_sr1_even_when_cancelled() -> None:
    events = _tree()
    events = [e for e in events if not (isinstance(e, SubRunFinished) and e.sub_run_id == "s3")]
    events[-1] = RunCancelled(0, 0, R, "cancelled", "", "", ())
    assert _ids(events) == ["SR1"]


def test_sub_runs_that_do_not_nest_are_sr1() -> None:
    events = _tree()
    i = next(
        k for k, e in enumerate(events) if isinstance(e, SubRunFinished) and e.sub_run_id == "s2"
    )
    events[i], events[i + 1] = events[i + 1], events[i]  # s1 ends before s2, started inside it
    assert _ids(events) == ["SR1"]


@pytest.mark.parametrize("bad", ["s1", R])
def test_a_sub_run_id_used_twice_is_sr2(bad: str) -> None:
    events = _tree()
    i = next(
        k for k, e in enumerate(events) if isinstance(e, SubRunStarted) and e.sub_run_id == "s3"
    )
    events[i] = SubRunStarted(0, 0, R, bad, "c2", "billing", "handoff")
    events = [e for e in events if not (isinstance(e, SubRunFinished) and e.sub_run_id == "s3")]
    assert "SR2" in _ids(events)


def test_a_sub_run_finished_twice_or_never_started_is_sr2() -> None:
    events = _tree()
    events.insert(-1, SubRunFinished(0, 0, R, "s3", "completed", ""))
    assert _ids(events) == ["SR2"]
    events = _tree()
    events.insert(-1, SubRunFinished(0, 0, R, "ghost", "failed", ""))
    assert _ids(events) == ["SR2"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_no_false_alarm_on_the_reference_loop(path: Path) -> None:
    result = run_scenario(path)
    assert not [v for v in result.violations if v.invariant.startswith("SR")]


def test_sub_runs_of_parallel_calls_are_siblings_and_may_end_in_any_order() -> None:
    """Two delegating calls of one response (c1, c2 completed before either sub-run starts):
    c1's sub-run may end first though c2's started last (no false alarm)."""
    events = [
        RunStarted(0, 0, R),
        StepStarted(0, 0, R, 1),
        *_call("c1", "ask"),
        *_call("c2", "ask"),
        SubRunStarted(0, 0, R, "s1", "c1", "helper", "call"),
        SubRunStarted(0, 0, R, "s2", "c2", "helper", "call"),
        SubRunFinished(0, 0, R, "s1", "completed", "one"),
        _done("c1", "ask", "one"),
        SubRunFinished(0, 0, R, "s2", "completed", "two"),
        _done("c2", "ask", "two"),
        StepFinished(0, 0, R, 1, "tool_calls", Usage()),
        RunCompleted(0, 0, R, "", Usage(), 1),
    ]
    assert _ids(events) == []
    # s2 for the same call as s1 would be inside it: then s1 ending first is SR1.
    events[7] = SubRunStarted(0, 0, R, "s2", "c1", "helper", "call")
    found = check_trace(Trace(events=_seq(events)), only=["SR1"])
    assert [(v.invariant, v.index) for v in found] == [("SR1", 8)]
