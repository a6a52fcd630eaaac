"""Structured-output invariants O1-O3 (seed 004's ``OutputReady``, pydantic-ai's output retries).

A loop that validates its final output (pydantic-ai's ``output_type`` / output validators with
``retries={'output': N}``) says so with two events: ``output_retry`` when validation rejected the
model's output and the loop asks again, ``output_ready`` when an output passed. A loop that emits
neither (the reference loop) is not judged by these; one that does is judged on what it emitted:

- O1: ``output_ready`` at most once, as the last event before ``run_completed`` (never before a
  failure or cancellation, never followed by more content); and a completed run that retried its
  output ends with an ``output_ready`` (it did get a valid output).
- O2: every ``output_retry`` is followed by a retry: the run goes on to the next step (unless it
  fails or is cancelled first), and, when the history is known and that step's request was sent
  (the provider saw at least that many requests), the model is told the error: a message after
  the rejected response (the output call's result, or the next user turn) contains the retry's
  error text (as is, or JSON-escaped as an API sends it).
- O3: the retries are numbered 1, 2, ... in order, within their budget (``attempt <= limit``).
"""

from __future__ import annotations

import json

from agentsim.check._trace import _TERMINALS, Trace, Violation, facts, invariant, name_of
from agentsim.core._events import (
    OutputReady,
    OutputRetry,
    RunCompleted,
    StepStarted,
    TextDelta,
    ToolCallStarted,
)
from agentsim.core._history import (
    AssistantMessage,
    Message,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
)

__all__: list[str] = []

_OUTPUT_EVENTS = frozenset({OutputReady, OutputRetry})
_RETRIES = frozenset({OutputRetry})


@invariant("O1")
def _o1(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_OUTPUT_EVENTS):
        return []  # a loop that does not validate output (the reference loop)
    events = trace.events
    ready = [i for i, e in enumerate(events) if isinstance(e, OutputReady)]
    if len(ready) > 1:
        return [Violation("O1", ready[1], "output_ready at most once", "a second output_ready")]
    if ready:
        i = ready[0]
        after = events[i + 1] if i + 1 < len(events) else None
        if after is None and trace.dropped:
            return []
        if not isinstance(after, RunCompleted):
            seen = "the end of the events" if after is None else name_of(after)
            return [Violation("O1", i, "run_completed right after output_ready", seen)]
        return []
    retried = any(isinstance(e, OutputRetry) for e in events)
    if retried and events and isinstance(events[-1], RunCompleted):
        return [
            Violation(
                "O1",
                len(events) - 1,
                "an output_ready before a completed run that retried its output",
                "run_completed without one",
            )
        ]
    return []


@invariant("O2")
def _o2(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_RETRIES):
        return []
    events = trace.events
    for i, event in enumerate(events):
        if not isinstance(event, OutputRetry):
            continue
        later = events[i + 1 :]
        step = next((e for e in later if isinstance(e, StepStarted)), None)
        ended = next((e for e in later if isinstance(e, _TERMINALS)), None)
        if step is None and (ended is None or isinstance(ended, RunCompleted)):
            seen = "the end of the events" if ended is None else name_of(ended)
            return [
                Violation("O2", i, f"a new step after the output retry of step {event.step}", seen)
            ]
        if step is not None and trace.history is not None and _asked(trace, step.step, ended):
            found = _told(trace, event)
            if found is not None:
                return [Violation("O2", i, found, "no message carrying it")]
    return []


def _asked(trace: Trace, step: int, ended: object) -> bool:
    """Was step `step`'s request sent? (A run cancelled, dropped or stopped by a limit between
    the retry and its request never told the model anything, and is not judged on it.)"""
    if trace.requests is not None:
        return len(trace.requests) >= step
    return isinstance(ended, RunCompleted)


def _told(trace: Trace, retry: OutputRetry) -> str | None:
    """None if the history tells the model `retry.error` after the rejected response, else
    what was expected."""
    assert trace.history is not None
    history = list(trace.history[trace.initial_messages :])
    error = retry.error
    forms = {error, json.dumps(error)[1:-1], json.dumps(error, ensure_ascii=False)[1:-1]}
    expected = f"the model told the output error {error!r} after step {retry.step}"
    if not error:
        return None
    if retry.call_id:
        for message in history:
            if isinstance(message, ToolResultMessage) and message.call_id == retry.call_id:
                return None if any(f in message.content for f in forms) else expected
        return expected
    start = _response_of(trace, retry.step, history)
    if start is None:
        return None  # the rejected response is not in the history (nothing said): not judged
    for message in history[start + 1 :]:
        if isinstance(message, AssistantMessage):
            break
        text = _text(message)
        if any(f in text for f in forms):
            return None
    return expected


def _response_of(trace: Trace, step: int, history: list[Message]) -> int | None:
    """The index in `history` of step `step`'s assistant message (found by its text and its
    calls: an empty response must not match a later message that only calls tools)."""
    events = trace.events
    opened = [k for k, e in enumerate(events) if isinstance(e, StepStarted) and e.step == step]
    if not opened:
        return None
    k = opened[0] + 1
    text = ""
    calls: list[str] = []
    while k < len(events) and not isinstance(events[k], StepStarted):
        event = events[k]
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, ToolCallStarted):
            calls.append(event.call_id)
        k += 1
    for index, message in enumerate(history):
        if isinstance(message, AssistantMessage):
            said = "".join(b.text for b in message.blocks if isinstance(b, TextBlock))
            called = [b.call_id for b in message.blocks if isinstance(b, ToolCallBlock)]
            if said == text and called == calls:
                return index
    return None


def _text(message: Message) -> str:
    if isinstance(message, UserMessage):
        return message.text
    if isinstance(message, ToolResultMessage):
        return message.content
    return str(getattr(message, "text", ""))


@invariant("O3")
def _o3(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_RETRIES):
        return []
    number = 0
    for i, event in enumerate(trace.events):
        if not isinstance(event, OutputRetry):
            continue
        number += 1
        if event.attempt != number:
            return [Violation("O3", i, f"output retry {number}", f"attempt {event.attempt}")]
        if event.attempt > event.limit:
            return [
                Violation(
                    "O3", i, f"at most {event.limit} output retries", f"retry {event.attempt}"
                )
            ]
    return []
