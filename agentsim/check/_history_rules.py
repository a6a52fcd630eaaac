"""The history invariants H1-H4 (DESIGN §4): the final history and every request stay valid.

H1/H2 hold for every loop (a history the provider rejects is never acceptable); H3 compares each
assistant message with its step's deltas - without reasoning blocks for a loop that does not
declare ``reasoning``, and with the reasoning signatures the provider sent for one that does; H4
applies H1's alternation to the messages of every request the provider received.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentsim.check._trace import Trace, Violation, facts, invariant, terminal
from agentsim.core._events import (
    AgentEvent,
    RunCompleted,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecuted,
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

__all__ = ["expected_messages"]


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


@invariant("H1")
def _h1(trace: Trace) -> list[Violation]:
    if trace.history is None:
        return []
    end = terminal(trace)
    completed = end is not None and isinstance(end[1], RunCompleted)
    return _alternation(trace.history, "H1") if completed else []


@invariant("H2")
def _h2(trace: Trace) -> list[Violation]:
    if trace.history is None:
        return []
    end = terminal(trace)
    if end is not None and isinstance(end[1], RunCompleted):
        return []
    return _alternation(trace.history, "H2")


def expected_messages(events: Sequence[AgentEvent]) -> list[AssistantMessage]:
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
    blocks = message.blocks
    if type(message) is AssistantMessage and type(blocks) is tuple:
        for block in blocks:
            if isinstance(block, ReasoningBlock):
                break
        else:
            return message  # (what it would be rebuilt as: no reasoning block to strip)
    return AssistantMessage(
        tuple(
            ReasoningBlock(b.text) if isinstance(b, ReasoningBlock) else b for b in message.blocks
        )
    )


def _without_reasoning(messages: Sequence[AssistantMessage]) -> list[AssistantMessage]:
    kept = (
        AssistantMessage(tuple(b for b in m.blocks if not isinstance(b, ReasoningBlock)))
        for m in messages
    )
    return [m for m in kept if m.blocks]


def _signatures(trace: Trace, actual: Sequence[AssistantMessage]) -> list[Violation]:
    """A completed run keeps every reasoning signature the provider sent (DESIGN §3.2, seed 001:
    a reasoning block sent back without its signature is rejected by the provider)."""
    end = terminal(trace)
    if trace.streams is None or end is None or not isinstance(end[1], RunCompleted):
        return []
    sent = [
        s for log in trace.streams if log.finished and log.error is None for s in log.signatures
    ]
    kept = [
        b.signature
        for m in actual
        for b in m.blocks
        if isinstance(b, ReasoningBlock) and b.signature is not None
    ]
    if sent != kept:
        return [Violation("H3", None, f"the reasoning signatures sent {sent}", str(kept))]
    return []


@invariant("H3")
def _h3(trace: Trace) -> list[Violation]:
    if trace.history is None or trace.dropped:
        return []
    expected = expected_messages(trace.events)
    history = [
        m for m in trace.history[trace.initial_messages :] if isinstance(m, AssistantMessage)
    ]
    actual = [_without_signatures(m) for m in history]
    if not trace.judges("reasoning"):
        # A loop without reasoning support may drop reasoning: judge the rest of the content.
        expected, actual = _without_reasoning(expected), _without_reasoning(actual)
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
    out = _results_agree(trace)
    return out or (_signatures(trace, history) if trace.judges("reasoning") else [])


def _results_agree(trace: Trace) -> list[Violation]:
    """Each tool result is flagged as its `tool_executed` says (DESIGN §3.3): ``is_error`` for a
    call that failed, was unknown, had invalid arguments or was skipped, and only for those. (The
    text is not compared: a loop may format a result for its provider differently.)"""
    assert trace.history is not None
    if ToolExecuted not in facts(trace).kinds:
        return []  # no tool ran (the events test the type exactly, as below)
    results = {
        m.call_id: m
        for m in trace.history[trace.initial_messages :]
        if isinstance(m, ToolResultMessage)
    }
    for i, event in enumerate(trace.events):
        if type(event) is not ToolExecuted:
            continue
        result = results.get(event.call_id)
        if result is not None and result.is_error != (not event.ok):
            return [
                Violation(
                    "H3",
                    i,
                    f"the result of {event.call_id!r} with is_error={not event.ok}",
                    f"is_error={result.is_error}",
                )
            ]
    return []


@invariant("H4")
def _h4(trace: Trace) -> list[Violation]:
    """Every request the loop sent was itself valid for the provider (H1's alternation on its
    messages): context management must never cut between a tool call and its result."""
    for number, request in enumerate(trace.requests or (), start=1):
        found = _alternation(request.messages, "H4")
        if found:
            v = found[0]
            return [Violation("H4", None, f"request {number}: {v.expected}", v.seen)]
    return []
