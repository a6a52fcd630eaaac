"""The event-trace invariants EV1-EV7 (DESIGN §4): order, ids, steps, tool calls, phases, payloads.

These hold for every loop whatever it declares, except EV4's `max_steps` clause, which judges only
a loop declaring ``max_steps``. The option-bound clauses are in `check._bounds` (EV8-EV10).
"""

from __future__ import annotations

from agentsim.check._trace import (
    _CONTENT_TYPES,
    _TERMINALS,
    Trace,
    Violation,
    facts,
    invariant,
    name_of,
    terminal,
)
from agentsim.core._events import (
    PhaseChanged,
    RunCompleted,
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

__all__: list[str] = []

_CALL_EVENTS = frozenset({ToolCallStarted, ToolCallDelta, ToolCallCompleted, ToolExecuted})

_PHASE_OF: dict[type, str] = {
    ThinkingDelta: "think",
    TextDelta: "answer",
    ToolCallStarted: "act",
    ToolCallDelta: "act",
    ToolCallCompleted: "act",
    ToolExecuted: "act",
}


@invariant("EV1")
def _ev1(trace: Trace) -> list[Violation]:
    events = trace.events
    starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
    if not events:
        return [Violation("EV1", None, "run_started first", "no events")]
    out = []
    if not isinstance(events[0], RunStarted):
        out.append(Violation("EV1", 0, "run_started first", name_of(events[0])))
    if len(starts) != 1:
        out.append(Violation("EV1", None, "exactly one run_started", f"{len(starts)}"))
    return out


@invariant("EV2")
def _ev2(trace: Trace) -> list[Violation]:
    events = trace.events
    terminals = [i for i, e in enumerate(events) if isinstance(e, _TERMINALS)]
    if trace.dropped:
        if terminals:
            i = terminals[0]
            return [
                Violation("EV2", i, "no terminal event after a consumer drop", name_of(events[i]))
            ]
        return []
    if len(terminals) != 1:
        return [Violation("EV2", None, "exactly one terminal event", f"{len(terminals)}")]
    if terminals[0] != len(events) - 1:
        i = terminals[0] + 1
        return [Violation("EV2", i, "nothing after the terminal event", name_of(events[i]))]
    return []


@invariant("EV3")
def _ev3(trace: Trace) -> list[Violation]:
    out: list[Violation] = []
    last_t = 0.0
    run_id = trace.events[0].run_id if trace.events else ""
    for i, event in enumerate(trace.events):
        if event.seq != i + 1:
            out.append(Violation("EV3", i, f"seq {i + 1}", f"seq {event.seq}"))
            break
        if event.t < last_t:
            out.append(Violation("EV3", i, f"t >= {last_t}", f"t = {event.t}"))
            break
        last_t = event.t
        if event.run_id != run_id:
            out.append(Violation("EV3", i, f"run id {run_id!r}", repr(event.run_id)))
            break
    return out


@invariant("EV4")
def _ev4(trace: Trace) -> list[Violation]:
    open_step: int | None = None
    last = 0
    for i, event in enumerate(trace.events):
        if type(event) is StepStarted:
            if open_step is not None:
                return [Violation("EV4", i, f"step {open_step} finished first", "a new step")]
            if event.step != last + 1:
                return [Violation("EV4", i, f"step {last + 1}", f"step {event.step}")]
            if event.step > trace.options.max_steps and trace.judges("max_steps"):
                limit = trace.options.max_steps
                return [
                    Violation("EV4", i, f"at most max_steps={limit} steps", f"step {event.step}")
                ]
            open_step = last = event.step
        elif type(event) is StepFinished:
            if event.step != open_step:
                return [
                    Violation(
                        "EV4", i, f"step_finished of open step {open_step}", f"step {event.step}"
                    )
                ]
            open_step = None
        elif open_step is None and type(event) in _CONTENT_TYPES:
            return [Violation("EV4", i, "content inside an open step", name_of(event))]
    return []


@invariant("EV5")
def _ev5(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_CALL_EVENTS):
        return []  # no call, so none out of order and none left waiting
    state: dict[str, str] = {}
    names: dict[str, str] = {}
    args: dict[str, list[str]] = {}
    for i, event in enumerate(trace.events):
        if type(event) is ToolCallStarted:
            if event.call_id in state:
                return [
                    Violation(
                        "EV5", i, f"a new call id, not {event.call_id!r} again", "a reused id"
                    )
                ]
            state[event.call_id], names[event.call_id] = "started", event.name
            args[event.call_id] = []
        elif isinstance(event, ToolCallDelta | ToolCallCompleted | ToolExecuted):
            current = state.get(event.call_id)
            wanted = {
                ToolCallDelta: ("started",),
                ToolCallCompleted: ("started",),
                ToolExecuted: ("completed",),
            }[type(event)]
            if current not in wanted:
                return [
                    Violation(
                        "EV5",
                        i,
                        f"{name_of(event)} of {event.call_id!r} after it was {' or '.join(wanted)}",
                        f"it was {current or 'never started'}",
                    )
                ]
            if type(event) is ToolCallDelta:
                args[event.call_id].append(event.delta)
            elif type(event) is ToolCallCompleted:
                joined = "".join(args[event.call_id])
                if joined != event.arguments:
                    return [
                        Violation(
                            "EV5", i, f"arguments = the deltas {joined!r}", repr(event.arguments)
                        )
                    ]
                if event.name != names[event.call_id]:
                    return [Violation("EV5", i, f"name {names[event.call_id]!r}", repr(event.name))]
                state[event.call_id] = "completed"
            else:
                state[event.call_id] = "executed"
    # A completed run left no call waiting: a call the client saw completed and never saw
    # executed is one whose result never reached it (a UI showing that tool running forever).
    end = terminal(trace)
    if end is not None and isinstance(end[1], RunCompleted):
        waiting = [call for call, at in state.items() if at == "completed"]
        if waiting:
            return [
                Violation(
                    "EV5",
                    end[0],
                    "a completed run to have executed every completed call",
                    f"no tool_executed for {waiting[0]!r}",
                )
            ]
    return []


@invariant("EV6")
def _ev6(trace: Trace) -> list[Violation]:
    phase: str | None = None
    for i, event in enumerate(trace.events):
        if type(event) is PhaseChanged:
            if event.phase == phase:
                return [
                    Violation(
                        "EV6", i, f"a phase other than the current {phase!r}", "the same phase"
                    )
                ]
            phase = event.phase
            continue
        wanted = _PHASE_OF.get(type(event))
        if wanted is not None and wanted != phase:
            return [
                Violation("EV6", i, f"{name_of(event)} in phase {wanted!r}", f"phase {phase!r}")
            ]
        if type(event) is RunCompleted and phase != "summarize":
            return [
                Violation(
                    "EV6", i, "a completed run to end in phase 'summarize'", f"phase {phase!r}"
                )
            ]
    return []


@invariant("EV7")
def _ev7(trace: Trace) -> list[Violation]:
    found = terminal(trace)
    if found is None:
        return []
    i, end = found
    events = trace.events[:i]
    out: list[Violation] = []
    if isinstance(end, RunCompleted):
        # One pass: the text since the last step started, the step usages summed in order, the
        # steps counted.
        texts: list[str] = []
        usage = Usage()
        steps = 0
        for e in events:
            kind = type(e)
            if kind is TextDelta:
                texts.append(e.text)  # type: ignore[union-attr]
            elif kind is StepStarted:
                steps += 1
                texts = []
            elif kind is StepFinished:
                usage = usage + e.usage  # type: ignore[union-attr]
        output = "".join(texts)
        if end.output != output:
            out.append(
                Violation("EV7", i, f"output = the final step's text {output!r}", repr(end.output))
            )
        if end.usage != usage:
            out.append(
                Violation("EV7", i, f"usage = the sum of step usages {usage}", str(end.usage))
            )
        if end.steps != steps:
            out.append(Violation("EV7", i, f"steps = {steps}", str(end.steps)))
        return out
    texts, thoughts, started = [], [], []
    executed: set[str] = set()
    for e in events:
        kind = type(e)
        if kind is TextDelta:
            texts.append(e.text)  # type: ignore[union-attr]
        elif kind is ThinkingDelta:
            thoughts.append(e.text)  # type: ignore[union-attr]
        elif kind is ToolExecuted:
            executed.add(e.call_id)  # type: ignore[union-attr]
        elif kind is ToolCallStarted:
            started.append(e.call_id)  # type: ignore[union-attr]
    text, thinking = "".join(texts), "".join(thoughts)
    pending = tuple(call for call in started if call not in executed)
    if end.partial_text != text:
        out.append(
            Violation("EV7", i, f"partial_text = every text delta {text!r}", repr(end.partial_text))
        )
    if end.partial_thinking != thinking:
        out.append(
            Violation(
                "EV7",
                i,
                f"partial_thinking = every thinking delta {thinking!r}",
                repr(end.partial_thinking),
            )
        )
    if tuple(end.pending_tool_calls) != pending:
        out.append(
            Violation(
                "EV7",
                i,
                f"pending_tool_calls = started and not executed {list(pending)}",
                str(list(end.pending_tool_calls)),
            )
        )
    return out
