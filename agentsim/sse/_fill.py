"""Completing a decoded trace: what a dialect does not carry is filled in from what it does.

Only the native dialect carries every field of every agent event. A decoder of the others yields
the events its transcript shows; `complete` then fills the rest so that the invariant checks
(EV1-EV7) stay meaningful for what the dialect does carry and never fire on what it cannot:

- ``seq`` is renumbered 1..n and every event gets the run id of the first ``run_started`` ("" if
  none); a ``run_started`` is put first when the transcript has none (phase and chat never do).
- Steps: a transcript without any step event gets steps the way the reference loop makes them
  (DESIGN §3.1): a step opens at the first content, and a new one at the first model output after
  tool results; it is closed before ``run_completed`` (finish reason ``tool_calls`` or ``stop``),
  after an empty last step if the run completes right after tool results, and left open before
  a failure or cancellation.
- Phases (every dialect but phase): ``phase_changed`` is derived by the §3.9 rule, right before the
  first event of each new phase, ``summarize`` right before ``run_completed``.
- Terminal payloads: ``partial_text``, ``partial_thinking``, ``pending_tool_calls`` and
  ``steps`` are always derived from the trace (EV7's own definitions); ``output`` unless the
  dialect carries it (phase's ``done``). Usage: when the dialect carries the run's total but not
  the steps', the total is put on the last finished step; when it carries neither, it is the
  (zero) sum of the steps.
- Synthesized events take the time of the event they precede (``step_finished``: the one they
  follow), so ``t`` never decreases; their origin is ``None``.

Projections (what ``decode(encode(events))`` gives back) are written as "strip what the dialect
drops, then `complete`", so the round trip tests the encoders and decoders, not this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from agentsim.core._events import (
    AgentEvent,
    PhaseChanged,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepFinished,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._usage import Usage

__all__ = ["Carries", "Decoded", "Item", "complete", "with_times"]

Item = tuple[AgentEvent, int | None]  # an event and the SSE event index it came from

_PHASE_OF: dict[type, str] = {
    ThinkingDelta: "think",
    TextDelta: "answer",
    ToolCallStarted: "act",
    ToolCallDelta: "act",
    ToolCallCompleted: "act",
    ToolExecuted: "act",
}
_MODEL_OUTPUT = (ThinkingDelta, TextDelta, ToolCallStarted)


@dataclass(frozen=True, slots=True, kw_only=True)
class Carries:
    """What a transcript carries beyond the events themselves (the rest is derived)."""

    phases: bool = False
    step_usage: bool = False
    run_usage: bool = False
    output: bool = False


@dataclass(frozen=True, slots=True)
class Decoded:
    """Agent events decoded from a transcript, each with the SSE event index it came from."""

    events: tuple[AgentEvent, ...]
    origins: tuple[int | None, ...]


def with_times(events: Sequence[AgentEvent], t: float) -> list[AgentEvent]:
    return [replace(event, t=t) for event in events]


def complete(items: Sequence[Item], carries: Carries) -> Decoded:
    """Fill what the dialect does not carry (see the module docstring)."""
    work = list(items)
    if not any(type(e) is RunStarted for e, _ in work):
        t0 = work[0][0].t if work else 0.0
        work.insert(0, (RunStarted(0, t0, ""), None))
    if not carries.phases:
        work = [(e, o) for e, o in work if type(e) is not PhaseChanged]
    if not any(isinstance(e, StepStarted | StepFinished) for e, _ in work):
        work = _synthesize_steps(work)
    if not carries.phases:
        work = _synthesize_phases(work)
    work = _fill_terminals(work, carries)
    run_id = next(e.run_id for e, _ in work if type(e) is RunStarted)
    events = tuple(replace(e, seq=i, run_id=run_id) for i, (e, _) in enumerate(work, start=1))
    return Decoded(events, tuple(o for _, o in work))


def _synthesize_steps(items: list[Item]) -> list[Item]:
    out: list[Item] = []
    step = 0
    open_step = after_tools = had_calls = False

    def close(t: float) -> None:
        nonlocal open_step
        reason = "tool_calls" if had_calls else "stop"
        out.append((StepFinished(0, t, "", step, reason, Usage()), None))
        open_step = False

    def start(t: float) -> None:
        nonlocal step, open_step, after_tools, had_calls
        step += 1
        out.append((StepStarted(0, t, "", step), None))
        open_step, after_tools, had_calls = True, False, False

    for event, origin in items:
        kind = type(event)
        phase = event.phase if isinstance(event, PhaseChanged) else None
        ends_run = kind is RunCompleted or phase == "summarize"
        opens = isinstance(event, _MODEL_OUTPUT) or (phase is not None and not ends_run)
        if ends_run:
            if open_step:
                final_step_missing = after_tools  # a completed run's last step asked for no tools
                close(out[-1][0].t)
                if final_step_missing:
                    start(event.t)
                    close(event.t)
        elif open_step and after_tools and opens:
            close(out[-1][0].t)
            start(event.t)
        elif not open_step and (opens or kind in _PHASE_OF or kind is RetryScheduled):
            start(event.t)
        if kind is ToolExecuted:
            after_tools = True
        elif kind is ToolCallStarted or kind is ToolCallCompleted:
            had_calls = True
        out.append((event, origin))
    return out


def _synthesize_phases(items: list[Item]) -> list[Item]:
    out: list[Item] = []
    phase: str | None = None
    for event, origin in items:
        wanted = "summarize" if type(event) is RunCompleted else _PHASE_OF.get(type(event))
        if wanted is not None and wanted != phase:
            out.append((PhaseChanged(0, event.t, "", wanted), None))  # type: ignore[arg-type]
            phase = wanted
        out.append((event, origin))
    return out


def _fill_terminals(items: list[Item], carries: Carries) -> list[Item]:
    out = list(items)
    for k, (event, origin) in enumerate(out):
        if not isinstance(event, RunCompleted | RunFailed | RunCancelled):
            continue
        before = [e for e, _ in out[:k]]  # only for a terminal: once per event is quadratic
        if isinstance(event, RunCompleted):
            out[k] = (_fill_completed(event, before, out, k, carries), origin)
        elif isinstance(event, RunFailed | RunCancelled):
            executed = {e.call_id for e in before if type(e) is ToolExecuted}
            out[k] = (
                replace(
                    event,
                    partial_text="".join(e.text for e in before if type(e) is TextDelta),
                    partial_thinking="".join(e.text for e in before if type(e) is ThinkingDelta),
                    pending_tool_calls=tuple(
                        e.call_id
                        for e in before
                        if type(e) is ToolCallStarted and e.call_id not in executed
                    ),
                ),
                origin,
            )
    return out


def _fill_completed(
    event: RunCompleted, before: list[AgentEvent], out: list[Item], k: int, carries: Carries
) -> RunCompleted:
    last_step = max((i for i, e in enumerate(before) if type(e) is StepStarted), default=0)
    output = event.output
    if not carries.output:
        output = "".join(e.text for e in before[last_step:] if type(e) is TextDelta)
    usage = event.usage
    if carries.run_usage and not carries.step_usage:
        finished = [i for i, e in enumerate(before) if type(e) is StepFinished]
        if finished:
            i = finished[-1]
            step_event, origin = out[i]
            assert isinstance(step_event, StepFinished)
            out[i] = (replace(step_event, usage=usage), origin)
            before[i] = out[i][0]
    if not carries.run_usage:
        usage = sum((e.usage for e in before if type(e) is StepFinished), Usage())
    steps = sum(1 for e in before if type(e) is StepStarted)
    return replace(event, output=output, usage=usage, steps=steps)
