"""Agent events: what a loop emits while it runs (DESIGN §2).

Every event carries `seq` (1, 2, 3 ... per run), `t` (virtual seconds since the run started) and
`run_id`; the payload fields follow. Field names are stable: they are what SSE transcripts,
snapshots and reproducer files contain.

Events (like chunks) are slotted dataclasses that are *not* frozen: a frozen dataclass costs four
times as much to build, and events are built once per chunk on the hot path. Treat them as
immutable; use `dataclasses.replace` to derive a changed copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from agentsim.core._records import RecordFamily
from agentsim.core._usage import Usage

__all__ = [
    "EVENT_TYPES",
    "FAILURE_KINDS",
    "PHASES",
    "TERMINAL_EVENTS",
    "AgentEvent",
    "CancelReason",
    "FailureKind",
    "OutputReady",
    "OutputRetry",
    "Phase",
    "PhaseChanged",
    "RetryScheduled",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "StepFinished",
    "StepStarted",
    "SubRunFinished",
    "SubRunMode",
    "SubRunOutcome",
    "SubRunStarted",
    "TerminalEvent",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallCompleted",
    "ToolCallDelta",
    "ToolCallStarted",
    "ToolExecuted",
    "event_from_dict",
    "event_to_dict",
]

Phase = Literal["think", "answer", "act", "summarize"]
PHASES: tuple[Phase, ...] = ("think", "answer", "act", "summarize")
FailureKind = Literal[
    "max_steps",
    "timeout",
    "provider",
    "stream_truncated",
    "guardrail",
    "hook",
    "usage_limit",
    "response_too_large",
]
FAILURE_KINDS: tuple[FailureKind, ...] = (
    "max_steps",
    "timeout",
    "provider",
    "stream_truncated",
    "guardrail",
    "hook",
    "usage_limit",
    "response_too_large",
)
CancelReason = Literal["cancelled", "consumer_dropped"]


@dataclass(slots=True)
class RunStarted:
    type: ClassVar[str] = "run_started"
    seq: int
    t: float
    run_id: str


@dataclass(slots=True)
class StepStarted:
    type: ClassVar[str] = "step_started"
    seq: int
    t: float
    run_id: str
    step: int


@dataclass(slots=True)
class PhaseChanged:
    type: ClassVar[str] = "phase_changed"
    seq: int
    t: float
    run_id: str
    phase: Phase


@dataclass(slots=True)
class ThinkingDelta:
    type: ClassVar[str] = "thinking_delta"
    seq: int
    t: float
    run_id: str
    text: str


@dataclass(slots=True)
class TextDelta:
    type: ClassVar[str] = "text_delta"
    seq: int
    t: float
    run_id: str
    text: str


@dataclass(slots=True)
class ToolCallStarted:
    type: ClassVar[str] = "tool_call_started"
    seq: int
    t: float
    run_id: str
    call_id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    type: ClassVar[str] = "tool_call_delta"
    seq: int
    t: float
    run_id: str
    call_id: str
    delta: str


@dataclass(slots=True)
class ToolCallCompleted:
    type: ClassVar[str] = "tool_call_completed"
    seq: int
    t: float
    run_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ToolExecuted:
    """A tool call ran (or was answered without running: unknown tool, bad JSON, skipped).

    `output` is the tool result text when `ok`, `error` the explanatory text otherwise; `duration`
    is in virtual seconds.
    """

    type: ClassVar[str] = "tool_executed"
    seq: int
    t: float
    run_id: str
    call_id: str
    name: str
    ok: bool
    output: str | None
    error: str | None
    duration: float


@dataclass(slots=True)
class StepFinished:
    type: ClassVar[str] = "step_finished"
    seq: int
    t: float
    run_id: str
    step: int
    finish_reason: str
    usage: Usage


@dataclass(slots=True)
class ContextInfo:
    """Before a provider request, when context management is configured (seed 004): the
    request's estimated size in tokens and its number of messages."""

    type: ClassVar[str] = "context_info"
    seq: int
    t: float
    run_id: str
    step: int
    estimated_tokens: int
    messages: int
    budget: int


@dataclass(slots=True)
class ContextCompressed:
    """The request's messages were compressed to fit the token budget (seed 004): `strategy` is
    ``truncate`` or ``summarize``; tokens and message counts before and after."""

    type: ClassVar[str] = "context_compressed"
    seq: int
    t: float
    run_id: str
    step: int
    strategy: str
    original_tokens: int
    compressed_tokens: int
    messages_before: int
    messages_after: int


