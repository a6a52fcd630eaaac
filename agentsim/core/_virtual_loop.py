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
* Threads. Worker threads run in wall-clock time, while this loop's clock jumps as soon as
  nothing is ready, so results would come back at arbitrary virtual times.
  ``run_in_executor`` (and so ``asyncio.to_thread`` and ``getaddrinfo``) therefore runs the
  function inline. Threads started by other means (for example ``anyio.to_thread``) are not
  supported.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from agentsim.core._errors import AgentsimError

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["DeadlockError", "VirtualEventLoop", "run_virtual"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_Events = list[tuple[selectors.SelectorKey, int]]


class DeadlockError(AgentsimError, RuntimeError):
    """Raised when nothing is ready, no timer can fire, and no I/O can arrive: a hang."""


class _VirtualSelector(selectors.BaseSelector):
    """Wraps a real selector (for the self-pipe and any real fds) and advances virtual time."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualEventLoop | None = None

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
        self._real.close()
        self.loop = None

    def select(self, timeout: float | None = None) -> _Events:
        # Whatever real I/O is already there (self-pipe wake-ups, real sockets) costs no time.
        events = self._real.select(0)
        if events or timeout == 0 or self.loop is None:
            return events
        if timeout is not None and self.loop._jump_to_next_timer():
            return []
        # No timer will ever fire. Only a real fd registered besides the self-pipe could wake us.
        if len(self._real.get_map()) > 1:
            return self._real.select(timeout)
        raise self.loop._deadlock()


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """A `SelectorEventLoop` whose `time()` is virtual: it starts at 0.0 and jumps to each timer."""

    _scheduled: list[asyncio.TimerHandle]
    _clock_resolution: float

    def __init__(self) -> None:
        self._now = 0.0
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._clock_resolution = math.ulp(self._now)

    def time(self) -> float:
        return self._now

    def _jump_to_next_timer(self) -> bool:
        # `_run_once` has just dropped cancelled handles from the head of `_scheduled`, and found
        # nothing ready. Jump to the head timer's `when` exactly, even when asyncio capped the
        # select timeout at 24 h: in virtual time the capped steps are pure overhead. Return
        # False if no timer can fire (none, or at +inf, as in `anyio.sleep_forever()`).
        if not self._scheduled or math.isinf(when := self._scheduled[0].when()):
            return False
        self._now = max(self._now, when)  # never go backwards
        self._clock_resolution = math.ulp(self._now)
        return True

    def _deadlock(self) -> DeadlockError:
        n = len(asyncio.all_tasks(self))
        waiting = "1 task is" if n == 1 else f"{n} tasks are"
        return DeadlockError(
            f"deadlock: nothing can ever run again ({waiting} waiting on something"
            " that no timer or I/O can complete)"
        )

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        # Run inline: a worker thread would run in wall-clock time while our clock jumps ahead,
        # so its result would come back at an arbitrary virtual time (see the module docstring).
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh `VirtualEventLoop` (clock at 0.0), then close it."""
    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        return runner.run(main)
