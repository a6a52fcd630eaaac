"""Each invariant check fires on a trace broken in its way, and stays quiet on good traces."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import cast

import pytest

from agentsim import (
    AgentEvent,
    AssistantMessage,
    ErrorChunk,
    FinishChunk,
    LoopOptions,
    Message,
    PhaseChanged,
    ReasoningChunk,
    RetryScheduled,
    RunCompleted,
    RunFailed,
    StepStarted,
    TextBlock,
    TextChunk,
    TextDelta,
    ToolCallArgsChunk,
    ToolCallDelta,
    ToolCallEndChunk,
    ToolCallStartChunk,
    ToolExecuted,
    ToolResultMessage,
    Trace,
    Usage,
    UsageChunk,
    assert_invariants,
    check_trace,
)
from tests._support import run_script


def weather(city: str) -> str:
    return f"sunny in {city}"


GOOD = run_script(
    [
        [
            ReasoningChunk("hm"),
            ToolCallStartChunk(0, "c1", "weather"),
            ToolCallArgsChunk(0, '{"city":'),
            ToolCallArgsChunk(0, '"Rome"}'),
            ToolCallEndChunk(0),
            UsageChunk(Usage(3, 4)),
            FinishChunk("tool_calls"),
        ],
        [TextChunk("Sunny"), TextChunk("!"), UsageChunk(Usage(5, 6)), FinishChunk("stop")],
    ],
    tools=[weather],
)
RETRIED = run_script(
    [[ErrorChunk("rate_limit", retryable=True)], [TextChunk("x"), FinishChunk("stop")]]
)


def reseq(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    return [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(events)]


def with_events(events: Sequence[AgentEvent], **changes: object) -> Trace:
    return dataclasses.replace(GOOD.trace, events=reseq(events), **changes)  # type: ignore[arg-type]


def ids(trace: Trace) -> set[str]:
    return {v.invariant for v in check_trace(trace)}


def test_good_traces_keep_every_invariant() -> None:
    assert check_trace(GOOD.trace) == []
    assert check_trace(RETRIED.trace) == []
    assert_invariants(GOOD.trace)


def index_of(kind: type, events: Sequence[AgentEvent] = GOOD.events, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if isinstance(e, kind)][nth]


def _swap(events: list[AgentEvent], i: int, j: int) -> list[AgentEvent]:
    events[i], events[j] = events[j], events[i]
    return events


E = list(GOOD.events)
END = cast(RunCompleted, E[-1])
assert isinstance(END, RunCompleted)
BREAKS: dict[str, tuple[str, Callable[[], Trace]]] = {
    "no-run-started": ("EV1", lambda: with_events(E[1:])),
    "event-after-terminal": ("EV2", lambda: with_events([*E, E[-2]])),
    "no-terminal": ("EV2", lambda: with_events(E[:-1])),
    "seq-gap": ("EV3", lambda: dataclasses.replace(GOOD.trace, events=[*E[:3], *reseq(E)[4:]])),
    "time-goes-back": (
        "EV3",
        lambda: with_events([*E[:5], dataclasses.replace(E[5], t=-1.0), *E[6:]]),
    ),
    "two-run-ids": (
        "EV3",
        lambda: with_events([*E[:5], dataclasses.replace(E[5], run_id="other"), *E[6:]]),
    ),
    "content-outside-a-step": (
        "EV4",
        lambda: with_events([*E[:1], TextDelta(0, 0.0, E[0].run_id, "x"), *E[1:]]),
    ),
    "too-many-steps": (
        "EV4",
        lambda: dataclasses.replace(GOOD.trace, options=LoopOptions(max_steps=1)),
    ),
    "step-numbers-skip": (
        "EV4",
        lambda: with_events(
            [
                dataclasses.replace(e, step=3) if isinstance(e, StepStarted) and e.step == 2 else e
                for e in E
            ]
        ),
    ),
    "delta-after-completed": (
        "EV5",
        lambda: with_events(
            _swap(list(E), index_of(ToolCallDelta, nth=1), index_of(ToolCallDelta, nth=1) + 1)
        ),
    ),
    "arguments-differ-from-deltas": (
        "EV5",
        lambda: with_events(
            [dataclasses.replace(e, delta="{") if isinstance(e, ToolCallDelta) else e for e in E]
        ),
    ),
    "executed-twice": (
        "EV5",
        lambda: with_events(
            [
                *E[: index_of(ToolExecuted) + 1],
                E[index_of(ToolExecuted)],
                *E[index_of(ToolExecuted) + 1 :],
            ]
        ),
    ),
    "completed-call-never-executed": (
        # the client never learns the result: a UI shows that tool running forever
        "EV5",
        lambda: with_events([e for e in E if not isinstance(e, ToolExecuted)]),
    ),
    "phase-repeated": (
        "EV6",
        lambda: with_events([*E[:3], E[2], *E[3:]]),
    ),
    "text-in-the-wrong-phase": (
        "EV6",
        lambda: with_events(
            [e for e in E if not (isinstance(e, PhaseChanged) and e.phase == "answer")]
        ),
    ),
    "completed-without-summarize": (
        "EV6",
        lambda: with_events(
            [e for e in E if not (isinstance(e, PhaseChanged) and e.phase == "summarize")]
        ),
    ),
    "output-is-not-the-final-text": (
        "EV7",
        lambda: with_events([*E[:-1], dataclasses.replace(END, output="Sunny")]),
    ),
    "usage-not-summed": (
        "EV7",
        lambda: with_events([*E[:-1], dataclasses.replace(END, usage=Usage(5, 6))]),
    ),
    "partial-text-lost": (
        "EV7",
        lambda: with_events(
            [*E[:-2], RunFailed(0, 9.0, E[0].run_id, "provider", "x", "", "hm", ())]
        ),
    ),
    "retry-beyond-max-retries": (
        "EV8",
        lambda: dataclasses.replace(RETRIED.trace, options=LoopOptions(max_retries=0)),
    ),
    "wrong-backoff": (
        "EV8",
        lambda: dataclasses.replace(RETRIED.trace, options=LoopOptions(backoff_initial=3)),
    ),
    "retry-after-output": (
        "EV8",
        lambda: dataclasses.replace(
            RETRIED.trace,
            events=reseq(
                [
                    *RETRIED.events[: index_of(RetryScheduled, RETRIED.events)],
                    PhaseChanged(0, 0.0, E[0].run_id, "answer"),
                    TextDelta(0, 0.0, E[0].run_id, "oops"),
                    *RETRIED.events[index_of(RetryScheduled, RETRIED.events) :],
                ]
            ),
        ),
    ),
    "timeout-before-the-deadline": (
        "EV8",
        lambda: with_events(
            [*E[:-2], RunFailed(0, 9.0, E[0].run_id, "timeout", "x", "Sunny!", "hm", ())]
        ),
    ),
    "max-steps-failure-too-early": (
        "EV8",
        lambda: with_events(
            [*E[:-2], RunFailed(0, 9.0, E[0].run_id, "max_steps", "x", "Sunny!", "hm", ())]
        ),
    ),
}


@pytest.mark.parametrize("case", list(BREAKS), ids=list(BREAKS))
def test_each_event_invariant_detects_its_bug(case: str) -> None:
    invariant, make = BREAKS[case]
    found = check_trace(make())
    assert invariant in {v.invariant for v in found}, found


H = list(GOOD.history)
HISTORY_BREAKS: dict[str, tuple[str, list[Message]]] = {
    "missing-tool-result": ("H1", [h for h in H if not isinstance(h, ToolResultMessage)]),
    "stray-tool-result": ("H1", [*H, ToolResultMessage("zz", "x")]),
    "result-not-right-after-its-call": ("H1", [H[0], H[1], H[3], H[2]]),
    "blocks-differ-from-deltas": ("H3", [*H[:-1], AssistantMessage((TextBlock("Sunny?"),))]),
    "blocks-not-merged": ("H3", [*H[:-1], AssistantMessage((TextBlock("Sunny"), TextBlock("!")))]),
}


@pytest.mark.parametrize("case", list(HISTORY_BREAKS), ids=list(HISTORY_BREAKS))
def test_each_history_invariant_detects_its_bug(case: str) -> None:
    invariant, history = HISTORY_BREAKS[case]
    assert invariant in ids(dataclasses.replace(GOOD.trace, history=history))


def test_h2_is_h1_after_a_failed_or_cancelled_run() -> None:
    failed_events = [
        *E[: index_of(ToolExecuted)],
        RunFailed(0, 1.0, E[0].run_id, "timeout", "x", "", "hm", ("c1",)),
    ]
    trace = dataclasses.replace(
        GOOD.trace,
        events=reseq(failed_events),
        history=H[:2],
        options=LoopOptions(deadline=1.0),
    )
    assert ids(trace) == {"H2"}


def test_assert_invariants_shows_the_window_around_the_violation() -> None:
    broken = with_events([*E[:-1], dataclasses.replace(END, output="nope")])
    with pytest.raises(AssertionError) as info:
        assert_invariants(broken, window=1)
    text = str(info.value)
    assert "EV7 at event" in text
    assert ">> [" in text
    assert "run_completed" in text


def test_a_trace_without_history_skips_history_checks() -> None:
    assert check_trace(dataclasses.replace(GOOD.trace, history=None)) == []
    assert isinstance(E[-1], RunCompleted)


def test_a_call_left_waiting_is_ev5_only_when_the_run_completed() -> None:
    # A failed or cancelled run reports such a call as pending (EV7), which is not a bug.
    events = [e for e in E if not isinstance(e, ToolExecuted)]
    assert "EV5" in ids(with_events(events))
    failed = RunFailed(0, E[-1].t, E[0].run_id, "provider", "boom", "Sunny!", "hm", ("c1",))
    at = next(i for i, e in enumerate(events) if isinstance(e, StepStarted) and e.step == 2)
    assert "EV5" not in ids(with_events([*events[:at], failed]))
