"""The reference loop's async driver: the thin I/O shell around `LoopMachine` (DESIGN §3).

It reads the provider stream, runs tools, sleeps backoffs and delivers the machine's events; the
machine decides everything else. Timeouts and cancellation need care to stay cheap: wrapping every
chunk read in `asyncio.timeout` would cost more than the rest of the loop. Instead the driver keeps
one timer for the run deadline, one lazily re-armed timer for the idle timeout, and a callback on
the cancel token. When one of them fires it records the interruption and, only if the driver is
inside a blocking await at that moment, cancels the driver's task; the driver claims that
cancellation at the await, undoes it (`Task.uncancel`) and hands the interruption to the machine.
If the driver is suspended at a `yield` instead (the consumer is busy), the interruption is handled
as soon as the consumer asks for the next event. Fast chunks therefore cost no timer work at all.
On trio (no `uncancel`, no `call_at`) the same machine runs under `agentsim.loop._trio_driver`,
chosen when the run is first iterated.

Closing the event iterator early (`aclose()`, or leaving `async for` and closing) is a consumer
drop: the machine records `run_cancelled` with reason ``consumer_dropped`` as the outcome, leaves
the history resumable, and nothing more is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from agentsim.core._backends import current_backend
from agentsim.core._chunks import Chunk
from agentsim.core._events import AgentEvent, TerminalEvent
from agentsim.core._history import Message
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Tool, ToolError, Toolset, tool_output_text
from agentsim.loop._actions import Action, Backoff, Done, RunTool, SendRequest, ToolsDone
from agentsim.loop._features import ALL_FEATURES, Feature
from agentsim.loop._hooks import Guardrails, Hooks
from agentsim.loop._machine import LoopMachine
from agentsim.loop._protocol import Provider, ProviderError, RunRequest

__all__ = ["ReferenceLoop", "ReferenceRun"]


class ReferenceLoop:
    """agentsim's reference agent loop: implements every rule of DESIGN §3.

    >>> loop = ReferenceLoop(hooks=Hooks(on_tool_call=lambda call: None))
    """

    features: frozenset[Feature] = ALL_FEATURES

    def __init__(self, *, hooks: Hooks | None = None, guardrails: Guardrails | None = None) -> None:
        self.hooks = hooks
        self.guardrails = guardrails

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> ReferenceRun:
        return ReferenceRun(
            LoopMachine(
                run_id=runtime.ids.new("run"),
                messages=request.messages,
                options=request.options,
                tools=tools,
                hooks=self.hooks,
                guardrails=self.guardrails,
            ),
            request=request,
            provider=provider,
        )


async def _invoke(tool: Tool, arguments: dict[str, Any]) -> tuple[bool, str | None, str | None]:
    """Run one tool: (ok, output, error). Cancellation propagates; every other error is a result."""
    try:
        value = tool.call(arguments)
        if inspect.isawaitable(value):
            value = await value
        return True, tool_output_text(value), None
    except ToolError as exc:
        return False, None, str(exc) or type(exc).__name__
    except Exception as exc:
        return False, None, f"{type(exc).__name__}: {exc}"


class ReferenceRun:
    """One run of the reference loop: iterate it once for events; then read `history`, `outcome`."""

    def __init__(self, machine: LoopMachine, *, request: RunRequest, provider: Provider) -> None:
        self._machine = machine
        self._request = request
        self._provider = provider
        self._pending: tuple[str, float] | None = None
        self._blocking = False
        self._cancelling = False
        self._streaming = False
        self._last_chunk = 0.0
        # Every idle check armed (a request's, and each re-arming): cancelled when the run ends,
        # so that nothing of the run stays scheduled after it.
        self._idle_timers: list[asyncio.TimerHandle] = []
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: AsyncGenerator[AgentEvent, None] | None = None

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        if self._events is None:  # the backend is known once the run is iterated
            if current_backend() == "asyncio":
                self._events = self._drive()
            else:
                from agentsim.loop._trio_driver import drive_trio

                self._events = drive_trio(self, (_invoke, _close, _provider_failure))
        return self._events

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()

    @property
    def history(self) -> Sequence[Message]:
        return tuple(self._machine.history)

    @property
    def outcome(self) -> TerminalEvent | None:
        """The terminal event, also for a consumer drop (where it was never delivered)."""
        return self._machine.outcome

    # -- interruptions ----------------------------------------------------------------------------

    def _interrupt(self, reason: str) -> None:
        pending = self._pending
        if pending is not None and not (pending[0] == "idle" and reason != "idle"):
            return
        assert self._loop is not None
        assert self._task is not None
        self._pending = (reason, self._loop.time())
        if self._blocking and not self._cancelling:
            self._cancelling = True
            self._task.cancel()

    def _interrupted(self) -> bool:
        # A method, not an attribute test: the attribute changes across `yield`s and awaits.
        return self._pending is not None

    def _claim(self) -> bool:
        """Is the CancelledError just caught ours? (Then it is undone.)"""
        if not self._cancelling:
            return False
        self._cancelling = False
        assert self._task is not None
        self._task.uncancel()
        return True

    def _handle_interrupt(self) -> Action:
        if self._cancelling:
            self._claim()
        assert self._pending is not None
        reason, at = self._pending
        machine = self._machine
        if reason == "idle":
            self._pending = None
            idle = machine.options.idle_timeout
            return machine.provider_error(
                kind="timeout", message=f"no chunk for {idle:g}s", retryable=True, now=at
            )
        if reason == "timeout":
            return machine.timeout(at)
        return machine.cancel("cancelled", at)

    def _idle_check(self) -> None:
        idle = self._machine.options.idle_timeout
        assert self._loop is not None
        assert idle is not None
        if not self._streaming:
            return
        now = self._loop.time()
        due = self._last_chunk + idle
        if not self._blocking:
            # The consumer holds the loop, not the provider: restart the window.
            self._last_chunk = now
            self._idle_timers.append(self._loop.call_at(now + idle, self._idle_check))
        elif now >= due:
            self._interrupt("idle")
        else:
            self._idle_timers.append(self._loop.call_at(due, self._idle_check))

    # -- the driver -------------------------------------------------------------------------------

    async def _drive(self) -> AsyncGenerator[AgentEvent, None]:
        loop = self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        machine = self._machine
        options = machine.options
        start = loop.time()
        deadline = loop.call_at(start + options.deadline, self._interrupt, "timeout")
        remove_cancel = self._request.cancel.add_callback(lambda: self._interrupt("cancelled"))
        stream: AsyncIterator[Chunk] | None = None
        tasks: list[asyncio.Task[tuple[bool, str | None, str | None]]] = []
        action: Action | None = machine.start(start)
        try:
            while True:
                if machine.outbox:
                    for event in machine.take_events():
                        yield event
                if isinstance(action, Done):
                    return
                if self._interrupted():
                    action = self._handle_interrupt()
                    continue
                if isinstance(action, SendRequest):
                    request, action = action.request, None
                    self._streaming = True
                    self._last_chunk = loop.time()
                    if options.idle_timeout is not None:
                        self._idle_timers.append(
                            loop.call_at(self._last_chunk + options.idle_timeout, self._idle_check)
                        )
                    try:
                        stream = aiter(self._provider.stream(request))
                    except Exception as exc:
                        action = _provider_failure(machine, exc, loop.time())
                    while action is None:
                        assert stream is not None
                        self._blocking = True
                        try:
                            chunk = await anext(stream)
                        except StopAsyncIteration:
                            action = machine.stream_ended(loop.time())
                            break
                        except asyncio.CancelledError:
                            if not self._claim():
                                raise
                            action = self._handle_interrupt()
                            break
                        except Exception as exc:
                            action = _provider_failure(machine, exc, loop.time())
                            break
                        finally:
                            self._blocking = False
                        now = self._last_chunk = loop.time()
                        action = machine.chunk(chunk, now)
                        if machine.outbox:
                            for event in machine.take_events():
                                yield event
                            if action is None and self._interrupted():
                                action = self._handle_interrupt()
                    self._streaming = False
                    if stream is not None:
                        await _close(stream)
                        stream = None
                elif isinstance(action, Backoff):
                    self._blocking = True
                    try:
                        await asyncio.sleep(action.delay)
                    except asyncio.CancelledError:
                        if not self._claim():
                            raise
                        action = self._handle_interrupt()
                        continue
                    finally:
                        self._blocking = False
                    action = machine.backoff_elapsed(loop.time())
                elif isinstance(action, ToolsDone):
                    action = machine.tools_done(loop.time())
                elif isinstance(action, RunTool) and not options.concurrent_tools:
                    started = loop.time()
                    self._blocking = True
                    try:
                        ok, output, error = await _invoke(action.tool, action.arguments)
                    except asyncio.CancelledError:
                        if not self._claim():
                            raise
                        action = self._handle_interrupt()
                        continue
                    finally:
                        self._blocking = False
                    now = loop.time()
                    action = machine.tool_finished(
                        action.call,
                        ok=ok,
                        output=output,
                        error=error,
                        duration=now - started,
                        now=now,
                    ) or machine.next_tool(now)
                elif isinstance(action, RunTool):
                    # Concurrent tools: start every runnable call, report each as it finishes.
                    batch: list[RunTool] = []
                    while isinstance(action, RunTool):
                        batch.append(action)
                        action = machine.next_tool(loop.time())
                    after_batch = action
                    if isinstance(after_batch, Done):
                        continue  # a hook or limit ended the run: start none of the batch
                    started = loop.time()
                    tasks = [asyncio.ensure_future(_invoke(r.tool, r.arguments)) for r in batch]
                    waiting = set(tasks)
                    action = None
                    while waiting and action is None:
                        self._blocking = True
                        try:
                            done, waiting = await asyncio.wait(
                                waiting, return_when=asyncio.FIRST_COMPLETED
                            )
                        except asyncio.CancelledError:
                            if not self._claim():
                                raise
                            action = self._handle_interrupt()
                            break
                        finally:
                            self._blocking = False
                        now = loop.time()
                        for run_tool, task in zip(batch, tasks, strict=True):
                            if task in done and action is None:
                                ok, output, error = task.result()
                                action = machine.tool_finished(
                                    run_tool.call,
                                    ok=ok,
                                    output=output,
                                    error=error,
                                    duration=now - started,
                                    now=now,
                                )
                        if machine.outbox:
                            for event in machine.take_events():
                                yield event
                    await _cancel_all(tasks)
                    tasks = []
                    if action is None:
                        action = after_batch
        except GeneratorExit:
            if machine.state != "done":
                machine.cancel("consumer_dropped", loop.time())
                machine.outbox.clear()
            raise
        finally:
            deadline.cancel()
            for timer in self._idle_timers:
                timer.cancel()
            remove_cancel()
            self._streaming = False
            if stream is not None:
                await _close(stream)
            await _cancel_all(tasks)


def _provider_failure(machine: LoopMachine, exc: Exception, now: float) -> Action:
    if isinstance(exc, ProviderError):
        return machine.provider_error(
            kind=exc.kind, message=str(exc), retryable=exc.retryable, now=now
        )
    return machine.provider_error(
        kind="other", message=f"{type(exc).__name__}: {exc}", retryable=False, now=now
    )


async def _close(stream: AsyncIterator[Chunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        # A provider failing to close must not mask the run's outcome.
        with contextlib.suppress(Exception):
            await aclose()


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
