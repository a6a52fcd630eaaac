"""More deliberately buggy loops (issue 12 part 3): realistic single bugs of the kinds of code the
seeds hold - timers, retries, cancellation, tool dispatch, message building, usage, context
windows - each showing only under some streams. Same shape as `tests.buggy_loops`: the reference
loop with one method overridden by a few lines, registered in `MORE_BUGS` (merged into `BUGS`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from agentsim import (
    AssistantMessage,
    CancelReason,
    LoopOptions,
    ReasoningBlock,
    ReferenceRun,
    TextBlock,
    ToolCallBlock,
)
from agentsim.loop._actions import Action, Done, SendRequest
from agentsim.loop._machine import LoopMachine
from tests.buggy_loops import BuggyLoop

# -- cancellation honoured late (EV9) -------------------------------------------------------------


class _DeferredCancelRun(ReferenceRun):
    """A driver whose cancel callback only sets a flag while the run is in one of `defer_in`
    states; the machine looks at the flag at its next transition (the classic
    ``if cancel.cancelled: ...`` checked after ``await sleep(backoff)``)."""

    defer_in: tuple[str, ...] = ()

    def _interrupt(self, reason: str) -> None:
        machine = self._machine
        if reason == "cancelled" and machine.state in self.defer_in:
            machine.cancel_seen = True  # type: ignore[attr-defined]
            return
        super()._interrupt(reason)


class _ChecksCancelLate(LoopMachine):
    cancel_seen = False

    def _late(self, action: Any, now: float) -> Any:
        if self.cancel_seen and not isinstance(action, Done) and self.state != "done":
            return self.cancel("cancelled", now)
        return action

    def backoff_elapsed(self, now: float) -> Action:
        return self._late(super().backoff_elapsed(now), now)  # type: ignore[no-any-return]

    def tool_finished(self, call: ToolCallBlock, **kwargs: Any) -> Action | None:
        action = super().tool_finished(call, **kwargs)
        return self._late(action, kwargs["now"]) if self.cancel_seen else action

    def stream_ended(self, now: float) -> Action:
        return self._late(super().stream_ended(now), now)  # type: ignore[no-any-return]


class _CancelAfterBackoff(_DeferredCancelRun):
    defer_in = ("backoff",)


class _CancelAfterTool(_DeferredCancelRun):
    defer_in = ("tools",)


class _CancelAfterStream(_DeferredCancelRun):
    """Keeps reading the stream to its end before looking at the cancel token."""

    defer_in = ("streaming",)


# -- retries (EV8) --------------------------------------------------------------------------------


class RetriesEverything(LoopMachine):
    """Retries every error before output, fatal ones (auth, invalid request) included."""

    def provider_error(self, *, kind: Any, message: str, retryable: bool, now: float) -> Action:
        return super().provider_error(kind=kind, message=message, retryable=True, now=now)


class RetriesRateLimitsOnly(LoopMachine):
    """Retries only HTTP 429 (``rate_limit``): an overloaded or server error, or a stall, that the
    provider marked retryable fails the run."""

    def provider_error(self, *, kind: Any, message: str, retryable: bool, now: float) -> Action:
        retryable = retryable and kind == "rate_limit"
        return super().provider_error(kind=kind, message=message, retryable=retryable, now=now)


class RetriesOneTooFew(LoopMachine):
    """max_retries off by one: ``attempt < max_retries`` where ``<=`` was meant."""

    def provider_error(self, *, kind: Any, message: str, retryable: bool, now: float) -> Action:
        retryable = retryable and self._attempt < self.options.max_retries
        return super().provider_error(kind=kind, message=message, retryable=retryable, now=now)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ShiftedBackoff(LoopOptions):
    def backoff(self, attempt: int) -> float:
        return super().backoff(attempt + 1)  # the exponent counts from 1, not 0


def _shifted_backoff(options: LoopOptions) -> LoopOptions:
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    return _ShiftedBackoff(**fields)


def _no_idle_timeout(options: LoopOptions) -> LoopOptions:
    """The idle timeout is read from the options but never armed."""
    return dataclasses.replace(options, idle_timeout=None)


def _no_request_limit(options: LoopOptions) -> LoopOptions:
    """max_requests is only checked per step, not per retry: here, not at all."""
    return dataclasses.replace(options, max_requests=None)


def _zero_steps_means_one(options: LoopOptions) -> LoopOptions:
    """``max(1, max_steps)``: a loop that always makes its first request."""
    return dataclasses.replace(options, max_steps=max(1, options.max_steps))


# -- endings (EV10) -------------------------------------------------------------------------------


class TruncationCompletes(LoopMachine):
    """A stream that ends without a finish is taken as finished (``finish or "stop"``)."""

    def stream_ended(self, now: float) -> Action:
        if self._finish is None:
            self._finish = "stop"
        return super().stream_ended(now)


class ErrorAfterOutputEndsStream(LoopMachine):
    """An error chunk after output is taken as the end of the stream, not as a failure."""

    def _on_error_chunk(self, chunk: Any, now: float) -> Action | None:
        if self._seq != self._attempt_seq:
            return self.stream_ended(now)
        return super()._on_error_chunk(chunk, now)


# -- tools ----------------------------------------------------------------------------------------


class UnknownToolRaises(LoopMachine):
    """Tool dispatch by ``tools[name]``: an unknown tool raises KeyError out of the loop."""

    def next_tool(self, now: float) -> Action:
        if self._next_call < len(self._pending_calls):
            call = self._pending_calls[self._next_call]
            if self._tools.get(call.name) is None:
                raise KeyError(call.name)
        return super().next_tool(now)


class InvalidArgumentsRaise(LoopMachine):
    """``json.loads(arguments)`` unguarded: arguments that are not JSON crash the loop."""

    def next_tool(self, now: float) -> Action:
        if self._next_call < len(self._pending_calls):
            call = self._pending_calls[self._next_call]
            if self._tools.get(call.name) is not None:
                json.loads(call.arguments or "{}")
        return super().next_tool(now)


class ResultsInCompletionOrder(LoopMachine):
    """Concurrent tools' results appended as each finishes, not in call order."""

    def tool_finished(self, call: ToolCallBlock, **kwargs: Any) -> Action | None:
        order = self.__dict__.setdefault("_finished_order", [])
        order.append(call.call_id)
        return super().tool_finished(call, **kwargs)

    def _append_results(self, missing: str) -> None:
        order: list[str] = self.__dict__.get("_finished_order", [])
        rank = {c: k for k, c in enumerate(order)}
        self._pending_calls.sort(key=lambda c: rank.get(c.call_id, len(rank)))
        order.clear()
        super()._append_results(missing)


