"""The facts `check_trace` finds once per trace (check/_trace.Facts) change no verdict: every
check gives the same violations inside `check_trace` as on its own, subclassed events included."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from agentsim import parse_scenario
from agentsim.check._invariants import INVARIANTS, Trace, check_trace
from agentsim.core._events import (
    OutputRetry,
    RunCompleted,
    RunStarted,
    StepStarted,
    SubRunStarted,
)
from agentsim.core._usage import Usage
from agentsim.fuzz._properties import run_guarded
from tests.buggy_loops import BUGS


@dataclass(slots=True)
class _MyRetry(OutputRetry):
    """A loop's own kind of output retry (any subclass is still an output retry)."""


@dataclass(slots=True)
class _MySubRun(SubRunStarted):
    pass


def _alone(trace: Trace) -> list[object]:
    return [v for check in INVARIANTS.values() for v in check(trace)]


def test_subclassed_events_are_judged_as_their_kind() -> None:
    events = (
        RunStarted(1, 0.0, "r"),
        StepStarted(2, 0.0, "r", 1),
        _MyRetry(3, 0.0, "r", 1, 2, 1, "", "bad"),  # attempt 2 first, and over the limit of 1
        _MySubRun(4, 0.0, "r", "sub", "nope", "helper", "call"),  # inside a call that never was
        RunCompleted(5, 0.0, "r", "", Usage(), 1),
    )
    trace = Trace(events=events)
    found = {v.invariant for v in check_trace(trace)}
    assert {"O1", "O2", "O3", "SR1"} <= found
    assert check_trace(trace) == _alone(trace)


def test_every_check_agrees_inside_check_trace_and_alone() -> None:
    scenario = {
        "input": "hi",
        "tools": {"lookup": {"result": "found"}},
        "options": {"idle_timeout": 5, "max_retries": 1},
        "requests": [
            {"chunks": [{"error": {"kind": "overloaded", "retryable": True}}]},
            {"chunks": [{"tool_call": {"name": "lookup"}}, {"finish": "tool_calls"}]},
            {"chunks": [{"text": "done", "delay": 6}, {"finish": "stop"}]},
        ],
    }
    traces = [run_guarded(parse_scenario(copy.deepcopy(scenario))).trace]
    traces += [
        run_guarded(parse_scenario(copy.deepcopy(scenario)), loop=b).trace for b in BUGS.values()
    ]
    assert any(check_trace(t) for t in traces)  # some bug is caught here
    for trace in traces:
        assert check_trace(trace) == _alone(trace)
