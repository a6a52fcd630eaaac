"""The reference loop's tool phase, as a part of `LoopMachine`: after a response that asked for
tools, decide call by call what runs (hooks, limits, unknown tools, arguments that are not JSON),
record each result with its `tool_executed` event, and append the results in call order.

A mixin so the machine stays one object with one state (the h11 way); it names what it uses of
the machine, and `LoopMachine` provides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentsim.core._events import AgentEvent, FailureKind, Phase, ToolExecuted
from agentsim.core._history import Message, ToolCallBlock, ToolResultMessage
from agentsim.core._tools import Toolset
from agentsim.loop._actions import Action, Done, RunTool, ToolsDone, parse_arguments
from agentsim.loop._hooks import Hooks, Skip, Terminate
from agentsim.loop._protocol import LoopOptions

__all__ = ["ToolPhase"]


class ToolPhase:
    """Tool handling of `LoopMachine` (see the module comment)."""

    run_id: str
    options: LoopOptions
    history: list[Message]
    outbox: list[AgentEvent]
    state: str
    _tools: Toolset
    _hooks: Hooks
    _step: int
    _tool_calls_made: int
    _executed: set[str]
    _pending_calls: list[ToolCallBlock]
    _results: dict[str, ToolResultMessage]
    _next_call: int

    if TYPE_CHECKING:  # provided by LoopMachine

        def _t(self, now: float) -> float: ...
        def _next_seq(self) -> int: ...
        def _enter(self, phase: Phase, t: float) -> None: ...
        def _fail(self, kind: FailureKind, message: str, now: float) -> Done: ...
        def _finish_step(self, now: float) -> Done | None: ...
        def _begin_step(self, now: float) -> Action: ...

    # -- tools ------------------------------------------------------------------------------------

    def next_tool(self, now: float) -> Action:
        """The next call to run, answering on the spot those that need no running."""
        while self._next_call < len(self._pending_calls):
            call = self._pending_calls[self._next_call]
            self._next_call += 1
            if self._hooks.on_tool_call is not None:
                decision = self._hooks.on_tool_call(call)
                if isinstance(decision, Terminate):
                    return self._fail(
                        "hook", f"on_tool_call hook terminated {call.name}: {decision.reason}", now
                    )
                if isinstance(decision, Skip):
                    stop = self._answer(call, False, None, f"skipped: {decision.reason}", 0.0, now)
                    if stop is not None:
                        return stop
                    continue
            limit = self.options.max_tool_calls
            if limit is not None and self._tool_calls_made >= limit:
                return self._fail("usage_limit", f"tool call limit of {limit} reached", now)
            self._tool_calls_made += 1
            tool = self._tools.get(call.name)
            if tool is None:
                stop = self._answer(call, False, None, f"unknown tool {call.name!r}", 0.0, now)
            else:
                arguments = parse_arguments(call.arguments)
                if isinstance(arguments, dict):
                    return RunTool(call, tool, arguments)
                stop = self._answer(call, False, None, arguments, 0.0, now)
            if stop is not None:
                return stop
        return ToolsDone()

    def tool_finished(
        self,
        call: ToolCallBlock,
        *,
        ok: bool,
        output: str | None,
        error: str | None,
        duration: float,
        now: float,
    ) -> Action | None:
        """Report a tool's result. `None`: go on (with `next_tool`, or wait for other tools)."""
        if self.state != "tools":
            raise RuntimeError(f"tool_finished in state {self.state!r}: the driver is out of step")
        return self._answer(call, ok, output, error, duration, now)

    def _answer(
        self,
        call: ToolCallBlock,
        ok: bool,
        output: str | None,
        error: str | None,
        duration: float,
        now: float,
    ) -> Action | None:
        t = self._t(now)
        self._enter("act", t)
        self._executed.add(call.call_id)
        self.outbox.append(
            ToolExecuted(
                self._next_seq(),
                t,
                self.run_id,
                call.call_id,
                call.name,
                ok,
                output,
                error,
                round(duration, 9),
            )
        )
        content = output if ok else error
        result = ToolResultMessage(call.call_id, content or "", not ok)
        self._results[call.call_id] = result
        if self._hooks.on_tool_result is not None:
            decision = self._hooks.on_tool_result(call, result)
            if isinstance(decision, Terminate):
                return self._fail(
                    "hook",
                    f"on_tool_result hook terminated after {call.name}: {decision.reason}",
                    now,
                )
        return None

    def tools_done(self, now: float) -> Action:
        """Every call of the step has its result: append them and go to the next step."""
        self._append_results("")
        return self._next_step(now, "still asked for tools")

    def _next_step(self, now: float, asking: str) -> Action:
        """End the step and begin the next one, unless the step limit is reached: a step that
        asks for another (`asking`: for tools, or by pausing its turn) then fails the run."""
        if (stop := self._finish_step(now)) is not None:
            return stop
        if self._step >= self.options.max_steps:
            return self._fail(
                "max_steps",
                f"step {self._step} of max_steps={self.options.max_steps} {asking}",
                now,
            )
        return self._begin_step(now)

    def _append_results(self, missing: str) -> None:
        for call in self._pending_calls:
            result = self._results.get(call.call_id)
            if result is None:
                result = ToolResultMessage(call.call_id, missing, True)
            self.history.append(result)
        self._pending_calls = []