class ResultsBeforeCall(LoopMachine):
    """Tool results appended before the assistant message that asked for them."""

    def _append_results(self, missing: str) -> None:
        message = self._step_message
        super()._append_results(missing)
        if message.tool_calls and message in self.history:
            self.history.remove(message)
            self.history.append(message)


# -- message building (H3) ------------------------------------------------------------------------


def _rebuild(
    machine: LoopMachine, message: AssistantMessage, blocks: list[Any]
) -> AssistantMessage:
    changed = dataclasses.replace(message, blocks=tuple(blocks))
    if message.blocks and machine.history and machine.history[-1] is message:
        machine.history[-1] = changed
    return changed


class DropsArgumentlessCalls(LoopMachine):
    """``if call.arguments:`` when building the message: a call without arguments is lost."""

    def _append_response(self) -> AssistantMessage:
        message = super()._append_response()
        blocks = [
            b for b in message.blocks if not (isinstance(b, ToolCallBlock) and not b.arguments)
        ]
        return _rebuild(self, message, blocks)


class MergesTextAcrossCalls(LoopMachine):
    """All text of a response joined into one block before the calls ("text = ''.join(...)")."""

    def _append_response(self) -> AssistantMessage:
        message = super()._append_response()
        texts = [b for b in message.blocks if isinstance(b, TextBlock)]
        if len(texts) < 2:
            return message
        blocks: list[Any] = []
        for b in message.blocks:
            if b is texts[0]:
                blocks.append(TextBlock("".join(t.text for t in texts)))
            elif not isinstance(b, TextBlock):
                blocks.append(b)
        return _rebuild(self, message, blocks)


