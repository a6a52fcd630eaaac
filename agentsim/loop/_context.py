"""Context management for the reference loop (seed 004): fit each request into a token budget.

Seed 004 estimates a request's size as its serialized bytes / 4, emits ``ContextInfo`` before each
model request, and when the estimate exceeds the budget compresses the messages - ``truncate``
drops the oldest messages after the first two (system and first user), ``summarize`` replaces the
middle with one "[Previous conversation summary]" message - and emits ``ContextCompressed``.

Choices here, and why:
- The unit dropped is a *turn*: an assistant message together with the tool results that answer
  it. Dropping single messages is the classic bug of such code (a tool result whose call was cut,
  or a call whose result was cut, and the provider rejects the request); H4 checks every request.
- The summary is built locally and deterministically (the dropped turns' text, clipped), not by
  asking the model as seed 004 does: an extra provider request would change the scripts every
  scenario plays, and a summary's wording is not what the harness tests.
- Only the request is compressed; the run's history stays complete, so the history a run returns
  is still every step's message and result (H1-H3 judge it as before).
- The newest turn is always kept, even when it alone is over the budget: a request must still
  say what the model is answering.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentsim.core._history import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)

__all__ = ["SUMMARY_PREFIX", "compress", "estimate_tokens", "turns"]

SUMMARY_PREFIX = "[Previous conversation summary]"
_SUMMARY_CHARS = 200


def _text(message: Message) -> str:
    if isinstance(message, SystemMessage | UserMessage):
        return message.text
    if isinstance(message, ToolResultMessage):
        return message.content
    return "".join(
        getattr(b, "text", "") or getattr(b, "arguments", "") or "" for b in message.blocks
    )


def estimate_tokens(messages: Sequence[Message]) -> int:
    """About bytes / 4, as seed 004 estimates: each message's text plus a small envelope."""
    size = sum(len(_text(m).encode()) + 16 for m in messages)
    return size // 4


def _head(messages: Sequence[Message]) -> int:
    """How many leading messages are always kept: the system messages and the first user one."""
    k = 0
    while k < len(messages) and isinstance(messages[k], SystemMessage):
        k += 1
    if k < len(messages) and isinstance(messages[k], UserMessage):
        k += 1
    return k


def turns(messages: Sequence[Message]) -> list[list[Message]]:
    """The messages as droppable units: an assistant message with the results that follow it."""
    units: list[list[Message]] = []
    for message in messages:
        if isinstance(message, ToolResultMessage) and units:
            first = units[-1][0]
            if isinstance(first, AssistantMessage):
                units[-1].append(message)
                continue
        units.append([message])
    return units


def _summary(dropped: Sequence[Message]) -> UserMessage:
    digest = " ".join(t for t in (_text(m).strip() for m in dropped) if t)
    if len(digest) > _SUMMARY_CHARS:
        digest = digest[: _SUMMARY_CHARS - 3] + "..."
    return UserMessage(f"{SUMMARY_PREFIX}\n{digest}\n[End of summary - continuing conversation]")


def compress(
    messages: Sequence[Message], *, budget: int, strategy: str
) -> tuple[tuple[Message, ...], str] | None:
    """The messages fitted into `budget` tokens with `strategy`, and the strategy's name
    (``truncate (summary too long)`` when a summary would not make the request smaller); None if
    they already fit, or nothing can be dropped."""
    original = estimate_tokens(messages)
    if original <= budget:
        return None
    head = tuple(messages[: _head(messages)])
    units = turns(messages[len(head) :])
    summarize = strategy == "summarize"

    def build(k: int) -> tuple[Message, ...]:
        """The request with the oldest `k` turns dropped (and summarized)."""
        dropped = [m for unit in units[:k] for m in unit]
        kept = tuple(m for unit in units[k:] for m in unit)
        return (*head, _summary(dropped), *kept) if summarize and dropped else (*head, *kept)

    k = 0
    while k < len(units) - 1 and estimate_tokens(build(k)) > budget:
        k += 1
    if k == 0:
        return None
    fitted = build(k)
    if summarize and estimate_tokens(fitted) >= original:
        summarize = False  # `build` reads it: the same turns dropped, no summary
        return build(k), "truncate (summary too long)"
    return fitted, strategy
