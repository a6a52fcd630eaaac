"""A virtual-time asyncio event loop: simulated hours run in microseconds, and hangs become errors.

Design notes:

* Virtual time by owning the event loop. Agent code calls ``asyncio.sleep``, ``wait_for`` and
  ``timeout`` (directly or through anyio) and all of them read ``loop.time()``. So instead of
  patching clocks we run every simulation on a `VirtualEventLoop`, whose clock starts at 0.0 and
  only moves when the loop would otherwise block. This is the approach of ``async-solipsism``.
  asyncio's ``_run_once`` hands its selector the time until the next timer, and our selector
  jumps the clock to that timer instead of sleeping.
* Deadlock detection. When nothing is ready and no timer can fire (there is none, or it is at
  +inf, as in ``anyio.sleep_forever()``), and no real file descriptor other than the loop's own
  self-pipe is registered, nothing can ever wake the loop again. So we raise `DeadlockError`
  instead of hanging the test run.
* Float exactness. ``now += timeout`` is wrong because ``x + (y - x) != y`` in floats: a timer at
  0.3, reached from now = 0.03, would run at 0.30000000000000004. So we set the clock to exactly
  the earliest timer's ``when()``. We do this even past asyncio's 24 h cap on select timeouts,
  because capped steps cost iterations and never end for a timer at +inf. ``_run_once`` runs the
  timers with ``when < time() + _clock_resolution``. We keep that resolution at ``ulp(now)``,
  which means exactly ``when <= now``: no timer runs early, and a timer due at a large ``now``
  cannot spin forever.
* Threads on virtual time. Work handed to a real thread (``run_in_executor`` with any executor,
  so ``asyncio.to_thread`` and ``getaddrinfo`` too; ``asyncio.wrap_future`` of a
  ``concurrent.futures.Future``; anyio's worker threads, so ``anyio.to_thread.run_sync``, FastAPI's
  ``def`` endpoints and pydantic-ai's ``def`` tools) runs in real time while the virtual clock
  stands still: while any such work is outstanding the selector blocks on the real self-pipe
  (which the thread's ``call_soon_threadsafe`` writes when it reports back) and never jumps the
  clock. Timers already due still run. A deadlock is declared only when no timer, no real fd and
  no running thread can make progress.
* Deterministic delivery. A thread reports back with ``call_soon_threadsafe``; left alone, those
  wake-ups would land among the loop's other work in real-time order. So a thread's report is
  held back (not put in the ready queue) until the loop is idle - nothing ready - and no other
  thread is still running; then all held reports are delivered at once, ordered by the task that
  waits for each (tasks numbered as this loop creates them), then by hand-out order. A result
  therefore arrives at the virtual time its work was handed out, before any later timer, at the
  same point among the loop's work and in the same order as on every other run, whatever the
  threads' real durations. (A loop that never goes idle while a thread runs, spinning on
  ``sleep(0)``, gets the reports after a real second instead: no hang, but no such guarantee.)
* How outstanding thread work is known. ``asyncio.wrap_future`` (which ``run_in_executor`` uses)
  chains the concurrent future into a future made by ``loop.create_future()``; ours is a
  subclass that notices the chaining callback (CPython's ``_chain_future`` registers
  ``_call_check_cancel``) and counts the future as thread work until it is done. That future
  completes on the loop thread, after the worker's wake-up, so there is no window in which the
  thread is finished but its result not yet queued. anyio keeps its own pool per loop (a
  ``RunVar``); a worker is busy until its result is reported on the loop, which is when anyio puts
  it back among the idle ones, so "busy" is ``len(workers) > len(idle)``. Both are private
  details of CPython and anyio, pinned by tests/core/test_virtual_threads.py.
* A thread that never finishes would hang the run; after ``thread_limit`` real seconds (60 by
  default) of waiting with nothing else to do the loop raises `DeadlockError` saying so. This
  watchdog is the only wall-clock read here, and it never influences what a finished run did.
* Sleeps nothing could interleave with. `skip_sleep` moves the clock in place of a sleep when
  the loop's two turns for it would do nothing else (nothing ready, no live timer due by then, no
  thread, no real fd, no pending cancellation): a scripted stream with thousands of delays then
  costs no loop turns for them, and every run does exactly what it did with the turns.
* Cheap to make. A fuzz campaign makes one loop per run, thousands a second, and a fresh
  selector (an epoll instance) and self-pipe (a socket pair) are most of what a new loop costs
  (system calls). So a closed loop hands them to a small pool for the next one, but only when
  nothing else was left registered, after draining any wake-up byte. Nothing else is shared:
  every loop is new, its clock at 0.0. A late ``call_soon_threadsafe`` from a thread of a loop
  that is already closed finds ``_csock`` gone; at worst one racing byte wakes the next loop once,
  which runs nothing (the reader only drains the pipe). After a fork the child drops the pool.
  Cheaper still is not making one: `reset` turns a loop whose run left nothing behind back into
  what a new loop is (clock at 0.0, nothing scheduled, tasks numbered from 0 again, the same
  options), and refuses - the caller then closes it - if anything of the run is left in it: a
  handle not cancelled, a task or async generator not finished, a thread's work or report, an
  executor, a signal handler, a transport, a real fd, a clock listener, a changed option or an
  attribute set on the loop. Only code that knows nothing else keeps per-loop state may reuse
  a loop (the harness reuses one only for its own reference loop: `agentsim.harness._guard`),
  because a library can key state by the loop object (anyio's run variables, an
  ``asyncio.Lock`` bound to its first loop) where no check here can see it.
* The network guard must see work done in threads for a simulated run. Tasks of this loop carry
  it in a context variable (`simulated_loop` reads it); ``asyncio.to_thread`` and anyio copy the
  context into their workers, and ``run_in_executor`` marks the worker for the call.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import functools
import itertools
import math
import os
import selectors
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast

from agentsim.core._errors import AgentsimError

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["DeadlockError", "VirtualEventLoop", "run_virtual", "simulated_loop"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_Events = list[tuple[selectors.SelectorKey, int]]

# The virtual loop the current code works for: set in every task of a `VirtualEventLoop`, and
# in a worker thread for the duration of a call handed to it.
_WORKING_FOR: contextvars.ContextVar[VirtualEventLoop | None] = contextvars.ContextVar(
    "agentsim_virtual_loop", default=None
)


class DeadlockError(AgentsimError, RuntimeError):
    """Raised when nothing is ready, no timer can fire, and no I/O can arrive: a hang."""


def simulated_loop() -> VirtualEventLoop | None:
    """The `VirtualEventLoop` the calling code runs for, or None.

    That is the running loop if it is virtual; in a thread that runs no loop of its own, the
    virtual loop that handed it the current piece of work (``run_in_executor``, ``to_thread``,
    anyio's worker threads), while that loop is open.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        owner = _WORKING_FOR.get()
        return owner if owner is not None and not owner.is_closed() else None
    return running if isinstance(running, VirtualEventLoop) else None


def _run_for(loop: VirtualEventLoop, func: Callable[..., T], *args: Any) -> T:
    token = _WORKING_FOR.set(loop)
    try:
        return func(*args)
    finally:
        _WORKING_FOR.reset(token)


_INF = math.inf


class _Future(asyncio.Future[Any]):
    """The loop's futures: counted as thread work while chained to a concurrent future."""

    _agentsim_seq = _INF  # hand-out order, for thread work

    def add_done_callback(  # type: ignore[override]
        self,
        fn: Callable[[asyncio.Future[Any]], object],
        *,
        context: contextvars.Context | None = None,
    ) -> None:
        super().add_done_callback(fn, context=context)
        if getattr(fn, "__name__", None) == "_call_check_cancel":  # asyncio.futures._chain_future
            loop = self.get_loop()
            assert isinstance(loop, VirtualEventLoop)
            loop._thread_work.add(self)
            self._agentsim_seq = next(loop._handed_out)
            super().add_done_callback(loop._thread_work.discard)


_Parts = tuple[selectors.BaseSelector, socket.socket, socket.socket]
_POOL: list[_Parts] = []  # real selectors, each with its self-pipe registered (data: no handles)
_POOL_SIZE = 8
os.register_at_fork(after_in_child=_POOL.clear)


@atexit.register
def _close_pool() -> None:
    while _POOL:
        for closable in _POOL.pop():
            closable.close()


def _new_parts() -> _Parts:
    try:
        return _POOL.pop()
    except IndexError:
        pass
    real = selectors.DefaultSelector()
    ssock, csock = socket.socketpair()
    ssock.setblocking(False)
    csock.setblocking(False)
    real.register(ssock.fileno(), selectors.EVENT_READ, (None, None))
    return real, ssock, csock


def _drained(ssock: socket.socket) -> bool:
    while True:
        try:
            if not ssock.recv(4096):
                return False  # the other end is gone
        except InterruptedError:
            continue
        except BlockingIOError:
            return True
        except OSError:
            return False


def _release_parts(parts: _Parts, *, reuse: bool) -> None:
    """Back to the pool if only the self-pipe is registered and it is quiet; else closed."""
    real, ssock, csock = parts
    fd = ssock.fileno()
    reusable = reuse and len(_POOL) < _POOL_SIZE and fd != -1 and list(real.get_map()) == [fd]
    if reusable:
        real.modify(fd, selectors.EVENT_READ, (None, None))  # drop the old loop's handle
        reusable = _drained(ssock)
    if reusable:
        _POOL.append(parts)
        return
    real.close()
    ssock.close()
    csock.close()


class _VirtualSelector(selectors.BaseSelector):
    """Wraps a real selector (for the self-pipe and any real fds) and advances virtual time."""

    def __init__(self) -> None:
        self._parts: _Parts | None = _new_parts()
        self._real = self._parts[0]
        self.loop: VirtualEventLoop | None = None
        self.reusable = True  # False once the pipe was a signal wake-up fd

    def self_pipe(self) -> tuple[socket.socket, socket.socket]:
        """The self-pipe that comes with the real selector (registered in it already)."""
        assert self._parts is not None
        return self._parts[1], self._parts[2]

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        parts, self._parts = self._parts, None
        if parts is not None:
            _release_parts(parts, reuse=self.reusable)
        self.loop = None

    def select(self, timeout: float | None = None) -> _Events:
        # Whatever real I/O is already there (self-pipe wake-ups, real sockets) costs no time.
        events = self._real.select(0)
        loop = self.loop
        if loop is None:
            return events
        if timeout == 0:  # work is ready: thread reports wait for an idle moment
            if loop._reports:
                loop._release_reports_if_starved()
            return events
        if loop._threads_running():
            return events or self._wait_for_threads(loop)
        if loop._release_reports():
            return events
        if events:
            return events
        if timeout is not None and loop._jump_to_next_timer():
            return []
        # No timer will ever fire. Only a real fd registered besides the self-pipe could wake us.
        if len(self._real.get_map()) > 1:
            return self._real.select(timeout)
        raise loop._deadlock()

    def _wait_for_threads(self, loop: VirtualEventLoop) -> _Events:
        # Virtual time stands still: wait in real time for a thread (or real I/O) to wake us.
        give_up = time.monotonic() + loop.thread_limit
        while loop._threads_running():
            events = self._real.select(0.05)
            if events:
                return events
            if time.monotonic() >= give_up:
                raise DeadlockError(
                    f"deadlock: a worker thread has run for {loop.thread_limit:g} s of real time"
                    " with nothing else left to do (virtual time stands still while a thread runs)"
                )
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """A `SelectorEventLoop` whose `time()` is virtual: it starts at 0.0 and jumps to each timer.

    `thread_limit` is how many real seconds the loop waits for a worker thread when nothing else
    can run before it gives up with `DeadlockError`.
    """

    _scheduled: list[asyncio.TimerHandle]
    _clock_resolution: float
    _default_executor: concurrent.futures.ThreadPoolExecutor | None

    def __init__(self, *, thread_limit: float = 60.0) -> None:
        self._now = 0.0
        self.thread_limit = thread_limit
        self._thread_work: set[asyncio.Future[Any]] = set()
        self._clock_listeners: list[Callable[[float], object]] = []
        self._handed_out = itertools.count()
        self._task_numbers: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = (
            weakref.WeakKeyDictionary()
        )
        self._reports: list[asyncio.Handle] = []  # thread reports held back, under the lock
        self._reports_lock = threading.Lock()
        self._starved_since: float | None = None
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._clock_resolution = math.ulp(self._now)
        self._created_debug = self._debug  # type: ignore[attr-defined]
        self._attributes = len(self.__dict__) + 1  # (counting this one): see `reset`
        if not thread_limit > 0:  # checked once built, so that closing it is clean
            self.close()
            raise ValueError(f"thread_limit must be a number of seconds > 0, got {thread_limit!r}")

    def time(self) -> float:
        return self._now

    def reset(self) -> bool:
        """Make this loop, its run over, what a new `VirtualEventLoop` is; False (and nothing
        changed) if anything of the run is left in it. See "Cheap to make" above."""
        if self.is_closed() or self.is_running() or self._ready:  # type: ignore[attr-defined]
            return False
        for handle in self._scheduled:
            if not handle.cancelled():
                return False
        if (
            self._thread_work
            or self._reports
            or self._clock_listeners
            or self._default_executor is not None
            or self._signal_handlers  # type: ignore[attr-defined]
            or len(self._transports)  # type: ignore[attr-defined]
            or self._task_factory is not None  # type: ignore[attr-defined]
            or self._debug is not self._created_debug  # type: ignore[attr-defined]
            or self.slow_callback_duration != 0.1
            or self._asyncgens_shutdown_called  # type: ignore[attr-defined]
            or self._executor_shutdown_called  # type: ignore[attr-defined]
            or len(self.__dict__) != self._attributes
            or len(self._selector.get_map()) != 1  # type: ignore[attr-defined]
            or asyncio.all_tasks(self)
        ):
            return False
        asyncgens = self._asyncgens  # type: ignore[attr-defined]
        if any(getattr(gen, "ag_frame", True) is not None for gen in list(asyncgens)):
            return False  # an async generator not finished
        asyncgens.clear()
        self._scheduled.clear()
        self._timer_cancelled_count = 0
        self._now = 0.0
        self._clock_resolution = math.ulp(0.0)
        self._handed_out = itertools.count()
        if self._task_numbers:  # (its tasks are mostly gone: a clear walks it item by item)
            self._task_numbers.clear()
        self._starved_since = None
        return True

    # The self-pipe comes with the (pooled) real selector: see "Cheap to make" above.
    def _make_self_pipe(self) -> None:
        selector = self._selector  # type: ignore[attr-defined]
        assert isinstance(selector, _VirtualSelector)
        self._ssock, self._csock = selector.self_pipe()
        self._internal_fds += 1  # type: ignore[attr-defined]
        self._add_reader(self._ssock.fileno(), self._read_from_self)  # type: ignore[attr-defined]

    def _close_self_pipe(self) -> None:
        # Left registered and open: the selector's close pools or closes it with its pipe.
        selector = self._selector  # type: ignore[attr-defined]
        if getattr(self, "_signal_handlers", None):  # its pipe is signal's wake-up fd still
            selector.reusable = False
        self._remove_reader_handle(self._ssock.fileno())
        self._ssock = self._csock = None  # type: ignore[assignment]
        self._internal_fds -= 1  # type: ignore[attr-defined]

    def _remove_reader_handle(self, fd: int) -> None:
        selector = self._selector  # type: ignore[attr-defined]
        try:
            key = selector.get_key(fd)
        except KeyError:  # someone unregistered it: the pipe is not the pool's to reuse
            selector.reusable = False
            return
        reader, writer = key.data
        selector.modify(fd, key.events, (None, writer))
        if reader is not None:
            reader.cancel()

    def create_future(self) -> asyncio.Future[Any]:
        return _Future(loop=self)

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[T]:
        # Mark the task's context as working for this loop (the network guard reads it, in
        # this thread and in the workers the context is copied into).
        if context is None:
            if _WORKING_FOR.get() is not self:
                context = contextvars.copy_context()
                context.run(_WORKING_FOR.set, self)
        elif context.get(_WORKING_FOR) is not self:
            context.run(_WORKING_FOR.set, self)
        task = super().create_task(coro, name=name, context=context)
        self._task_numbers[task] = next(self._handed_out)
        return task

    # -- thread work and its reports ---------------------------------------------------------------

    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        # Held from this thread too: wrap_future reports at once, here, for work done already.
        if _is_report(callback):
            self._check_closed()  # type: ignore[attr-defined]
            handle = asyncio.Handle(callback, args, self, context)
            with self._reports_lock:
                self._reports.append(handle)
            self._write_to_self()  # type: ignore[attr-defined]
            return handle
        return super().call_soon_threadsafe(callback, *args, context=context)

    def _threads_running(self) -> bool:
        """Is some thread still working (handed work whose report has not come in)?"""
        busy_workers = self._anyio_busy_workers()
        if not self._thread_work and not busy_workers:
            return False
        with self._reports_lock:
            reports = list(self._reports)
        anyio_reports = sum(1 for h in reports if _report_future(h) is None)
        waiting = sum(1 for h in reports if (f := _report_future(h)) is not None and not f.done())
        return len(self._thread_work) > waiting or busy_workers > anyio_reports

    def _release_reports(self) -> bool:
        """Deliver the held thread reports, in their deterministic order (module docstring)."""
        if not self._reports:
            return False
        with self._reports_lock:
            reports, self._reports = self._reports, []
        self._starved_since = None
        reports.sort(key=self._report_order)
        self._ready.extend(reports)  # type: ignore[attr-defined]
        return True

    def _release_reports_if_starved(self) -> None:
        # The loop has not been idle since the threads finished: after a real second, deliver.
        if self._threads_running():
            return
        now = time.monotonic()
        if self._starved_since is None:
            self._starved_since = now
        elif now - self._starved_since > 1.0:
            self._release_reports()

    def _report_order(self, handle: asyncio.Handle) -> tuple[float, float]:
        future = _report_future(handle) or handle._args[0]
        waiter = _INF
        for callback, _context in getattr(future, "_callbacks", None) or ():
            task = getattr(callback, "__self__", None)
            if isinstance(task, asyncio.Task):
                waiter = self._task_numbers.get(task, _INF)
                break
        return waiter, getattr(future, "_agentsim_seq", _INF)

    def _anyio_busy_workers(self) -> int:
        backend = sys.modules.get("anyio._backends._asyncio")
        lowlevel = sys.modules.get("anyio.lowlevel")
        if backend is None or lowlevel is None:
            return 0
        run_vars = getattr(lowlevel, "_run_vars", {}).get(self)
        if not run_vars:
            return 0
        workers = run_vars.get(getattr(backend, "_threadpool_workers", None))
        idle = run_vars.get(getattr(backend, "_threadpool_idle_workers", None))
        if workers is None or idle is None:
            return 0
        return max(0, len(workers) - len(idle))

    def _jump_to_next_timer(self) -> bool:
        # `_run_once` has just dropped cancelled handles from the head of `_scheduled`, and found
        # nothing ready. Jump to the head timer's `when` exactly, even when asyncio capped the
        # select timeout at 24 h: in virtual time the capped steps are pure overhead. Return
        # False if no timer can fire (none, or at +inf, as in `anyio.sleep_forever()`).
        if not self._scheduled or math.isinf(when := self._scheduled[0].when()):
            return False
        if when > self._now:  # never go backwards
            self._now = when
            self._clock_resolution = math.ulp(when)
            for listener in self._clock_listeners:
                listener(when)
        return True

    def skip_sleep(self, delay: float) -> bool:
        """In place of the calling task's ``await asyncio.sleep(delay)``, move the clock on
        at once if nothing could happen meanwhile; False (and nothing done) otherwise.

        For a scripted stream's delays (thousands in a long recording), where a real sleep is
        two turns of the loop. Nothing could happen when nothing is ready, no live timer is due
        by then, no thread works or reports, no real fd but the self-pipe is registered, the
        loop is not stopping and the task has no cancellation pending: then the two turns
        would only jump the clock to the sleep's timer (exactly: ``time() + delay``, as
        ``call_later`` computes it, telling the clock listeners) and resume the task.
        """
        when = self._now + delay
        if not (when > self._now and math.isfinite(when)):
            return False
        if self._ready or self._reports or self._stopping:  # type: ignore[attr-defined]
            return False
        scheduled = self._scheduled
        # A heap: when its head is after `when`, so is every timer (the common case, checked
        # without walking the heap).
        if scheduled and scheduled[0].when() <= when:
            for handle in scheduled:
                if handle.when() <= when and not handle.cancelled():
                    return False
        if self._thread_work or self._anyio_busy_workers():
            return False
        if len(self._selector.get_map()) > 1:  # type: ignore[attr-defined]
            return False
        task = asyncio.current_task(self)
        if task is None or task.cancelling():
            return False
        self._now = when
        self._clock_resolution = math.ulp(when)
        for listener in self._clock_listeners:
            listener(when)
        return True

    def add_clock_listener(self, listener: Callable[[float], object]) -> Callable[[], None]:
        """Call `listener(now)` each time the virtual clock moves; returns its remover."""
        self._clock_listeners.append(listener)
        return lambda: self._clock_listeners.remove(listener)

    def _deadlock(self) -> DeadlockError:
        n = len(asyncio.all_tasks(self))
        waiting = "1 task is" if n == 1 else f"{n} tasks are"
        return DeadlockError(
            f"deadlock: nothing can ever run again ({waiting} waiting on something"
            " that no timer, I/O or running thread can complete)"
        )

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        # A real thread, waited for in real time (see the module docstring). Mark the worker
        # as working for this loop for the call, unless it is another process (unpicklable).
        if not isinstance(executor, concurrent.futures.ProcessPoolExecutor):
            marked = cast("Callable[[*Ts], T]", functools.partial(_run_for, self, func))
            return super().run_in_executor(executor, marked, *args)
        return super().run_in_executor(executor, func, *args)

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        # asyncio's version waits for a helper thread through a future no thread work is
        # chained to; shutting the pool down here is simpler and as correct.
        executor, self._default_executor = self._default_executor, None
        if executor is not None:
            executor.shutdown(wait=True)


# How threads report finished work: CPython's ``asyncio.futures._chain_future`` (behind
# ``wrap_future``) and anyio's asyncio worker threads.
_CHAINED = "_chain_future.<locals>._set_state"
_ANYIO = "WorkerThread._report_result"


def _is_report(callback: Callable[..., object]) -> bool:
    """Is `callback` a thread reporting finished work (``wrap_future``'s, or anyio's worker)?"""
    return getattr(callback, "__qualname__", None) in (_CHAINED, _ANYIO)


def _report_future(handle: asyncio.Handle) -> asyncio.Future[Any] | None:
    """The chained future a ``wrap_future`` report completes (None for anyio's reports)."""
    callback = handle._callback  # type: ignore[attr-defined]
    return handle._args[0] if getattr(callback, "__qualname__", None) == _CHAINED else None


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh `VirtualEventLoop` (clock at 0.0), then close it."""
    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        return runner.run(main)