class LosesSignatures(LoopMachine):
    """Reasoning kept as plain text: the block's signature is dropped (the provider then rejects
    the next request)."""

    def _append_response(self) -> AssistantMessage:
        message = super()._append_response()
        blocks = [
            ReasoningBlock(b.text) if isinstance(b, ReasoningBlock) else b for b in message.blocks
        ]
        return _rebuild(self, message, blocks)


# -- payloads (EV7) and phases (EV6) --------------------------------------------------------------


class CountsFinalUsageTwice(LoopMachine):
    """The last step's usage added to the total again when the run completes."""

    def _complete_run(self, now: float) -> Action:
        self._usage_total = self._usage_total + self._step_usage
        return super()._complete_run(now)


class LosesThinkingOnCancel(LoopMachine):
    """Only the text is kept for a cancelled run's partials; the thinking is forgotten."""

    def cancel(self, reason: CancelReason, now: float) -> Done:
        self._all_thinking = []
        return super().cancel(reason, now)


class PendingIncludesExecuted(LoopMachine):
    """``pending_tool_calls`` = every call started, executed or not."""

    def _pending_ids(self) -> tuple[str, ...]:
        return tuple(self._started_calls)


class PhasePerStep(LoopMachine):
    """The phase tracker is per step: each step announces its first phase again."""

    def _begin_step(self, now: float) -> Action:
        self._phase = None
        return super()._begin_step(now)


class ErrorsAsPlainResults(LoopMachine):
    """Tool results never set ``is_error``: a failed, unknown or skipped call reads as success."""

    def _append_results(self, missing: str) -> None:
        self._results = {
            k: dataclasses.replace(r, is_error=False) for k, r in self._results.items()
        }
        super()._append_results(missing)


# -- requests (H4) --------------------------------------------------------------------------------


class TrimsContextNaively(LoopMachine):
    """A context window of the last three messages (after the system and first user message),
    cut wherever it falls - between a tool call and its result too."""

    def _send(self, now: float) -> Action:
        action = super()._send(now)
        messages = action.request.messages if isinstance(action, SendRequest) else ()
        head = 2 if messages and messages[0].role == "system" else 1
        if isinstance(action, SendRequest) and len(messages) > head + 3:
            trimmed = (*messages[:head], *messages[-3:])
            return SendRequest(dataclasses.replace(action.request, messages=trimmed))
        return action


def _both(machine: type[LoopMachine], driver: type[ReferenceRun]) -> Callable[..., BuggyLoop]:
    return partial(BuggyLoop, machine=machine, driver=driver)


late_cancel_after_backoff = _both(_ChecksCancelLate, _CancelAfterBackoff)
late_cancel_after_tool = _both(_ChecksCancelLate, _CancelAfterTool)
late_cancel_after_stream = _both(_ChecksCancelLate, _CancelAfterStream)
ignores_idle_timeout = partial(BuggyLoop, options=_no_idle_timeout)
retries_fatal_errors = partial(BuggyLoop, machine=RetriesEverything)
retries_rate_limits_only = partial(BuggyLoop, machine=RetriesRateLimitsOnly)
max_retries_off_by_one = partial(BuggyLoop, machine=RetriesOneTooFew)
backoff_exponent_off_by_one = partial(BuggyLoop, options=_shifted_backoff)
request_limit_ignored = partial(BuggyLoop, options=_no_request_limit)
max_steps_zero_runs_a_step = partial(BuggyLoop, options=_zero_steps_means_one)
truncation_completes = partial(BuggyLoop, machine=TruncationCompletes)
error_after_output_ends_stream = partial(BuggyLoop, machine=ErrorAfterOutputEndsStream)
unknown_tool_crashes = partial(BuggyLoop, machine=UnknownToolRaises)
invalid_json_crashes = partial(BuggyLoop, machine=InvalidArgumentsRaise)
results_in_completion_order = partial(BuggyLoop, machine=ResultsInCompletionOrder)
results_before_call = partial(BuggyLoop, machine=ResultsBeforeCall)
argumentless_call_dropped = partial(BuggyLoop, machine=DropsArgumentlessCalls)
text_merged_across_calls = partial(BuggyLoop, machine=MergesTextAcrossCalls)
reasoning_signature_lost = partial(BuggyLoop, machine=LosesSignatures)
final_usage_counted_twice = partial(BuggyLoop, machine=CountsFinalUsageTwice)
partial_thinking_lost = partial(BuggyLoop, machine=LosesThinkingOnCancel)
pending_includes_executed = partial(BuggyLoop, machine=PendingIncludesExecuted)
phase_not_carried_over = partial(BuggyLoop, machine=PhasePerStep)
tool_errors_not_flagged = partial(BuggyLoop, machine=ErrorsAsPlainResults)
context_cut_between_call_and_result = partial(BuggyLoop, machine=TrimsContextNaively)

