"""The option-bound invariants (DESIGN §4): EV8 (retries, idle timeout, deadline, max_steps), EV9
(cancellation is honoured at once) and EV10 (endings agree with what the provider sent).

Each clause belongs to the feature whose rule it enforces (DESIGN §3.4-§3.7, §3.11) and judges a
loop only if it declares that feature (`Trace.judges`). The clauses that compare the loop with the
outside world - whether an error was retryable, how long the loop waited on a stream, when the
cancellation was requested, what the provider sent last - read the harness's and the scripted
provider's records (`Trace.cancel_requested_at`, `Trace.streams`), never the loop's own events, so
they hold a loop under test to the same standard as the reference loop. Without those records
(a trace decoded from an SSE transcript) they are skipped.
"""

from __future__ import annotations

from agentsim.check._trace import (
    EPSILON,
    StreamLog,
    Trace,
    Violation,
    facts,
    invariant,
    name_of,
    terminal,
)
from agentsim.core._events import (
    AgentEvent,
    RetryScheduled,
    RunCompleted,
    RunFailed,
    StepFinished,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
)

__all__: list[str] = []

_OUTPUT = (TextDelta, ThinkingDelta, ToolCallStarted, ToolCallDelta)
_OPENERS = (StepStarted, RetryScheduled)  # each one opens a provider request (an attempt)


def _retryable(trace: Trace, log: StreamLog) -> str | None:
    """Why the attempt `log` may be retried (its error was retryable, or it stalled past the idle
    timeout), or None."""
    if log.error is not None:
        return f"a retryable {log.error[0]} error" if log.error[1] else None
    idle = trace.options.idle_timeout
    if idle is not None and log.longest_wait >= idle - EPSILON:
        return f"a stall of {idle:g}s (the idle timeout)"
    return None


def _request_number(events: list[AgentEvent] | tuple[AgentEvent, ...], upto: int) -> int:
    """How many requests the events before index `upto` opened (steps and retries)."""
    return sum(1 for e in events[:upto] if isinstance(e, _OPENERS))


def _retries(trace: Trace) -> list[Violation]:
    streams = trace.streams
    found = terminal(trace)
    failed = bool(streams) and found is not None and isinstance(found[1], RunFailed)
    if not failed and RetryScheduled not in facts(trace).kinds:
        return []  # no retry to judge, and no failure that should have been retried
    options = trace.options
    out: list[Violation] = []
    events = tuple(trace.events)
    retries: dict[int, int] = {}
    forwarded = False  # output forwarded in the current attempt
    step = 0
    for i, event in enumerate(events):
        if type(event) is StepStarted:
            step, forwarded = event.step, False
        elif isinstance(event, _OUTPUT):
            forwarded = True
        elif type(event) is RetryScheduled:
            n = retries[event.step] = retries.get(event.step, 0) + 1
            if forwarded:
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
            number = _request_number(events, i)
            if streams is not None and 0 < number <= len(streams):
                log = streams[number - 1]
                if _retryable(trace, log) is None:
                    what = f"a {log.error[0]} error that is not retryable" if log.error else None
                    out.append(
                        Violation(
                            "EV8",
                            i,
                            "a retry only of a retryable error or an idle stall",
                            f"a retry of request {number} after "
                            + (what or "a response that did not fail"),
                        )
                    )
            forwarded = False
    if streams and found is not None and isinstance(found[1], RunFailed):
        i, end = found[0], found[1]
        number = _request_number(events, i)
        why = _retryable(trace, streams[-1]) if number == len(streams) else None
        done = retries.get(step, 0)
        if (
            end.kind == "provider"
            and why is not None
            and not forwarded
            and done < options.max_retries
        ):
            out.append(
                Violation(
                    "EV8",
                    i,
                    f"a retry of {why} before any output "
                    f"(retry {done + 1} of max_retries={options.max_retries})",
                    f"run_failed ({end.kind}): {end.message}",
                )
            )
    return out


def _idle(trace: Trace) -> list[Violation]:
    idle = trace.options.idle_timeout
    if idle is None or not trace.streams:
        return []
    for log in trace.streams:
        if log.longest_wait > idle + EPSILON:
            return [
                Violation(
                    "EV8",
                    None,
                    f"no wait for a chunk longer than idle_timeout={idle:g}s",
                    f"request {log.number} waited {log.longest_wait:g}s",
                )
            ]
    return []


def _deadline(trace: Trace) -> list[Violation]:
    options = trace.options
    events = trace.events
    out: list[Violation] = []
    # The deadline bounds everything (DESIGN §3.5): nothing may happen after it, whatever the
    # ending; a loop whose deadline misses a slow stream shows up here even if it ends well.
    late = next((i for i, e in enumerate(events) if e.t > options.deadline + EPSILON), None)
    if late is not None:
        out.append(
            Violation(
                "EV8",
                late,
                f"no event after the deadline {options.deadline:g}",
                f"{name_of(events[late])} at t = {events[late].t:g}",
            )
        )
    for log in trace.streams or ():
        if log.closed is not None and log.closed > options.deadline + EPSILON:
            out.append(
                Violation(
                    "EV8",
                    None,
                    f"every stream closed by the deadline {options.deadline:g}",
                    f"request {log.number} closed at t = {log.closed:g}",
                )
            )
            break
    found = terminal(trace)
    if found is not None and isinstance(found[1], RunFailed):
        i, end = found[0], found[1]
        if end.kind == "timeout" and abs(end.t - options.deadline) > EPSILON:
            out.append(
                Violation(
                    "EV8", i, f"a timeout at t = deadline {options.deadline:g}", f"t = {end.t:g}"
                )
            )
    return out


