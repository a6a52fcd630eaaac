"""Chunks: what a provider stream yields, in provider-neutral form (DESIGN §2).

Wire codecs turn each provider API's bytes into these; scripted providers and cassettes yield
them; the agent loop consumes them. Timing is not part of a chunk: a provider simply yields a
chunk when it is due, on the virtual clock.

A `UsageChunk` reports the usage of the current response *so far*; the last one of a step counts
(Anthropic and Gemini send running totals, OpenAI one final figure).

Chunks are slotted, non-frozen dataclasses for speed (see `_events`); treat them as immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from agentsim.core._records import RecordFamily
from agentsim.core._usage import Usage

__all__ = [
    "ERROR_KINDS",
    "FINISH_REASONS",
    "Chunk",
    "ErrorChunk",
    "ErrorKind",
    "FinishChunk",
    "FinishReason",
    "ReasoningChunk",
    "TextChunk",
    "ToolCallArgsChunk",
    "ToolCallEndChunk",
    "ToolCallStartChunk",
    "UsageChunk",
    "chunk_from_dict",
    "chunk_to_dict",
]

# `pause`: the provider paused a long turn (Anthropic's `pause_turn`, while server tools run); the
# response is complete but the turn is not: a loop sends it back as it is and continues with a new
# step (docs/scenarios.md). Only Anthropic says it natively; the other APIs' encoders
# write it as their `other`.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "other", "pause"]
FINISH_REASONS: tuple[FinishReason, ...] = (
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "other",
    "pause",
)
ErrorKind = Literal[
    "rate_limit", "overloaded", "server", "timeout", "invalid_request", "auth", "other"
]
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "rate_limit",
    "overloaded",
    "server",
    "timeout",
    "invalid_request",
    "auth",
    "other",
)


@dataclass(slots=True)
class TextChunk:
    """A piece of the answer text."""

    type: ClassVar[str] = "text"
    text: str


@dataclass(slots=True)
class ReasoningChunk:
    """A piece of reasoning ("thinking"); `signature` carries a provider's opaque signature."""

    type: ClassVar[str] = "reasoning"
    text: str
    signature: str | None = None


@dataclass(slots=True)
class ToolCallStartChunk:
    """A tool call begins. `index` tells parallel calls of one response apart."""

    type: ClassVar[str] = "tool_call_start"
    index: int
    call_id: str
    name: str


@dataclass(slots=True)
class ToolCallArgsChunk:
    """A fragment of a tool call's argument text (JSON split anywhere)."""

    type: ClassVar[str] = "tool_call_args"
    index: int
    delta: str


@dataclass(slots=True)
class ToolCallEndChunk:
    """A tool call's arguments are complete. Optional: a finish also completes open calls.

    `rejected` is the provider's message when it reported the call and rejected it (Groq's
    ``tool_use_failed``: the arguments failed its schema check, the call is in
    ``failed_generation``). The call is still the model's call, as the clients that handle it
    take it (pydantic-ai): a loop answers it like any other; the message is kept so that what
    the provider said stays visible (chunk views, converted scenarios).
    """

    type: ClassVar[str] = "tool_call_end"
    omit_when_none: ClassVar[frozenset[str]] = frozenset({"rejected"})
    index: int
    rejected: str | None = None

    def __repr__(self) -> str:
        # As before `rejected` existed when it is not set: encoders digest chunk reprs into
        # ids and signatures, which must not change for streams that do not use it.
        extra = "" if self.rejected is None else f", rejected={self.rejected!r}"
        return f"ToolCallEndChunk(index={self.index!r}{extra})"


@dataclass(slots=True)
class UsageChunk:
    """Usage of the current response so far; the last one of a step counts."""

    type: ClassVar[str] = "usage"
    usage: Usage


@dataclass(slots=True)
class FinishChunk:
    """The response is complete, for `reason`."""

    type: ClassVar[str] = "finish"
    reason: FinishReason


@dataclass(slots=True)
class ErrorChunk:
    """The provider reported an error (an HTTP error answer or an error inside the stream)."""

    type: ClassVar[str] = "error"
    kind: ErrorKind
    message: str = ""
    retryable: bool = False
    status: int | None = None


Chunk = (
    TextChunk
    | ReasoningChunk
    | ToolCallStartChunk
    | ToolCallArgsChunk
    | ToolCallEndChunk
    | UsageChunk
    | FinishChunk
    | ErrorChunk
)

CHUNKS: RecordFamily[Chunk] = RecordFamily(
    "chunk",
    "type",
    [
        TextChunk,
        ReasoningChunk,
        ToolCallStartChunk,
        ToolCallArgsChunk,
        ToolCallEndChunk,
        UsageChunk,
        FinishChunk,
        ErrorChunk,
    ],
)
chunk_to_dict = CHUNKS.to_dict
chunk_from_dict = CHUNKS.from_dict