MORE_BUGS: dict[str, Callable[..., BuggyLoop]] = {
    "late_cancel_after_backoff": late_cancel_after_backoff,
    "late_cancel_after_tool": late_cancel_after_tool,
    "late_cancel_after_stream": late_cancel_after_stream,
    "ignores_idle_timeout": ignores_idle_timeout,
    "retries_fatal_errors": retries_fatal_errors,
    "retries_rate_limits_only": retries_rate_limits_only,
    "max_retries_off_by_one": max_retries_off_by_one,
    "backoff_exponent_off_by_one": backoff_exponent_off_by_one,
    "request_limit_ignored": request_limit_ignored,
    "max_steps_zero_runs_a_step": max_steps_zero_runs_a_step,
    "truncation_completes": truncation_completes,
    "error_after_output_ends_stream": error_after_output_ends_stream,
    "unknown_tool_crashes": unknown_tool_crashes,
    "invalid_json_crashes": invalid_json_crashes,
    "results_in_completion_order": results_in_completion_order,
    "results_before_call": results_before_call,
    "argumentless_call_dropped": argumentless_call_dropped,
    "text_merged_across_calls": text_merged_across_calls,
    "reasoning_signature_lost": reasoning_signature_lost,
    "final_usage_counted_twice": final_usage_counted_twice,
    "partial_thinking_lost": partial_thinking_lost,
    "pending_includes_executed": pending_includes_executed,
    "phase_not_carried_over": phase_not_carried_over,
    "tool_errors_not_flagged": tool_errors_not_flagged,
    "context_cut_between_call_and_result": context_cut_between_call_and_result,
}

# The invariant each bug must break (it may break others too); "crash" for a loop that raises.
MORE_DETECTED_BY: dict[str, str] = {
    "late_cancel_after_backoff": "EV9",
    "late_cancel_after_tool": "EV9",
    "late_cancel_after_stream": "EV9",
    "ignores_idle_timeout": "EV8",
    "retries_fatal_errors": "EV8",
    "retries_rate_limits_only": "EV8",
    "max_retries_off_by_one": "EV8",
    "backoff_exponent_off_by_one": "EV8",
    "request_limit_ignored": "EV10",
    "max_steps_zero_runs_a_step": "EV4",
    "truncation_completes": "EV10",
    "error_after_output_ends_stream": "EV10",
    "unknown_tool_crashes": "crash",
    "invalid_json_crashes": "crash",
    "results_in_completion_order": "H",
    "results_before_call": "H",
    "argumentless_call_dropped": "H",
    "text_merged_across_calls": "H3",
    "reasoning_signature_lost": "H3",
    "final_usage_counted_twice": "EV7",
    "partial_thinking_lost": "EV7",
    "pending_includes_executed": "EV7",
    "phase_not_carried_over": "EV6",
    "tool_errors_not_flagged": "H3",
    "context_cut_between_call_and_result": "H4",
}