def _max_steps(trace: Trace) -> list[Violation]:
    options = trace.options
    events = trace.events
    found = terminal(trace)
    if found is None or not isinstance(found[1], RunFailed) or found[1].kind != "max_steps":
        return []
    i = found[0]
    starts = [k for k, e in enumerate(events) if type(e) is StepStarted]
    last_step = max((e.step for e in events if type(e) is StepStarted), default=0)
    # A step asks for another when it asked for tools or its response paused the turn.
    asked = bool(starts) and any(
        type(e) is ToolCallCompleted or (type(e) is StepFinished and e.finish_reason == "pause")
        for e in events[starts[-1] :]
    )
    if options.max_steps == 0:
        if last_step:
            return [Violation("EV8", i, "no step when max_steps is 0", f"{last_step} steps")]
    elif last_step != options.max_steps or not asked:
        return [
            Violation(
                "EV8",
                i,
                f"max_steps failure only after step {options.max_steps} asked for tools or paused",
                f"failure after step {last_step}"
                + ("" if asked else " without tool calls or a pause"),
            )
        ]
    return []


@invariant("EV8")
def _ev8(trace: Trace) -> list[Violation]:
    out: list[Violation] = []
    if trace.judges("retries"):
        out += _retries(trace)
    if trace.judges("idle_timeout"):
        out += _idle(trace)
    if trace.judges("deadline"):
        out += _deadline(trace)
    if trace.judges("max_steps"):
        out += _max_steps(trace)
    return out


@invariant("EV9")
def _ev9(trace: Trace) -> list[Violation]:
    """Cancellation is honoured at once (DESIGN §3.7): the run ends when it was requested, with
    no event, request or open stream after it."""
    at = trace.cancel_requested_at
    if at is None or trace.dropped or not trace.judges("cancellation"):
        return []
    events = trace.events
    found = terminal(trace)
    if found is not None and found[1].t < at - EPSILON:
        return []  # the run had ended before the cancellation arrived
    out: list[Violation] = []
    late = next((i for i, e in enumerate(events) if e.t > at + EPSILON), None)
    if late is not None:
        out.append(
            Violation(
                "EV9",
                late,
                f"the run to end when cancellation was requested (t = {at:g})",
                f"{name_of(events[late])} at t = {events[late].t:g}",
            )
        )
    for log in trace.streams or ():
        if log.opened > at + EPSILON:
            out.append(
                Violation(
                    "EV9",
                    None,
                    f"no provider request after the cancellation at t = {at:g}",
                    f"request {log.number} at t = {log.opened:g}",
                )
            )
            break
        if log.opened <= at + EPSILON and (log.closed is None or log.closed > at + EPSILON):
            closed = "never" if log.closed is None else f"at t = {log.closed:g}"
            out.append(
                Violation(
                    "EV9",
                    None,
                    f"the open stream closed when cancellation was requested (t = {at:g})",
                    f"request {log.number} closed {closed}",
                )
            )
            break
    return out


@invariant("EV10")
def _ev10(trace: Trace) -> list[Violation]:
    """Endings agree with what the provider sent (DESIGN §3.6, §3.11): an error that is not
    retried, or a stream without a finish, ends the run (kind ``provider`` /
    ``stream_truncated``); a completed run's last response finished; requests stay in the limit."""
    streams = trace.streams
    if not streams:
        return []
    events = trace.events
    out: list[Violation] = []
    openers = [e for e in events if isinstance(e, _OPENERS)]
    if trace.judges("provider_errors"):
        for log in streams:
            bad = log.error is not None or log.truncated
            if bad and log.number < len(openers) and type(openers[log.number]) is StepStarted:
                what = f"a {log.error[0]} error" if log.error else "a stream without a finish"
                out.append(
                    Violation(
                        "EV10",
                        None,
                        f"{what} in request {log.number} ends the run or is retried",
                        f"step {openers[log.number].step} started after it",
                    )
                )
                break
        found = terminal(trace)
        last = streams[-1]
        # (The openers before the terminal event, the last event, are all of them.)
        if found is not None and len(openers) == last.number:
            i, end = found
            if isinstance(end, RunCompleted) and (
                last.error or last.truncated or not last.finished
            ):
                what = "an error" if last.error else "no finish"
                out.append(
                    Violation(
                        "EV10",
                        i,
                        "a completed run's last response to have finished",
                        f"request {last.number} had {what}",
                    )
                )
            elif isinstance(end, RunFailed) and end.kind not in ("timeout", "usage_limit"):
                wanted = (
                    "provider" if last.error else "stream_truncated" if last.truncated else None
                )
                if wanted is not None and end.kind != wanted:
                    out.append(Violation("EV10", i, f"run_failed kind {wanted!r}", repr(end.kind)))
    limit = trace.options.max_requests
    if trace.judges("limits") and limit is not None and len(streams) > limit:
        out.append(
            Violation(
                "EV10", None, f"at most max_requests={limit} requests", f"{len(streams)} requests"
            )
        )
    return out
