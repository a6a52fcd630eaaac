"""The guard around a simulated run: whatever the loop under test does, the run ends, on time,
with a sentence saying what the loop did - never a hang, never a harness traceback.

What a loop can do wrong, and what catches it:

- **Raise** (anything but our own interrupts): the run ends, "the loop raised ...".
- **Hang**: nothing can ever wake it. `VirtualEventLoop` raises `DeadlockError`: "the run hung".
- **Run away on virtual time** (sleeps forever, retries forever): a virtual watchdog at
  `virtual_limit` (the caller's: four deadlines plus an hour) cancels it.
- **Spin without awaiting** (``while True: pass``) or **busy-wait** (``await sleep(0)`` forever):
  virtual time never moves, so only the wall clock can tell. A wall-clock **budget** per run
  (`DEFAULT_BUDGET` seconds unless configured) is kept by one daemon watchdog thread for the
  process. At the budget it samples the event loop twice, a moment apart - did the loop get
  control back (an iteration counter), did virtual time move - names what it saw, and raises
  `Interrupted` into the running thread with ``PyThreadState_SetAsyncExc`` (the C-API async
  exception; delivered at the next bytecode, so it stops pure-Python spins in any thread).
  `Interrupted` is a `BaseException`, so a loop's ``except Exception`` cannot swallow it; if
  the run goes on anyway the watchdog raises it again every tenth of the budget.
  Why not a signal timer: ``SIGALRM`` works only in the main thread and clashes with anything
  else using it (pytest-timeout, ``signal.alarm``); the async exception works everywhere.
- **Block the thread in C** (``time.sleep(3600)``): an async exception is only delivered when
  the C call returns. ``time.sleep`` is therefore wrapped (on the first guarded run, for the
  process): inside a guarded run in the current thread a positive sleep raises
  `BlockingSleep` at once and the run fails with "the loop called time.sleep(3600) ...". The
  choice: fail fast rather than advance virtual time, because a blocking sleep is a bug in
  async code (it freezes every other task, timers and cancellation included) and cannot be
  simulated faithfully - nothing else may run during it. Elsewhere (and ``sleep(0)``) the
  original runs. Known gap: other blocking C calls (a ``sleep`` imported by name before the
  wrap, blocking I/O) end only when they return; the pytest plugin's network guard refuses
  connections in simulated runs.
- **Stream forever** or **yield something that is not an event**: `run_loop`
  (`agentsim.harness._run`) stops at `Limits.max_events` (`DEFAULT_MAX_EVENTS`) and at the
  first non-event.

The budget is wall-clock time by necessity, but it never changes the result of a run that ends
within it: a well-behaved run takes milliseconds, and the budget only turns a hang into a
failure. Limits are configurable per call (``budget=``, ``max_events=``), on the command line
(``--budget``, ``--max-events``) and in pytest (``--agentsim-budget``, ``--agentsim-max-events``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import math
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Protocol, SupportsIndex, TypeVar

from agentsim.check._invariants import Violation
from agentsim.core._errors import InputError
from agentsim.core._events import EVENT_TYPES, AgentEvent, TerminalEvent
from agentsim.core._history import Message
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset
from agentsim.core._virtual_loop import DeadlockError, VirtualEventLoop
from agentsim.loop._protocol import AgentLoop, AgentRun, Provider, RunRequest

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_EVENTS",
    "WALL_CLOCK_CRASHES",
    "BlockingSleep",
    "GuardedRun",
    "Interrupted",
    "Limits",
    "Recorder",
    "run_guarded_coroutine",
]

T = TypeVar("T")

DEFAULT_BUDGET = 10.0  # wall-clock seconds a run may take
DEFAULT_MAX_EVENTS = 100_000  # events a run may emit
# How the crashes that cost a whole budget begin (see `_what_it_did`).
WALL_CLOCK_CRASHES = ("the loop spun for", "the loop ran for", "the run took more than")


@dataclass(frozen=True, slots=True)
class Limits:
    """How long (wall clock) one run may take, and how many events it may emit."""

    budget: float = DEFAULT_BUDGET
    max_events: int = DEFAULT_MAX_EVENTS

    def __post_init__(self) -> None:
        if not (isinstance(self.budget, int | float) and 0 < self.budget < math.inf):
            raise InputError(f"expected seconds > 0, got {self.budget!r}", path="budget")
        if not (isinstance(self.max_events, int) and self.max_events >= 1):
            raise InputError(
                f"expected max_events >= 1, got {self.max_events!r}", path="max_events"
            )

    @classmethod
    def of(cls, budget: float | None = None, max_events: int | None = None) -> Limits:
        """Limits from optional keywords (None: the default)."""
        if budget is None and max_events is None and cls is Limits:
            return _DEFAULT_LIMITS  # (every run of a default campaign: validated once)
        return cls(
            DEFAULT_BUDGET if budget is None else budget,
            DEFAULT_MAX_EVENTS if max_events is None else max_events,
        )


_DEFAULT_LIMITS = Limits()


class Interrupted(BaseException):
    """Raised into a run that went over its wall-clock budget (a BaseException: a loop's
    ``except Exception`` must not swallow it)."""


class BlockingSleep(BaseException):
    """Raised by ``time.sleep`` inside a guarded run."""


# -- the wall-clock watchdog ----------------------------------------------------------------------


class _CountingLoop(VirtualEventLoop):
    """A `VirtualEventLoop` counting its iterations, so the watchdog can tell a spin (no
    iteration) from a busy-wait (iterations, but no virtual time)."""

    def __init__(self) -> None:
        self.iterations = 0
        super().__init__()

    def _run_once(self) -> None:
        self.iterations += 1
        super()._run_once()  # type: ignore[misc]

    def skip_sleep(self, delay: float) -> bool:
        skipped = super().skip_sleep(delay)
        self.iterations += 2 * skipped  # the turns it stands for: progress, not a spin
        return skipped

    def reset(self) -> bool:
        if self._exception_handler is not _quiet_about_interrupts:  # type: ignore[attr-defined]
            return False
        if not super().reset():
            return False
        self.iterations = 0
        return True


# Loops whose run left nothing behind, for the next run that may reuse one (`_new_loop`).
_IDLE: list[_CountingLoop] = []
_IDLE_SIZE = 2  # a thread takes one at a time: one per thread running guarded runs at once


def _new_loop(reuse: bool) -> _CountingLoop:
    if reuse:
        try:
            return _IDLE.pop()  # (atomic: threads never share one)
        except IndexError:
            pass
    loop = _CountingLoop()
    loop.set_exception_handler(_quiet_about_interrupts)
    return loop


def _close_idle() -> None:
    while _IDLE:
        _IDLE.pop().close()


def _drop_idle_in_child() -> None:
    # A forked child must not pool its copies of the parent's selectors: close them for good.
    while _IDLE:
        loop = _IDLE.pop()
        loop._selector.reusable = False  # type: ignore[attr-defined]
        loop.close()


atexit.register(_close_idle)
os.register_at_fork(after_in_child=_drop_idle_in_child)


class _Sampled(Protocol):
    """What the watchdog samples: a `_CountingLoop` or trio's `VirtualClock` (harness/_trio_run)."""

    iterations: int

    def time(self) -> float: ...


