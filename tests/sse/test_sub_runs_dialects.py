"""Sub-runs in the AG-UI dialect: SUBAGENT_STARTED / FINISHED / ERROR, valid for ag-ui-protocol's
own models, decoded back to what `project_dialect` says, with their S2 rules."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from ag_ui.core import BaseEvent, Event
from pydantic import TypeAdapter

from agentsim.core._events import (
    AgentEvent,
    PhaseChanged,
    RunCompleted,
    RunStarted,
    StepFinished,
    StepStarted,
    SubRunFinished,
    SubRunStarted,
    TextDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._sse_framing import decode_sse
from agentsim.core._usage import Usage
from agentsim.sse import decode_dialect, dialect_rules, encode_dialect, project_dialect

R = "run_1"
AGUI_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


def _trace(outcome: str = "completed") -> list[AgentEvent]:
    events: list[AgentEvent] = [
        RunStarted(0, 0.0, R),
        StepStarted(0, 0.0, R, 1),
        PhaseChanged(0, 0.0, R, "act"),
        ToolCallStarted(0, 0.0, R, "c1", "research"),
        ToolCallDelta(0, 0.0, R, "c1", "{}"),
        ToolCallCompleted(0, 0.0, R, "c1", "research", "{}"),
        SubRunStarted(0, 0.1, R, "s1", "c1", "researcher", "call"),
        SubRunStarted(0, 0.2, R, "s2", "c1", "searcher", "call"),
        SubRunFinished(0, 0.3, R, "s2", outcome, "hits"),  # type: ignore[arg-type]
        SubRunFinished(0, 0.4, R, "s1", "completed", "notes"),
        ToolExecuted(0, 0.5, R, "c1", "research", True, "notes", None, 0.5),
        StepFinished(0, 0.5, R, 1, "tool_calls", Usage()),
        StepStarted(0, 0.5, R, 2),
        PhaseChanged(0, 0.5, R, "answer"),
        TextDelta(0, 0.6, R, "done"),
        StepFinished(0, 0.6, R, 2, "stop", Usage()),
        PhaseChanged(0, 0.6, R, "summarize"),
        RunCompleted(0, 0.6, R, "done", Usage(), 2),
    ]
    return [replace(e, seq=i + 1) for i, e in enumerate(events)]


@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled"])
def test_sub_runs_round_trip_as_valid_agui(outcome: str) -> None:
    events = _trace(outcome)
    transcript = encode_dialect(events, "agui")
    kinds = []
    for sse in decode_sse(transcript):
        model = AGUI_EVENT.validate_json(sse.data)
        assert isinstance(model, BaseEvent)
        assert not model.model_extra, model.model_extra
        kinds.append(model.type.value)
    ending = "SUBAGENT_ERROR" if outcome == "failed" else "SUBAGENT_FINISHED"
    assert kinds.count("SUBAGENT_STARTED") == 2
    assert ending in kinds
    nested = json.loads(decode_sse(transcript)[kinds.index("SUBAGENT_STARTED") + 1].data)
    assert nested["parentSubagentRunId"] == "s1"
    assert nested["parentToolCallId"] == "c1"
    assert decode_dialect(transcript, "agui") == project_dialect(events, "agui")
    subs = [e for e in decode_dialect(transcript, "agui") if "SubRun" in type(e).__name__]
    assert [(type(e).__name__, getattr(e, "outcome", None)) for e in subs][1] == (
        "SubRunStarted",
        None,
    )
    assert dialect_rules(transcript, "agui") == []


def _frames(*bodies: dict[str, Any]) -> bytes:
    return b"".join(f"data: {json.dumps(b)}\n\n".encode() for b in bodies)


START = {"type": "RUN_STARTED", "threadId": R, "runId": R}
FINISH = {"type": "RUN_FINISHED", "threadId": R, "runId": R}


def test_a_subagent_left_open_or_never_started_breaks_s2() -> None:
    sub = {"type": "SUBAGENT_STARTED", "subagentRunId": "s1", "name": "a"}
    rules = [v.invariant for v in dialect_rules(_frames(START, sub, FINISH), "agui")]
    assert rules == ["S2.agui.unclosed"]
    end = {"type": "SUBAGENT_FINISHED", "subagentRunId": "s9"}
    rules = [v.invariant for v in dialect_rules(_frames(START, end, FINISH), "agui")]
    assert rules == ["S2.agui.not-open"]
    orphan = {**sub, "parentToolCallId": "c9"}
    done = {"type": "SUBAGENT_FINISHED", "subagentRunId": "s1"}
    rules = [v.invariant for v in dialect_rules(_frames(START, orphan, done, FINISH), "agui")]
    assert rules == ["S2.agui.subagent-parent"]
    again = [START, sub, done, sub, done, FINISH]
    rules = [v.invariant for v in dialect_rules(_frames(*again), "agui")]
    assert rules == ["S2.agui.reused-id"]


@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled"])
def test_sub_runs_round_trip_in_the_phase_dialect(outcome: str) -> None:
    events = _trace(outcome)
    transcript = encode_dialect(events, "phase")
    kinds = [json.loads(sse.data)["type"] for sse in decode_sse(transcript)]
    assert kinds.count("subagent_started") == 2
    assert ("subagent_failed" in kinds) == (outcome == "failed")
    assert decode_dialect(transcript, "phase") == project_dialect(events, "phase")
    assert dialect_rules(transcript, "phase") == []


def test_seed_000s_subagent_failed_without_an_id_ends_the_innermost() -> None:
    frames = [
        {"type": "subagent_started", "subagent_id": "a", "role": "r", "task": "t"},
        {"type": "subagent_started", "subagent_id": "b", "role": "r", "task": "t"},
        {"type": "subagent_failed", "error": "boom"},
        {"type": "subagent_completed", "subagent_id": "a", "role": "r", "task": "t", "output": "x"},
        {"type": "done", "message_id": "m", "status": "completed", "output": ""},
    ]
    decoded = decode_dialect(_frames(*frames), "phase")
    ends = [(e.sub_run_id, e.outcome) for e in decoded if isinstance(e, SubRunFinished)]
    assert ends == [("b", "failed"), ("a", "completed")]
    assert dialect_rules(_frames(*frames), "phase") == []


def test_phase_subagent_frames_that_do_not_pair_break_s2() -> None:
    start = {"type": "subagent_started", "subagent_id": "a", "role": "r", "task": "t"}
    done = {"type": "done", "message_id": "m", "status": "completed", "output": ""}
    end = {"type": "subagent_completed", "subagent_id": "z", "output": ""}
    assert [v.invariant for v in dialect_rules(_frames(start, done), "phase")] == [
        "S2.phase.unclosed"
    ]
    assert [v.invariant for v in dialect_rules(_frames(end, done), "phase")] == [
        "S2.phase.subagent-unknown"
    ]
    twice = [start, {**end, "subagent_id": "a"}, start, {**end, "subagent_id": "a"}, done]
    assert [v.invariant for v in dialect_rules(_frames(*twice), "phase")] == ["S2.phase.reused-id"]
