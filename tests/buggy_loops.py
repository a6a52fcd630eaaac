"""Deliberately buggy agent loops: the quality suite's targets (issue 4, "the way hypothesis
proves itself"). The default properties must find every one of them.

Each variant is the reference loop with one small, targeted change - a `LoopMachine` or
`ReferenceRun` subclass overriding one method by a line or two, or different options handed to
the machine - never a copy of the loop. Each is one bug class, and `BUGS` maps its name to a
factory that takes the scenario's ``hooks`` and ``guardrails`` like `ReferenceLoop` does, so
the command line reaches every one: ``agentsim fuzz --loop tests.buggy_loops:partial_text_lost``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from agentsim import (
    AssistantMessage,
    CancelReason,
    FailureKind,
    Guardrails,
    Hooks,
    LoopOptions,
    Phase,
    Provider,
    ReasoningBlock,
    ReferenceLoop,
    ReferenceRun,
    RunRequest,
    Runtime,
    StepFinished,
    TextBlock,
    Toolset,
    Usage,
)
from agentsim.loop._actions import Action, Done, ToolsDone
from agentsim.loop._features import parse_features
from agentsim.loop._machine import LoopMachine


class BuggyLoop(ReferenceLoop):
    """The reference loop built from another machine or driver class, or with other options."""

    def __init__(
        self,
        *,
        machine: type[LoopMachine] = LoopMachine,
        driver: type[ReferenceRun] = ReferenceRun,
        options: Callable[[LoopOptions], LoopOptions] = lambda options: options,
        hooks: Hooks | None = None,
        guardrails: Guardrails | None = None,
        features: Iterable[str] | None = None,
    ) -> None:
        super().__init__(hooks=hooks, guardrails=guardrails)
        self.machine, self.driver, self.options = machine, driver, options
        if features is not None:
            self.features = frozenset(parse_features(features))

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> ReferenceRun:
        machine = self.machine(
            run_id=runtime.ids.new("run"),
            messages=request.messages,
            options=self.options(request.options),
            tools=tools,
            hooks=self.hooks,
            guardrails=self.guardrails,
        )
        return self.driver(machine, request=request, provider=provider)


class LosesStepTextOnCancel(LoopMachine):
    """Partial text lost on cancel: the step in progress keeps its text in a buffer that is only
    committed when the step ends, so a cancellation reports the earlier steps' text alone."""

    def cancel(self, reason: CancelReason, now: float) -> Done:
        del self._all_text[len(self._all_text) - len(self._step_text) :]
        return super().cancel(reason, now)


class ForgetsCallsOnCancel(LoopMachine):
    """A dangling tool call after cancel: the calls of the step in flight get no result."""

    def cancel(self, reason: CancelReason, now: float) -> Done:
        self._pending_calls = []
        return super().cancel(reason, now)


class DeadlineBetweenRequestsOnly(ReferenceRun):
    """A timeout that does not bound a stalled stream: the deadline is only acted on between
    requests, so a stream that stalls (or crawls) outlives it."""

    def _interrupt(self, reason: str) -> None:
        if reason == "timeout" and self._streaming:
            return
        super()._interrupt(reason)


class ClosesStepAfterTerminal(LoopMachine):
    """Events after the terminal: a failure mid-step still closes the step afterwards."""

    def _fail(self, kind: FailureKind, message: str, now: float) -> Done:
        done = super()._fail(kind, message, now)
        if self._step:
            t = self._t(now)
            finished = StepFinished(
                self._next_seq(), t, self.run_id, self._step, "other", self._step_usage
            )
            self.outbox.append(finished)
        return done


class ForgetsActPhase(LoopMachine):
    """Phase flapping: every tool event announces the ``act`` phase again."""

    def _enter(self, phase: Phase, t: float) -> None:
        if phase == "act":
            self._phase = None
        super()._enter(phase, t)


class OverwritesUsage(LoopMachine):
    """Usage not summed: the run's total is overwritten by each step's usage."""

    def stream_ended(self, now: float) -> Action:
        self._usage_total = Usage()
        return super().stream_ended(now)


