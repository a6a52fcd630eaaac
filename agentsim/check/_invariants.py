"""Invariant checks over a run's trace (DESIGN §4): EV1-EV8 on the events, H1-H3 on the history.

Each check is a function `(trace) -> list[Violation]` registered under its stable id; a violation
names the invariant, the event (or message) index and what was expected versus seen. The checks
only read the trace, so they apply to any loop: the reference loop, a user's loop run through the
loop protocol, or events decoded from an SSE transcript (then without a history, and H* skip).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    TerminalEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
    event_to_dict,
)
from agentsim.core._history import (
    AssistantMessage,
    Block,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
)
from agentsim.core._usage import Usage
from agentsim.loop._protocol import LoopOptions

__all__ = [
    "INVARIANTS",
    "Trace",
    "Violation",
    "assert_invariants",
    "check_trace",
]

_TERMINALS = (RunCompleted, RunFailed, RunCancelled)
_CONTENT = (
    ThinkingDelta,
    TextDelta,
    ToolCallStarted,
    ToolCallDelta,
    ToolCallCompleted,
    ToolExecuted,
    RetryScheduled,
)
_CONTENT_TYPES = frozenset(_CONTENT)
_PHASE_OF: dict[type, str] = {
    ThinkingDelta: "think",
    TextDelta: "answer",
    ToolCallStarted: "act",
    ToolCallDelta: "act",
    ToolCallCompleted: "act",
    ToolExecuted: "act",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: which, where (event index, 0-based, or None), expected vs seen."""

    invariant: str
    index: int | None
    expected: str
    seen: str

    def __str__(self) -> str:
        where = f" at event {self.index}" if self.index is not None else ""
        return f"{self.invariant}{where}: expected {self.expected}; saw {self.seen}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """What a run left: the delivered events, the final history, and the options it ran with.

    `dropped` marks a consumer drop (no terminal event was delivered); `initial_messages` is how
    many history messages existed before the run (they are not checked against the events).
    """

    events: Sequence[AgentEvent]
    history: Sequence[Message] | None = None
    options: LoopOptions = field(default_factory=LoopOptions)
    dropped: bool = False
    initial_messages: int = 0


Check = Callable[[Trace], list[Violation]]
INVARIANTS: dict[str, Check] = {}


def _invariant(name: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        INVARIANTS[name] = check
        return check

    return register


def check_trace(trace: Trace, *, only: Sequence[str] | None = None) -> list[Violation]:
    """Every violation of the catalogue (or of the invariants named in `only`), in id order."""
    out: list[Violation] = []
    for name, check in INVARIANTS.items():
        if only is None or name in only:
            out.extend(check(trace))
    return out


def _name(event: AgentEvent) -> str:
    return event.type


# -- event trace ----------------------------------------------------------------------------------


@_invariant("EV1")
def _ev1(trace: Trace) -> list[Violation]:
    events = trace.events
    starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
    if not events:
        return [Violation("EV1", None, "run_started first", "no events")]
    out = []
    if not isinstance(events[0], RunStarted):
        out.append(Violation("EV1", 0, "run_started first", _name(events[0])))
    if len(starts) != 1:
        out.append(Violation("EV1", None, "exactly one run_started", f"{len(starts)}"))
    return out


@_invariant("EV2")
def _ev2(trace: Trace) -> list[Violation]:
    events = trace.events
    terminals = [i for i, e in enumerate(events) if isinstance(e, _TERMINALS)]
    if trace.dropped:
        if terminals:
            i = terminals[0]
            return [
                Violation("EV2", i, "no terminal event after a consumer drop", _name(events[i]))
            ]
        return []
    if len(terminals) != 1:
        return [Violation("EV2", None, "exactly one terminal event", f"{len(terminals)}")]
    if terminals[0] != len(events) - 1:
        i = terminals[0] + 1
        return [Violation("EV2", i, "nothing after the terminal event", _name(events[i]))]
    return []


@_invariant("EV3")
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


@_invariant("EV4")
def _ev4(trace: Trace) -> list[Violation]:
    open_step: int | None = None
    last = 0
    for i, event in enumerate(trace.events):
        if type(event) is StepStarted:
            if open_step is not None:
                return [Violation("EV4", i, f"step {open_step} finished first", "a new step")]
            if event.step != last + 1:
                return [Violation("EV4", i, f"step {last + 1}", f"step {event.step}")]
            if event.step > trace.options.max_steps:
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
            return [Violation("EV4", i, "content inside an open step", _name(event))]
    return []


@_invariant("EV5")
def _ev5(trace: Trace) -> list[Violation]:
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
                        f"{_name(event)} of {event.call_id!r} after it was {' or '.join(wanted)}",
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
    return []


@_invariant("EV6")
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
            return [Violation("EV6", i, f"{_name(event)} in phase {wanted!r}", f"phase {phase!r}")]
        if type(event) is RunCompleted and phase != "summarize":
            return [
                Violation(
                    "EV6", i, "a completed run to end in phase 'summarize'", f"phase {phase!r}"
                )
            ]
    return []


def _terminal(trace: Trace) -> tuple[int, TerminalEvent] | None:
    if trace.events and isinstance(trace.events[-1], _TERMINALS):
        return len(trace.events) - 1, trace.events[-1]
    return None


@_invariant("EV7")
def _ev7(trace: Trace) -> list[Violation]:
    found = _terminal(trace)
    if found is None:
        return []
    i, end = found
    events = trace.events[:i]
    out: list[Violation] = []
    if isinstance(end, RunCompleted):
        last_step = max((k for k, e in enumerate(events) if type(e) is StepStarted), default=0)
        output = "".join(e.text for e in events[last_step:] if type(e) is TextDelta)
        usage = sum((e.usage for e in events if type(e) is StepFinished), Usage())
        steps = sum(1 for e in events if type(e) is StepStarted)
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
    text = "".join(e.text for e in events if type(e) is TextDelta)
    thinking = "".join(e.text for e in events if type(e) is ThinkingDelta)
    executed = {e.call_id for e in events if type(e) is ToolExecuted}
    pending = tuple(
        e.call_id for e in events if type(e) is ToolCallStarted and e.call_id not in executed
    )
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


@_invariant("EV8")
def _ev8(trace: Trace) -> list[Violation]:
    options = trace.options
    out: list[Violation] = []
    events = trace.events
    retries: dict[int, int] = {}
    since_attempt = False  # content forwarded in the current attempt
    step = 0
    for i, event in enumerate(events):
        if type(event) is StepStarted:
            step, since_attempt = event.step, False
        elif isinstance(event, TextDelta | ThinkingDelta | ToolCallStarted | ToolCallDelta):
            since_attempt = True
        elif type(event) is RetryScheduled:
            n = retries[event.step] = retries.get(event.step, 0) + 1
            if since_attempt:
                out.append(
                    Violation(
                        "EV8",
                        i,
                        "a retry only before the attempt forwarded output",
                        "a retry after output",
                    )
                )
            if n > options.max_retries:
                out.append(
                    Violation(
                        "EV8",
                        i,
                        f"at most max_retries={options.max_retries} retries in step {step}",
                        f"retry {n}",
                    )
                )
            if event.attempt != n:
                out.append(Violation("EV8", i, f"attempt {n}", f"attempt {event.attempt}"))
            if abs(event.delay - options.backoff(n)) > 1e-9:
                out.append(
                    Violation("EV8", i, f"backoff {options.backoff(n):g}s", f"{event.delay:g}s")
                )
            since_attempt = False
    # The deadline bounds everything (DESIGN §3.5): nothing may happen after it, whatever the
    # ending; a loop whose deadline misses a slow stream shows up here even if it ends well.
    late = next((i for i, e in enumerate(events) if e.t > options.deadline + 1e-6), None)
    if late is not None:
        out.append(
            Violation(
                "EV8",
                late,
                f"no event after the deadline {options.deadline:g}",
                f"{_name(events[late])} at t = {events[late].t:g}",
            )
        )
    found = _terminal(trace)
    if found is not None and isinstance(found[1], RunFailed):
        i, end = found[0], found[1]
        if end.kind == "timeout" and abs(end.t - options.deadline) > 1e-6:
            out.append(
                Violation(
                    "EV8", i, f"a timeout at t = deadline {options.deadline:g}", f"t = {end.t:g}"
                )
            )
        if end.kind == "max_steps":
            last_step = max((e.step for e in events if type(e) is StepStarted), default=0)
            asked = last_step > 0 and any(
                type(e) is ToolCallCompleted
                for e in events[max(k for k, e in enumerate(events) if type(e) is StepStarted) :]
            )
            if options.max_steps == 0:
                if last_step:
                    out.append(
                        Violation("EV8", i, "no step when max_steps is 0", f"{last_step} steps")
                    )
            elif last_step != options.max_steps or not asked:
                out.append(
                    Violation(
                        "EV8",
                        i,
                        f"max_steps failure only after step {options.max_steps} asked for tools",
                        f"failure after step {last_step}"
                        + ("" if asked else " without tool calls"),
                    )
                )
    return out


# -- history --------------------------------------------------------------------------------------


def _alternation(history: Sequence[Message], label: str) -> list[Violation]:
    i = 0
    while i < len(history):
        message = history[i]
        if isinstance(message, ToolResultMessage):
            return [
                Violation(
                    label,
                    None,
                    "no tool result without its call",
                    f"message {i}: a stray result for {message.call_id!r}",
                )
            ]
        if isinstance(message, AssistantMessage):
            calls = message.tool_calls
            for k, call in enumerate(calls):
                j = i + 1 + k
                nxt = history[j] if j < len(history) else None
                if not isinstance(nxt, ToolResultMessage) or nxt.call_id != call.call_id:
                    seen = (
                        "the end of the history"
                        if nxt is None
                        else f"message {j}: {nxt.role} {getattr(nxt, 'call_id', '')}".strip()
                    )
                    return [
                        Violation(
                            label,
                            None,
                            f"message {j}: the result of {call.call_id!r} "
                            f"(call {k + 1} of message {i})",
                            seen,
                        )
                    ]
            i += 1 + len(calls)
        else:
            i += 1
    return []


@_invariant("H1")
def _h1(trace: Trace) -> list[Violation]:
    if trace.history is None:
        return []
    end = _terminal(trace)
    completed = end is not None and isinstance(end[1], RunCompleted)
    return _alternation(trace.history, "H1") if completed else []


@_invariant("H2")
def _h2(trace: Trace) -> list[Violation]:
    if trace.history is None:
        return []
    end = _terminal(trace)
    if end is not None and isinstance(end[1], RunCompleted):
        return []
    return _alternation(trace.history, "H2")


def _expected_messages(events: Sequence[AgentEvent]) -> list[AssistantMessage]:
    """Each step's assistant message as the events describe it (same-kind runs merged)."""
    messages: list[AssistantMessage] = []
    # Per step: runs of [kind, parts]; a call's slot holds its id until it completes.
    runs: list[list[Any]] = []
    completed: dict[str, ToolCallBlock] = {}

    def flush() -> None:
        blocks: list[Block] = []
        for kind, parts in runs:
            if kind == "call":
                call = completed.get(parts)
                if call is not None:
                    blocks.append(call)
            elif blocks and blocks[-1].type == kind:  # a dropped call between two runs
                previous = blocks[-1]
                assert isinstance(previous, TextBlock | ReasoningBlock)
                blocks[-1] = type(previous)(previous.text + "".join(parts))
            else:
                text = "".join(parts)
                blocks.append(TextBlock(text) if kind == "text" else ReasoningBlock(text))
        if blocks:
            messages.append(AssistantMessage(tuple(blocks)))
        runs.clear()
        completed.clear()

    for event in events:
        kind = type(event)
        if kind is TextDelta or kind is ThinkingDelta:
            block_kind = "text" if kind is TextDelta else "reasoning"
            if runs and runs[-1][0] == block_kind:
                runs[-1][1].append(event.text)  # type: ignore[union-attr]
            else:
                runs.append([block_kind, [event.text]])  # type: ignore[union-attr]
        elif kind is ToolCallStarted:
            runs.append(["call", event.call_id])  # type: ignore[union-attr]
        elif kind is ToolCallCompleted:
            assert isinstance(event, ToolCallCompleted)
            completed[event.call_id] = ToolCallBlock(event.call_id, event.name, event.arguments)
        elif kind is StepStarted:
            flush()
    flush()
    return messages


