"""The reference loop's driver on trio: the same I/O shell around `LoopMachine` as
`agentsim.loop._driver`, with trio's primitives (DESIGN §4 M2: same scenario and seed, same bytes
on asyncio and trio).

The asyncio driver keeps timers (`call_at`) that cancel its task and undo the cancellation
(`Task.uncancel`); trio has neither. Its scheduler also runs the tasks that become runnable at
the same instant in a random order, on purpose, so a timer living in a task of its own would race
the driver when both are due together. So here every timer is a **cancel-scope deadline of the
driver's own task**, set around each blocking await (a chunk read, a backoff, a tool, a batch of
concurrent tools): the run deadline, the idle timeout while streaming, and the virtual time the
harness scheduled the cancel token for (`CancelToken.due`). When the scope is cancelled the
driver works out which of them it was, in asyncio's order (a cancellation, then the deadline,
then the idle timeout), and hands the interruption to the machine. A deadline due at the same
instant as a chunk wins on trio because trio lets the outer scope catch the cancellation, as a
timer wins on asyncio because it fires before the task runs. The cancel token's callback
(a scripted cancel at a chunk, a cancel from elsewhere) cancels the current scope at once.

Concurrent tools run in a nursery opened by the driver; events are yielded while the nursery is
open, as the asyncio driver yields while its tasks run. That is safe for a consumer iterating in
one task without cancel scopes of its own around ``anext`` (the harness's `run_loop`, the pytest
fixtures); a consumer drop at such a yield is caught there, the tools are cancelled, and the drop
handled outside the nursery (a `GeneratorExit` must not leave through trio's exception groups).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import trio

from agentsim.core._chunks import Chunk
from agentsim.core._events import AgentEvent
from agentsim.loop._actions import Action, Backoff, Done, RunTool, SendRequest, ToolsDone

# The `ReferenceRun` driven (its machine, request, provider and interrupt state; not imported:
# loop/_driver imports this module) and its helpers, handed over by it.
ReferenceRun = Any
Helpers = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]

__all__ = ["drive_trio"]

T = TypeVar("T")


class _Dropped(Exception):
    """The consumer closed the run at a yield inside the tools' nursery."""


class _TrioDriver:
    def __init__(self, run: ReferenceRun) -> None:
        self.run = run
        self.machine = run._machine
        self.cancel = run._request.cancel
        self.scope: trio.CancelScope | None = None
        self.streaming = False
        self.last_chunk = 0.0
        self.deadline = math.inf

    def interrupt(self, reason: str) -> None:
        run = self.run
        pending = run._pending
        if pending is not None and not (pending[0] == "idle" and reason != "idle"):
            return
        run._pending = (reason, trio.current_time())
        if self.scope is not None:
            self.scope.cancel()

    def _due(self) -> float:
        due = self.deadline
        at = self.cancel.due
        if at is not None and not self.cancel.cancelled:
            due = min(due, at)
        idle = self.machine.options.idle_timeout
        if self.streaming and idle is not None:
            due = min(due, self.last_chunk + idle)
        return due

    def _expired(self) -> None:
        """The scope's deadline passed: which timer was it (in asyncio's order)?"""
        now = trio.current_time()
        at = self.cancel.due
        if at is not None and now >= at and not self.cancel.cancelled:
            self.cancel.cancel()  # fires our callback too: the harness's recorder sees it
        if now >= self.deadline:
            self.interrupt("timeout")
        idle = self.machine.options.idle_timeout
        if self.streaming and idle is not None and now >= self.last_chunk + idle:
            self.interrupt("idle")

    async def block(self, make: Callable[..., Awaitable[T]], *args: Any) -> tuple[bool, T | None]:
        """Await `make(*args)` under the driver's deadlines: (interrupted, its value)."""
        if self.run._interrupted():
            return True, None
        with trio.CancelScope(deadline=self._due()) as scope:
            self.scope = scope
            try:
                return False, await make(*args)
            finally:
                self.scope = None
        if self.run._pending is None:
            self._expired()
        return self.run._interrupted(), None