class _Watch:
    __slots__ = ("budget", "deadline", "loop", "problem", "thread")

    def __init__(self, budget: float, loop: _Sampled) -> None:
        self.thread = threading.get_ident()
        self.budget, self.loop = budget, loop
        self.deadline = time.monotonic() + budget
        self.problem: str | None = None  # what the loop did, once the watchdog fired


def _raise_in(thread: int, exc: type[BaseException] | None) -> None:
    api = getattr(ctypes, "pythonapi", None)
    if api is not None:  # CPython; elsewhere spins cannot be interrupted
        api.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread), ctypes.py_object(exc) if exc is not None else None
        )


class _Watchdog:
    """One daemon thread for the process, sleeping until the earliest armed deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None
        self._wakes_at = math.inf  # when the thread wakes next (inf: when notified)

    def arm(self, budget: float, loop: _Sampled) -> _Watch:
        watch = _Watch(budget, loop)
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="agentsim-watchdog", daemon=True
                )
                self._thread.start()
            elif watch.deadline < self._wakes_at:
                self._cond.notify()  # it sleeps past this deadline (seldom: budgets are equal)
        return watch

    def disarm(self, watch: _Watch) -> None:
        """Stop watching; no interrupt of `watch` arrives after this returns."""
        while True:
            try:
                with self._cond:
                    self._watches.discard(watch)
                    if watch.problem is not None:
                        _raise_in(watch.thread, None)  # cancel an interrupt not yet delivered
                return
            except Interrupted:  # it fired while we were getting here: once more, surely
                continue

    def _serve(self) -> None:
        with self._cond:
            while True:
                if not self._watches:
                    self._wakes_at = math.inf
                    self._cond.wait()
                    continue
                now = time.monotonic()
                for watch in [w for w in self._watches if w.deadline <= now]:
                    self._fire(watch)
                if self._watches:
                    self._wakes_at = min(w.deadline for w in self._watches)
                    self._cond.wait(max(0.0, self._wakes_at - time.monotonic()))

    def _fire(self, watch: _Watch) -> None:
        if watch.problem is None:
            before = (watch.loop.iterations, watch.loop.time())
            end = time.monotonic() + min(0.1, watch.budget / 10)  # look again a moment later
            while (left := end - time.monotonic()) > 0:
                self._cond.wait(left)  # (an arm may notify meanwhile)
            if watch not in self._watches:
                return  # it ended meanwhile
            after = (watch.loop.iterations, watch.loop.time())
            watch.problem = _what_it_did(watch.budget, before, after)
            interrupt = getattr(watch.loop, "interrupt", None)
            if after[0] != before[0] and interrupt is not None:
                # trio's clock (harness/_trio_run): the loop still gets control back, so the
                # run is cancelled at its next checkpoint - an exception raised into trio's
                # own scheduler would corrupt it. Ignored, the next round raises as usual.
                interrupt()
                watch.deadline = time.monotonic() + max(0.05, watch.budget / 10)
                return
        _raise_in(watch.thread, Interrupted)
        watch.deadline = time.monotonic() + max(0.05, watch.budget / 10)  # again, if ignored


def _what_it_did(budget: float, before: tuple[int, float], after: tuple[int, float]) -> str:
    if after[0] == before[0]:
        return (
            f"the loop spun for {budget:g} s without awaiting: the event loop never got "
            "control back (a busy loop, or a blocking call)"
        )
    if after[1] == before[1]:
        return (
            f"the loop ran for {budget:g} s while virtual time stood still at "
            f"t = {after[1]:g}: it keeps awaiting things that are ready at once "
            "(like sleep(0)) and never waits for anything"
        )
    return f"the run took more than {budget:g} s of wall-clock time (virtual t = {after[1]:g})"


_WATCHDOG = _Watchdog()


# -- time.sleep -----------------------------------------------------------------------------------

_guarded = threading.local()  # .watch: the current thread's guarded run, if any
_real_sleep = time.sleep
_sleep_lock = threading.Lock()


def _sleep(seconds: float | SupportsIndex) -> None:
    watch: _Watch | None = getattr(_guarded, "watch", None)
    if watch is not None and isinstance(seconds, int | float) and seconds > 0:
        watch.problem = (
            f"the loop called time.sleep({seconds:g}) inside a simulated run: a blocking sleep "
            "freezes the event loop (every task, timer and cancellation); await asyncio.sleep"
        )
        raise BlockingSleep(watch.problem)
    _real_sleep(seconds)


def _wrap_sleep() -> None:
    if time.sleep is _sleep:
        return
    with _sleep_lock:
        if time.sleep is not _sleep:
            time.sleep = _sleep


# -- running --------------------------------------------------------------------------------------


def _cleanup(loop: _CountingLoop, budget: float, *, keep: bool = False) -> None:
    """Cancel what is left and close the loop; a task that will not stop is abandoned. With
    `keep`, a loop the run left nothing in is kept for the next run instead (`reset`)."""
    if keep and len(_IDLE) < _IDLE_SIZE and loop.reset():
        _IDLE.append(loop)
        return
    if not asyncio.all_tasks(loop) and not _unfinished_asyncgens(loop):
        # The usual end of a run: nothing left to cancel or finalize (closing a finished async
        # generator does nothing), so no guarded clean-up run is needed.
        with contextlib.suppress(RuntimeError):
            loop.close()
        return
    watch = _WATCHDOG.arm(min(budget, 1.0), loop)
    previous = getattr(_guarded, "watch", None)
    _guarded.watch = watch
    try:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            _WATCHDOG.disarm(watch)
            _guarded.watch = previous
    except (Interrupted, BlockingSleep, Exception):
        loop.set_exception_handler(lambda _loop, _context: None)  # abandoned: no noise
    finally:
        # Interrupted inside asyncio's own bookkeeping, the loop may think it still runs.
        with contextlib.suppress(RuntimeError):
            loop.close()


def _unfinished_asyncgens(loop: asyncio.AbstractEventLoop) -> bool:
    """Does `loop` know an async generator that has not finished (what `shutdown_asyncgens`
    would close)? A finished one has no frame left."""
    gens: Iterable[Any] | None = getattr(loop, "_asyncgens", None)  # CPython's record of them
    if gens is None:
        return True  # unknown: clean up the long way
    return any(getattr(gen, "ag_frame", True) is not None for gen in list(gens))


def _quiet_about_interrupts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A task the guard interrupted holds the interrupt ("exception was never retrieved"): the
    # run's crash already says what happened.
    if not isinstance(context.get("exception"), Interrupted | BlockingSleep):
        loop.default_exception_handler(context)


def run_guarded_coroutine(
    main: Coroutine[Any, Any, T],
    *,
    budget: float,
    virtual_limit: float | None = None,
    reuse_loop: bool = False,
) -> tuple[T | None, str | None]:
    """Run `main` on a fresh virtual event loop, guarded; returns (its value, None), or (None,
    what went wrong): the loop raised, hung, ran past `virtual_limit` virtual seconds, spun or
    busy-waited past `budget` wall-clock seconds, or called ``time.sleep``.

    `reuse_loop`: `main` runs only agentsim's own code (the reference loop on a scenario), which
    keeps no state keyed by the event loop, so it may run on a loop an earlier such run left
    clean (`VirtualEventLoop.reset`: the same as a new one), and leave its own for the next.

    No `asyncio.Runner`: its SIGINT handling alone costs more than a small run."""
    _wrap_sleep()
    loop = _new_loop(reuse_loop)
    stuck: list[str] = []

    async def watched() -> T:
        task = asyncio.current_task()
        assert task is not None

        def runaway() -> None:
            # With nothing else scheduled, the clock only got here because nothing could wake
            # the run: a deadlock, not a runaway.
            ready: Sized = getattr(loop, "_ready", ())
            busy = len(ready) > 0 or any(not h.cancelled() for h in loop._scheduled)
            stuck.append(
                f"the run was still going at the watchdog (virtual t = {limit:g} s)"
                if busy
                else "the run hung: nothing could ever wake it again (a deadlock)"
            )
            task.cancel()

        handle = None
        if virtual_limit is not None:
            limit = virtual_limit
            handle = loop.call_at(loop.time() + limit, runaway)
        try:
            return await main
        finally:
            if handle is not None:
                handle.cancel()
            loop.stop()  # the run is over: end this turn (`_drive`)

    previous = getattr(_guarded, "watch", None)
    watch = _WATCHDOG.arm(budget, loop)
    _guarded.watch = watch
    problem: str | None = None
    ended_well = False  # the run returned, and the watchdog never fired
    try:
        try:
            try:
                value = _drive(loop, watched())
                ended_well = watch.problem is None
                return value, watch.problem  # a time.sleep the loop caught still counts
            finally:
                _WATCHDOG.disarm(watch)  # first: nothing in between where an interrupt lands
                _guarded.watch = previous
        except (Interrupted, BlockingSleep):
            problem = watch.problem or "the run was interrupted"
        except asyncio.CancelledError:
            if not stuck:
                raise
            problem = stuck[0]
        except DeadlockError:
            problem = "the run hung: nothing could ever wake it again (a deadlock)"
        except Exception as exc:
            problem = f"the loop raised {type(exc).__name__}: {exc}"
        return None, watch.problem or problem
    finally:
        _cleanup(loop, budget, keep=reuse_loop and ended_well and watch.problem is None)


def _drive(loop: _CountingLoop, main: Coroutine[Any, Any, T]) -> T:
    """``loop.run_until_complete(main)`` for a `main` that stops the loop as it ends, one turn
    of the loop sooner: ``run_until_complete`` learns of the end from a done callback, which
    runs a turn later, only to stop the loop. What that turn would have run besides (callbacks
    made ready, timers due) is run as it would have been, in one more turn."""
    task = loop.create_task(main)
    task._log_destroy_pending = False  # type: ignore[attr-defined]  # (as run_until_complete)
    try:
        loop.run_forever()
        if task.done() and _turn_left(loop):
            loop.call_soon(loop.stop)  # where the done callback would have stopped it
            loop.run_forever()
    except BaseException:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the caller cannot reach the task
        raise
    if not task.done():  # something else stopped the loop
        raise RuntimeError("Event loop stopped before Future completed.")
    return task.result()


def _turn_left(loop: _CountingLoop) -> bool:
    """Would the loop's next turn run anything: a ready callback, or a live timer due now (as
    ``_run_once`` finds it)?"""
    if loop._ready:  # type: ignore[attr-defined]
        return True
    due = loop.time() + loop._clock_resolution
    return any(h.when() < due and not h.cancelled() for h in loop._scheduled)


# -- keeping what a run delivered -----------------------------------------------------------------


class GuardedRun:
    """An `AgentRun` that keeps the events the wrapped run delivered, for when it blows up."""

    def __init__(self, run: AgentRun, events: list[AgentEvent]) -> None:
        self.run, self.events = run, events
        self._iterator: AsyncGenerator[Any, None] | None = None

    def unwrap(self) -> tuple[AgentRun, list[AgentEvent]]:
        """The run itself, and the list to keep its events in: for a consumer that keeps each
        event it takes itself (`run_loop`), saving a generator step per event."""
        return self.run, self.events

    async def _pass_through(self) -> AsyncGenerator[Any, None]:
        async for event in self.run:
            if type(event) in EVENT_TYPES or isinstance(event, AgentEvent):
                self.events.append(event)
            yield event

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        if self._iterator is None:
            self._iterator = self._pass_through()
        return self._iterator

    @property
    def history(self) -> Sequence[Message]:
        return self.run.history

    @property
    def outcome(self) -> TerminalEvent | None:
        return getattr(self.run, "outcome", None)

    @property
    def violations(self) -> Sequence[Violation]:
        """What the run itself found wrong (an adapter's S2 rules), passed on to the harness."""
        return tuple(getattr(self.run, "violations", ()))

    async def aclose(self) -> None:
        try:
            if self._iterator is not None:
                await self._iterator.aclose()
        finally:
            await self.run.aclose()


class Recorder:
    """Wraps a loop so that the events of its (first) run survive the run blowing up."""

    def __init__(self, loop: AgentLoop) -> None:
        self.loop = loop
        self.features = getattr(loop, "features", None)  # judged on what the wrapped loop declares
        self.events: list[AgentEvent] = []
        self.runs: list[GuardedRun] = []
        self.provider: Provider | None = None  # as handed to the loop: it holds the timeline

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        self.provider = provider
        recorded = GuardedRun(
            self.loop.run(request, provider=provider, tools=tools, runtime=runtime), self.events
        )
        self.runs.append(recorded)
        return recorded

    def history(self) -> tuple[Message, ...]:
        """The first run's history, or () if it has none (a broken run may not)."""
        try:
            return tuple(self.runs[0].history) if self.runs else ()
        except Exception:
            return ()