class RetriesAfterOutput(LoopMachine):
    """A retry after output was forwarded: the check for forwarded output is lost."""

    def provider_error(self, *, kind: Any, message: str, retryable: bool, now: float) -> Action:
        self._attempt_seq = self._seq
        return super().provider_error(kind=kind, message=message, retryable=retryable, now=now)


class ResultsInReverse(LoopMachine):
    """Tool results out of call order: appended last call first."""

    def _append_results(self, missing: str) -> None:
        self._pending_calls.reverse()
        super()._append_results(missing)


class TerminateKeepsGoing(LoopMachine):
    """A hook's terminate that keeps going: the run fails with kind ``hook``, and then the step
    is finished and the next one started as if nothing happened."""

    def _fail(self, kind: FailureKind, message: str, now: float) -> Done:
        tools = self.state == "tools"
        done = super()._fail(kind, message, now)
        if kind == "hook" and tools:
            return ToolsDone()  # type: ignore[return-value]  # the bug: not Done
        return done


class GroupsBlocksByKind(LoopMachine):
    """Assistant content out of stream order: blocks grouped text, reasoning, calls."""

    def _append_response(self) -> AssistantMessage:
        message = super()._append_response()
        order = {TextBlock: 0, ReasoningBlock: 1}
        blocks = sorted(message.blocks, key=lambda b: order.get(type(b), 2))
        grouped = dataclasses.replace(message, blocks=tuple(blocks))
        if message.blocks and self.history[-1] is message:
            self.history[-1] = grouped
        return grouped


class SwallowsFirstFragment(LoopMachine):
    """A tool call's first argument fragment is kept but never forwarded as a delta."""

    def _on_call_args(self, chunk: Any, now: float) -> Action | None:
        call = self._open.get(chunk.index)
        if call is not None and not call.parts and chunk.delta:
            call.parts.append(chunk.delta)
            return None
        return super()._on_call_args(chunk, now)


def _one_more_step(options: LoopOptions) -> LoopOptions:
    """max_steps off by one: the loop counts steps from 0 and stops after max_steps + 1."""
    return dataclasses.replace(options, max_steps=options.max_steps + 1)


partial_text_lost = partial(BuggyLoop, machine=LosesStepTextOnCancel)
dangling_tool_call = partial(BuggyLoop, machine=ForgetsCallsOnCancel)
stalled_stream_unbounded = partial(BuggyLoop, driver=DeadlineBetweenRequestsOnly)
max_steps_off_by_one = partial(BuggyLoop, options=_one_more_step)
events_after_terminal = partial(BuggyLoop, machine=ClosesStepAfterTerminal)
phase_flapping = partial(BuggyLoop, machine=ForgetsActPhase)
usage_not_summed = partial(BuggyLoop, machine=OverwritesUsage)
retry_after_output = partial(BuggyLoop, machine=RetriesAfterOutput)
results_out_of_order = partial(BuggyLoop, machine=ResultsInReverse)
hook_terminate_keeps_going = partial(BuggyLoop, machine=TerminateKeepsGoing)
blocks_out_of_order = partial(BuggyLoop, machine=GroupsBlocksByKind)
first_fragment_swallowed = partial(BuggyLoop, machine=SwallowsFirstFragment)

BUGS: dict[str, Callable[..., BuggyLoop]] = {  # tests.buggy_loops_more adds the rest
    "partial_text_lost": partial_text_lost,
    "dangling_tool_call": dangling_tool_call,
    "stalled_stream_unbounded": stalled_stream_unbounded,
    "max_steps_off_by_one": max_steps_off_by_one,
    "events_after_terminal": events_after_terminal,
    "phase_flapping": phase_flapping,
    "usage_not_summed": usage_not_summed,
    "retry_after_output": retry_after_output,
    "results_out_of_order": results_out_of_order,
    "hook_terminate_keeps_going": hook_terminate_keeps_going,
    "blocks_out_of_order": blocks_out_of_order,
    "first_fragment_swallowed": first_fragment_swallowed,
}