async def drive_trio(run: ReferenceRun, helpers: Helpers) -> AsyncGenerator[AgentEvent, None]:
    """`ReferenceRun`'s event stream on trio (see the module doc); `helpers` are the asyncio
    driver's `_invoke`, `_close` and `_provider_failure`, which work on both backends."""
    _invoke, _close, _provider_failure = helpers

    d = _TrioDriver(run)
    machine = run._machine
    options = machine.options
    start = trio.current_time()
    d.deadline = start + options.deadline
    remove_cancel = d.cancel.add_callback(lambda: d.interrupt("cancelled"))
    stream: AsyncIterator[Chunk] | None = None
    action: Action | None = machine.start(start)
    try:
        while True:
            if machine.outbox:
                for event in machine.take_events():
                    yield event
            if isinstance(action, Done):
                return
            if run._interrupted():
                action = run._handle_interrupt()
                continue
            if isinstance(action, SendRequest):
                request, action = action.request, None
                d.streaming = True
                d.last_chunk = trio.current_time()
                try:
                    stream = aiter(run._provider.stream(request))
                except Exception as exc:
                    action = _provider_failure(machine, exc, trio.current_time())
                while action is None:
                    assert stream is not None
                    try:
                        interrupted, chunk = await d.block(anext, stream)
                    except StopAsyncIteration:
                        action = machine.stream_ended(trio.current_time())
                        break
                    except Exception as exc:
                        action = _provider_failure(machine, exc, trio.current_time())
                        break
                    if interrupted:
                        action = run._handle_interrupt()
                        break
                    assert chunk is not None
                    now = d.last_chunk = trio.current_time()
                    action = machine.chunk(chunk, now)
                    if machine.outbox:
                        for event in machine.take_events():
                            yield event
                        if action is None and run._interrupted():
                            action = run._handle_interrupt()
                d.streaming = False
                if stream is not None:
                    await _close(stream)
                    stream = None
            elif isinstance(action, Backoff):
                interrupted, _ = await d.block(trio.sleep, action.delay)
                if interrupted:
                    action = run._handle_interrupt()
                    continue
                action = machine.backoff_elapsed(trio.current_time())
            elif isinstance(action, ToolsDone):
                action = machine.tools_done(trio.current_time())
            elif isinstance(action, RunTool) and not options.concurrent_tools:
                started = trio.current_time()
                interrupted, result = await d.block(_invoke, action.tool, action.arguments)
                if interrupted:
                    action = run._handle_interrupt()
                    continue
                assert result is not None
                ok, output, error = result
                now = trio.current_time()
                action = machine.tool_finished(
                    action.call, ok=ok, output=output, error=error, duration=now - started, now=now
                ) or machine.next_tool(now)
            elif isinstance(action, RunTool):
                batch: list[RunTool] = []
                while isinstance(action, RunTool):
                    batch.append(action)
                    action = machine.next_tool(trio.current_time())
                after_batch = action
                if isinstance(after_batch, Done):
                    continue  # a hook or limit ended the run: start none of the batch
                action = None
                dropped = False
                async with trio.open_nursery() as nursery:
                    batch_run = _Batch(batch, nursery, _invoke)
                    started = trio.current_time()
                    while batch_run.waiting and action is None:
                        if not batch_run.finished:
                            interrupted, _ = await d.block(batch_run.wake.wait)
                            if interrupted:
                                action = run._handle_interrupt()
                                break
                        now = trio.current_time()
                        for index in batch_run.take():
                            if action is None:
                                ok, output, error = batch_run.results[index]
                                action = machine.tool_finished(
                                    batch[index].call,
                                    ok=ok,
                                    output=output,
                                    error=error,
                                    duration=now - started,
                                    now=now,
                                )
                        if machine.outbox:
                            try:
                                for event in machine.take_events():
                                    yield event
                            except GeneratorExit:
                                dropped = True
                                break
                    nursery.cancel_scope.cancel()
                if dropped:
                    raise GeneratorExit
                if action is None:
                    action = after_batch
    except GeneratorExit:
        if machine.state != "done":
            machine.cancel("consumer_dropped", trio.current_time())
            machine.outbox.clear()
        raise
    finally:
        remove_cancel()
        d.streaming = False
        if stream is not None:
            await _close(stream)


class _Batch:
    """Concurrent tool runs in a nursery; `take()` gives the indexes finished since last asked,
    in call order (the order trio happened to run them in must not matter)."""

    def __init__(
        self, batch: list[RunTool], nursery: trio.Nursery, invoke: Callable[..., Any]
    ) -> None:
        self.results: list[Any] = [None] * len(batch)
        self.finished: list[int] = []
        self.waiting = set(range(len(batch)))
        self.wake = trio.Event()

        async def one(index: int, run_tool: RunTool) -> None:
            self.results[index] = await invoke(run_tool.tool, run_tool.arguments)
            self.finished.append(index)
            self.wake.set()

        for index, run_tool in enumerate(batch):
            nursery.start_soon(one, index, run_tool)

    def take(self) -> list[int]:
        done = sorted(self.finished)
        self.finished.clear()
        self.waiting.difference_update(done)
        self.wake = trio.Event()
        return done
