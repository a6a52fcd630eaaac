"""The reference loop's state machine: pure, synchronous, no I/O (DESIGN §3; the h11 approach).

The driver (`_driver.py`) feeds it inputs - a chunk, the end of a stream, a provider error, a tool's
result, an interruption - each with the current virtual time, and performs the `Action` it returns:
send a request, run a tool, sleep a backoff, or stop because the run is over. Every agent event is
built here and appended to `outbox`, which the driver drains; the history is kept here too. Because
nothing here awaits, the machine can be stepped millions of times a second and replayed exactly.

States: ``idle`` -> ``streaming`` -> (``tools`` | ``backoff``) -> ``streaming`` ... -> ``done``.

Choices the design leaves open, made here:
- A step is a request, its streamed response and its tools: `step_finished` comes after the tools.
- An empty text or reasoning delta is dropped (no event, no block).
- "Before the attempt has produced any chunk" (retries) is read as "before the attempt forwarded
  any event": a usage chunk ahead of an overloaded error does not stop the retry, since the rule
  exists so that a retry never repeats output the consumer has seen.
- Tool calls that never completed are left out of the history; they are reported as pending.
- A response that finished with ``pause`` and asked for no tools continues the run with a new
  step (the paused response sent back as it is), as pydantic-ai continues a suspended response
  (`pydantic_ai/models/anthropic/_streaming.py`: ``pause_turn`` sets ``state = 'suspended'``;
  `pydantic_ai/models/_continuation.py` re-issues the request). The output of the run stays the
  final step's text (EV7), as after a tool step. A ``pause`` with tool calls is a tool step.
- A protocol slip by the provider (arguments for a call that never started) fails the run with
  kind ``provider``: guessing would hide exactly the bugs agentsim exists to show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    ErrorKind,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.core._events import (
    AgentEvent,
    CancelReason,
    ContextCompressed,
    ContextInfo,
    FailureKind,
    Phase,
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
from agentsim.core._tools import Toolset
from agentsim.core._usage import Usage
from agentsim.loop._actions import (
    Action,
    Backoff,
    Done,
    OpenCall,
    SendRequest,
)
from agentsim.loop._context import compress, estimate_tokens
from agentsim.loop._hooks import Guardrails, Hooks, Terminate
from agentsim.loop._protocol import LoopOptions, ProviderRequest
from agentsim.loop._tool_phase import ToolPhase

__all__ = ["LoopMachine"]

_TEXT, _REASONING, _CALL = 0, 1, 2
_HANDLERS: dict[type, str] = {
    TextChunk: "_on_text",
    ReasoningChunk: "_on_reasoning",
    ToolCallStartChunk: "_on_call_start",
    ToolCallArgsChunk: "_on_call_args",
    ToolCallEndChunk: "_on_call_end",
    UsageChunk: "_on_usage",
    FinishChunk: "_on_finish",
    ErrorChunk: "_on_error_chunk",
}


class LoopMachine(ToolPhase):
    """One run of the reference loop as a state machine. See the module comment."""

    def __init__(
        self,
        *,
        run_id: str,
        messages: tuple[Message, ...],
        options: LoopOptions,
        tools: Toolset,
        hooks: Hooks | None = None,
        guardrails: Guardrails | None = None,
    ) -> None:
        self.run_id = run_id
        self.options = options
        self.history: list[Message] = list(messages)
        self.outbox: list[AgentEvent] = []
        self.state = "idle"
        self.outcome: TerminalEvent | None = None
        self._tools = tools
        self._tool_specs = tools.specs()
        self._hooks = hooks or Hooks()
        self._guardrails = guardrails or Guardrails()
        self._start = 0.0
        self._t_now: float | None = None  # the clock reading `_delta_t` last rounded, and to what
        self._t_value = 0.0
        self._seq = 0
        self._phase: Phase | None = None
        self._step = 0
        self._attempt = 0
        self._requests = 0
        self._tool_calls_made = 0
        self._usage_total = Usage()
        self._all_text: list[str] = []
        self._all_thinking: list[str] = []
        self._started_calls: list[str] = []
        self._executed: set[str] = set()
        self._reset_response()
        # Calls of the current step awaiting results, and the results so far (by call id).
        self._pending_calls: list[ToolCallBlock] = []
        self._step_message = AssistantMessage(())
        self._results: dict[str, ToolResultMessage] = {}
        self._next_call = 0

    def _reset_response(self) -> None:
        # Blocks of the response being streamed: [kind, parts, signature-or-call].
        self._blocks: list[list[Any]] = []
        self._open: dict[int, OpenCall] = {}
        self._completed: dict[int, ToolCallBlock] = {}  # block position -> completed call
        self._step_text: list[str] = []
        self._step_usage = Usage()
        self._finish: str | None = None
        self._attempt_seq = self._seq  # events forwarded since: output seen by the consumer
        self._response_bytes = 0

    # -- small helpers ----------------------------------------------------------------------------

    def _t(self, now: float) -> float:
        return round(now - self._start, 9)

    def _delta_t(self, now: float) -> float:
        """`_t(now)` for the deltas: a stream's chunks mostly arrive at one virtual instant, and
        rounding is a good part of what a delta costs, so the last reading is kept (by identity:
        an asyncio loop's clock hands out the same float until it moves)."""
        if now is not self._t_now:
            self._t_now, self._t_value = now, round(now - self._start, 9)
        return self._t_value

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _enter(self, phase: Phase, t: float) -> None:
        if self._phase != phase:
            self._phase = phase
            self._seq += 1
            self.outbox.append(PhaseChanged(self._seq, t, self.run_id, phase))

    def take_events(self) -> list[AgentEvent]:
        events = self.outbox
        self.outbox = []
        return events

    # -- start, steps and requests ----------------------------------------------------------------

    def start(self, now: float) -> Action:
        self._start, self._t_now = now, None
        self.state = "streaming"
        self.outbox.append(RunStarted(self._next_seq(), 0.0, self.run_id))
        if self.options.max_steps == 0:
            return self._fail("max_steps", "max_steps is 0: no step may run", now)
        return self._begin_step(now)

    def _begin_step(self, now: float) -> Action:
        step = self._step + 1
        if self._hooks.before_step is not None:
            decision = self._hooks.before_step(step, tuple(self.history))
            if isinstance(decision, Terminate):
                return self._fail("hook", f"before_step hook terminated: {decision.reason}", now)
        self._step = step
        self._attempt = 0
        self.outbox.append(StepStarted(self._next_seq(), self._t(now), self.run_id, step))
        return self._send(now)

    def _send(self, now: float) -> Action:
        limit = self.options.max_requests
        if limit is not None and self._requests >= limit:
            return self._fail("usage_limit", f"request limit of {limit} reached", now)
        self._attempt += 1
        request = ProviderRequest(self._step, self._attempt, tuple(self.history), self._tool_specs)
        if self.options.context_budget is not None:
            request = self._manage_context(request, now)
        if self._guardrails.request is not None:
            refusal = self._guardrails.request(request)
            if refusal is not None:
                return self._fail("guardrail", f"request refused: {refusal}", now)
        self._requests += 1
        self._reset_response()
        self.state = "streaming"
        return SendRequest(request)

    def _manage_context(self, request: ProviderRequest, now: float) -> ProviderRequest:
        """Seed 004's context management: announce the request's size; compress it if over."""
        budget = self.options.context_budget
        assert budget is not None
        t, messages = self._t(now), request.messages
        tokens = estimate_tokens(messages)
        self.outbox.append(
            ContextInfo(self._next_seq(), t, self.run_id, self._step, tokens, len(messages), budget)
        )
        done = self._compress(messages, budget=budget, strategy=self.options.context_strategy)
        if done is None:
            return request
        fitted, strategy = done
        self.outbox.append(
            ContextCompressed(
                self._next_seq(),
                t,
                self.run_id,
                self._step,
                strategy,
                tokens,
                estimate_tokens(fitted),
                len(messages),
                len(fitted),
            )
        )
        return dataclasses.replace(request, messages=fitted)

    def _compress(
        self, messages: tuple[Message, ...], *, budget: int, strategy: str
    ) -> tuple[tuple[Message, ...], str] | None:
        return compress(messages, budget=budget, strategy=strategy)

    # -- chunks -----------------------------------------------------------------------------------

    def chunk(self, chunk: Chunk, now: float) -> Action | None:
        """Feed one chunk. `None`: keep reading. Anything else: stop reading and do it."""
        # By name, not a dict of bound methods on the instance: that would be a reference cycle,
        # and every run's machine (its history, events, tools) would wait for the GC.
        handler: Callable[[Chunk, float], Action | None] = getattr(self, _HANDLERS[type(chunk)])
        return handler(chunk, now)

    def _count_bytes(self, text: str, now: float) -> Action | None:
        limit = self.options.max_response_bytes
        if limit is not None:
            self._response_bytes += len(text.encode())
            if self._response_bytes > limit:
                return self._fail(
                    "response_too_large",
                    f"response exceeded max_response_bytes={limit} ({self._response_bytes} bytes)",
                    now,
                )
        return None

    def _on_text(self, chunk: TextChunk, now: float) -> Action | None:
        text = chunk.text
        if not text:
            return None
        if self._hooks.on_text_delta is not None:
            decision = self._hooks.on_text_delta(text)
            if isinstance(decision, Terminate):
                return self._fail("hook", f"on_text_delta hook terminated: {decision.reason}", now)
        if self.options.max_response_bytes is not None and (stop := self._count_bytes(text, now)):
            return stop
        t = self._delta_t(now)
        if self._phase != "answer":
            self._enter("answer", t)
        self._seq += 1
        self.outbox.append(TextDelta(self._seq, t, self.run_id, text))
        blocks = self._blocks
        if blocks and blocks[-1][0] == _TEXT:
            blocks[-1][1].append(text)
        else:
            blocks.append([_TEXT, [text], None])
        self._all_text.append(text)
        self._step_text.append(text)
        return None

    def _on_reasoning(self, chunk: ReasoningChunk, now: float) -> Action | None:
        text = chunk.text
        blocks = self._blocks
        if not text:
            if chunk.signature is not None:
                for block in reversed(blocks):
                    if block[0] == _REASONING:
                        block[2] = chunk.signature
                        break
            return None
        if self.options.max_response_bytes is not None and (stop := self._count_bytes(text, now)):
            return stop
        t = self._delta_t(now)
        if self._phase != "think":
            self._enter("think", t)
        self._seq += 1
        self.outbox.append(ThinkingDelta(self._seq, t, self.run_id, text))
        if blocks and blocks[-1][0] == _REASONING:
            blocks[-1][1].append(text)
            if chunk.signature is not None:
                blocks[-1][2] = chunk.signature
        else:
            blocks.append([_REASONING, [text], chunk.signature])
        self._all_thinking.append(text)
        return None

    def _on_call_start(self, chunk: ToolCallStartChunk, now: float) -> Action | None:
        if chunk.index in self._open:
            # A new call on an index still open: the previous call on it is complete.
            self._complete(chunk.index, now)
        t = self._t(now)
        self._enter("act", t)
        call = OpenCall(chunk.call_id, chunk.name, len(self._blocks))
        self._blocks.append([_CALL, None, None])
        self._open[chunk.index] = call
        self._started_calls.append(chunk.call_id)
        self.outbox.append(
            ToolCallStarted(self._next_seq(), t, self.run_id, chunk.call_id, chunk.name)
        )
        return None

    def _on_call_args(self, chunk: ToolCallArgsChunk, now: float) -> Action | None:
        call = self._open.get(chunk.index)
        if call is None:
            return self._provider_failure(
                f"tool-call arguments for index {chunk.index}, which has no open call", now
            )
        if not chunk.delta:
            return None
        if self.options.max_response_bytes is not None and (
            stop := self._count_bytes(chunk.delta, now)
        ):
            return stop
        t = self._delta_t(now)
        if self._phase != "act":
            self._enter("act", t)
        call.parts.append(chunk.delta)
        self._seq += 1
        self.outbox.append(ToolCallDelta(self._seq, t, self.run_id, call.call_id, chunk.delta))
        return None

    def _on_call_end(self, chunk: ToolCallEndChunk, now: float) -> Action | None:
        if chunk.index not in self._open:
            return self._provider_failure(
                f"tool-call end for index {chunk.index}, which has no open call", now
            )
        self._complete(chunk.index, now)
        return None

    def _complete(self, index: int, now: float) -> None:
        call = self._open.pop(index)
        arguments = "".join(call.parts)
        block = ToolCallBlock(call.call_id, call.name, arguments)
        self._completed[call.position] = block
        t = self._t(now)
        self._enter("act", t)
        self.outbox.append(
            ToolCallCompleted(self._next_seq(), t, self.run_id, call.call_id, call.name, arguments)
        )

    def _complete_open_calls(self, now: float) -> None:
        for index in sorted(self._open):
            self._complete(index, now)

    def _on_usage(self, chunk: UsageChunk, now: float) -> Action | None:
        self._step_usage = chunk.usage
        return None

    def _on_finish(self, chunk: FinishChunk, now: float) -> Action | None:
        self._finish = chunk.reason
        self._complete_open_calls(now)
        return None

    def _on_error_chunk(self, chunk: ErrorChunk, now: float) -> Action | None:
        return self.provider_error(
            kind=chunk.kind, message=chunk.message, retryable=chunk.retryable, now=now
        )

    # -- end of a response ------------------------------------------------------------------------

    def provider_error(
        self, *, kind: ErrorKind, message: str, retryable: bool, now: float
    ) -> Action:
        """The provider failed (error chunk, raised error, or stall past the idle timeout).

        Retried only if the attempt forwarded nothing yet: a retry must not repeat output the
        consumer has already seen. Chunks that forward nothing (usage, an empty delta) do not count.
        """
        forwarded = self._seq != self._attempt_seq
        if retryable and not forwarded and self._attempt <= self.options.max_retries:
            delay = self.options.backoff(self._attempt)
            self.state = "backoff"
            self.outbox.append(
                RetryScheduled(
                    self._next_seq(),
                    self._t(now),
                    self.run_id,
                    self._step,
                    self._attempt,
                    delay,
                    kind,
                    message,
                )
            )
            return Backoff(delay)
        why = "not retryable" if not retryable else "retries exhausted"
        if retryable and forwarded:
            why = "after output was forwarded"
        return self._provider_failure(f"{kind} error ({why}): {message}", now)

    def _provider_failure(self, message: str, now: float) -> Action:
        return self._fail("provider", message, now)

    def backoff_elapsed(self, now: float) -> Action:
        return self._send(now)

    def stream_ended(self, now: float) -> Action:
        """The provider stream ended (normally, or truncated if no finish came)."""
        if self._finish is None:
            return self._fail("stream_truncated", "the stream ended without a finish", now)
        self._complete_open_calls(now)
        message = self._append_response()
        self._usage_total = self._usage_total + self._step_usage
        # From here on the calls are in the history and owe results, whatever happens next.
        self.state = "tools"
        self._step_message = message
        self._pending_calls = list(message.tool_calls)
        self._results = {}
        self._next_call = 0
        if self._guardrails.response is not None:
            refusal = self._guardrails.response(message)
            if refusal is not None:
                return self._fail("guardrail", f"response refused: {refusal}", now)
        limit = self.options.max_total_tokens
        if limit is not None and self._usage_total.total_tokens > limit:
            return self._fail(
                "usage_limit",
                f"token limit of {limit} exceeded ({self._usage_total.total_tokens} tokens)",
                now,
            )
        if not self._pending_calls:
            if self._finish == "pause":
                return self._continue_paused(now)
            return self._finish_step(now) or self._complete_run(now)
        return self.next_tool(now)

    def _continue_paused(self, now: float) -> Action:
        """The provider paused the turn (Anthropic's ``pause_turn``): the response is in the
        history as it came; the next step sends it back so that the model continues, with no
        tool results in between. Bounded by `max_steps` like a step that asked for tools."""
        return self._next_step(now, "paused its turn")

    def _append_response(self) -> AssistantMessage:
        """Build the assistant message from the response so far; append it if it has content."""
        blocks: list[Block] = []
        for position, (kind, parts, extra) in enumerate(self._blocks):
            if kind == _CALL:
                call = self._completed.get(position)
                if call is not None:
                    blocks.append(call)
            elif kind == _TEXT:
                if blocks and isinstance(blocks[-1], TextBlock):
                    # A dropped (incomplete) call between two text runs: keep the blocks merged.
                    blocks[-1] = TextBlock(blocks[-1].text + "".join(parts))
                else:
                    blocks.append(TextBlock("".join(parts)))
            elif blocks and isinstance(blocks[-1], ReasoningBlock):
                last = blocks[-1]
                blocks[-1] = ReasoningBlock(last.text + "".join(parts), extra or last.signature)
            else:
                blocks.append(ReasoningBlock("".join(parts), extra))
        self._blocks = []
        message = AssistantMessage(tuple(blocks))
        if blocks:
            self.history.append(message)
        return message

    def _finish_step(self, now: float) -> Done | None:
        self.outbox.append(
            StepFinished(
                self._next_seq(),
                self._t(now),
                self.run_id,
                self._step,
                self._finish or "other",
                self._step_usage,
            )
        )
        if self._hooks.after_step is not None:
            decision = self._hooks.after_step(self._step, self._step_message)
            if isinstance(decision, Terminate):
                return self._fail("hook", f"after_step hook terminated: {decision.reason}", now)
        return None

    def _complete_run(self, now: float) -> Action:
        t = self._t(now)
        self._enter("summarize", t)
        outcome = RunCompleted(
            self._next_seq(),
            t,
            self.run_id,
            "".join(self._step_text),
            self._usage_total,
            self._step,
        )
        return self._end(outcome)

    # -- endings ----------------------------------------------------------------------------------

    def _seal_history(self, why: str) -> None:
        """Leave the history resumable (H2): close the response and answer every call."""
        if self.state == "streaming":
            self._complete_open_calls_silently()
            message = self._append_response()
            self._pending_calls = list(message.tool_calls)
            self._results = {}
        if self._pending_calls:
            self._append_results(why)

    def _complete_open_calls_silently(self) -> None:
        # Calls still open at an interruption never completed: they stay out of the history.
        self._open.clear()

    def _pending_ids(self) -> tuple[str, ...]:
        return tuple(c for c in self._started_calls if c not in self._executed)

    def _fail(self, kind: FailureKind, message: str, now: float) -> Done:
        self._seal_history(f"no result: the run failed ({kind}) before this call's result came")
        outcome = RunFailed(
            self._next_seq(),
            self._t(now),
            self.run_id,
            kind,
            message,
            "".join(self._all_text),
            "".join(self._all_thinking),
            self._pending_ids(),
        )
        return self._end(outcome)

    def timeout(self, now: float) -> Done:
        return self._fail("timeout", f"run deadline of {self.options.deadline:g}s reached", now)

    def cancel(self, reason: CancelReason, now: float) -> Done:
        self._seal_history("cancelled: the run was cancelled before this call's result came")
        outcome = RunCancelled(
            self._next_seq(),
            self._t(now),
            self.run_id,
            reason,
            "".join(self._all_text),
            "".join(self._all_thinking),
            self._pending_ids(),
        )
        return self._end(outcome)

    def _end(self, outcome: TerminalEvent) -> Done:
        self.state = "done"
        self.outcome = outcome
        self.outbox.append(outcome)
        return Done(outcome)