@dataclass(slots=True)
class RetryScheduled:
    type: ClassVar[str] = "retry_scheduled"
    seq: int
    t: float
    run_id: str
    step: int
    attempt: int
    delay: float
    error_kind: str
    error_message: str


SubRunMode = Literal["call", "handoff"]
SubRunOutcome = Literal["completed", "failed", "cancelled"]


@dataclass(slots=True)
class SubRunStarted:
    """A nested run began (seed 000's ``subagent_started``): an agent answering a tool call
    (`mode` ``call``: the call's result is the sub-run's answer) or one a handoff call passed the
    run to (``handoff``: it carries on the run's own steps). `sub_run_id` is unique across the
    run's tree; `parent_call_id` is the call it belongs to; `agent` names what runs."""

    type: ClassVar[str] = "sub_run_started"
    seq: int
    t: float
    run_id: str
    sub_run_id: str
    parent_call_id: str
    agent: str
    mode: SubRunMode


@dataclass(slots=True)
class SubRunFinished:
    """A nested run ended (``subagent_completed`` / ``subagent_failed``): its `outcome` and, when
    completed, its `output` (else the error or cancellation text)."""

    type: ClassVar[str] = "sub_run_finished"
    seq: int
    t: float
    run_id: str
    sub_run_id: str
    outcome: SubRunOutcome
    output: str


@dataclass(slots=True)
class RunCompleted:
    type: ClassVar[str] = "run_completed"
    seq: int
    t: float
    run_id: str
    output: str
    usage: Usage
    steps: int


@dataclass(slots=True)
class RunFailed:
    type: ClassVar[str] = "run_failed"
    seq: int
    t: float
    run_id: str
    kind: FailureKind
    message: str
    partial_text: str
    partial_thinking: str
    pending_tool_calls: tuple[str, ...]


@dataclass(slots=True)
class RunCancelled:
    type: ClassVar[str] = "run_cancelled"
    seq: int
    t: float
    run_id: str
    reason: CancelReason
    partial_text: str
    partial_thinking: str
    pending_tool_calls: tuple[str, ...]


@dataclass(slots=True)
class OutputRetry:
    """The loop rejected the model's final output at `step` and asks again (seed 004; pydantic-ai's
    ``retries={'output': N}``): `attempt` is the output retries used so far (1-based), `limit` the
    budget, `call_id` the output tool's call ("" when the output was plain text), `error` what
    validation said (the next request carries it to the model)."""

    type: ClassVar[str] = "output_retry"
    seq: int
    t: float
    run_id: str
    step: int
    attempt: int
    limit: int
    call_id: str
    error: str


@dataclass(slots=True)
class OutputReady:
    """The run's final output passed validation (seed 004's ``OutputReady``): `output` is its JSON
    text (a structured output's fields, or a plain text output as a JSON string). At most once,
    right before ``run_completed``."""

    type: ClassVar[str] = "output_ready"
    seq: int
    t: float
    run_id: str
    output: str


AgentEvent = (
    RunStarted
    | StepStarted
    | PhaseChanged
    | ThinkingDelta
    | TextDelta
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallCompleted
    | ToolExecuted
    | StepFinished
    | RetryScheduled
    | ContextInfo
    | ContextCompressed
    | OutputRetry
    | OutputReady
    | SubRunStarted
    | SubRunFinished
    | RunCompleted
    | RunFailed
    | RunCancelled
)
# The event classes, for a type test per event on hot paths (`type(e) in EVENT_TYPES` is about
# three times cheaper than `isinstance(e, AgentEvent)` on a union of twenty; a subclass still
# needs the isinstance).
EVENT_TYPES: frozenset[type] = frozenset(get_args(AgentEvent))
TerminalEvent = RunCompleted | RunFailed | RunCancelled
TERMINAL_EVENTS: tuple[type[TerminalEvent], ...] = (RunCompleted, RunFailed, RunCancelled)

EVENTS: RecordFamily[AgentEvent] = RecordFamily(
    "event",
    "type",
    [
        RunStarted,
        StepStarted,
        PhaseChanged,
        ThinkingDelta,
        TextDelta,
        ToolCallStarted,
        ToolCallDelta,
        ToolCallCompleted,
        ToolExecuted,
        StepFinished,
        RetryScheduled,
        ContextInfo,
        ContextCompressed,
        OutputRetry,
        OutputReady,
        SubRunStarted,
        SubRunFinished,
        RunCompleted,
        RunFailed,
        RunCancelled,
    ],
)
event_to_dict = EVENTS.to_dict
event_from_dict = EVENTS.from_dict