def _without_signatures(message: AssistantMessage) -> AssistantMessage:
    return AssistantMessage(
        tuple(
            ReasoningBlock(b.text) if isinstance(b, ReasoningBlock) else b for b in message.blocks
        )
    )


@_invariant("H3")
def _h3(trace: Trace) -> list[Violation]:
    if trace.history is None or trace.dropped:
        return []
    expected = _expected_messages(trace.events)
    actual = [
        _without_signatures(m)
        for m in trace.history[trace.initial_messages :]
        if isinstance(m, AssistantMessage)
    ]
    for k, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return [
                Violation(
                    "H3", None, f"assistant message {k + 1} = the step's deltas {want}", str(got)
                )
            ]
    if len(expected) != len(actual):
        return [
            Violation(
                "H3",
                None,
                f"{len(expected)} assistant messages from the events",
                f"{len(actual)} in the history",
            )
        ]
    return []


# -- pytest helper --------------------------------------------------------------------------------


def assert_invariants(trace: Trace, *, only: Sequence[str] | None = None, window: int = 3) -> None:
    """Assert the trace keeps every invariant; the message shows each violation in context."""
    violations = check_trace(trace, only=only)
    if not violations:
        return
    lines = [f"{len(violations)} invariant violation(s):"]
    for violation in violations:
        lines.append(f"  {violation}")
        if violation.index is not None:
            lo = max(0, violation.index - window)
            for k in range(lo, min(len(trace.events), violation.index + window + 1)):
                mark = ">>" if k == violation.index else "  "
                lines.append(f"    {mark} [{k}] {event_to_dict(trace.events[k])}")
    raise AssertionError("\n".join(lines))
