"""Virtual time on trio: a clock that jumps to the next deadline, landing on it exactly.

`trio.testing.MockClock(autojump_threshold=0)` jumps the clock when every task is blocked, but it
jumps *by* ``deadline - now``, and in floats ``now + (deadline - now)`` can miss the deadline by
an ulp (``0.03 + (0.3 - 0.03) == 0.30000000000000004``). `VirtualEventLoop` sets its clock to
the timer's time instead, so event times (and so the SSE bytes) would differ between the
backends. `VirtualClock` does what the virtual loop does: trio asks a clock how long to sleep
until the next deadline only when no task is runnable; this clock then *sets* its time to that
deadline and answers 0, so trio expires exactly the deadlines due at that instant.

Like MockClock's autojump it jumps whenever every task is blocked, also while a thread or real
I/O is outstanding (trio does not tell a clock about those). With no deadline at all it answers
``inf`` and trio waits for I/O: the harness always keeps one deadline (its virtual watchdog), so
a deadlock ends there. Imported only when a run uses trio (an optional dependency).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

__all__ = ["Passes", "VirtualClock"]


class VirtualClock(trio.abc.Clock):
    """trio's clock for a simulated run: starts at 0.0, jumps exactly to each next deadline."""

    def __init__(self) -> None:
        self._now = 0.0
        self.iterations = 0  # passes of trio's loop (counted by `Passes`): the guard's spin test
        self.interrupted = False  # set by the guard's watchdog thread (`interrupt`)
        self.on_interrupt: Callable[[], object] | None = None  # run by `Passes` in trio's thread

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def time(self) -> float:  # what the harness's wall-clock watchdog samples
        return self._now

    def interrupt(self) -> None:
        """Ask for the run to be stopped (from any thread): `Passes` calls `on_interrupt` at
        trio's next pass, in trio's own thread, where cancelling a scope is safe."""
        self.interrupted = True

    def deadline_to_sleep_time(self, deadline: float) -> float:
        if deadline <= self._now:
            return 0.0
        if math.isinf(deadline):
            return math.inf
        self._now = deadline
        return 0.0


class Passes(trio.abc.Instrument):
    """Counts the passes of trio's loop into `clock.iterations`: the guard's watchdog tells a
    spin (no pass) from a busy-wait (passes, but no virtual time) by it."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def before_io_wait(self, timeout: float) -> None:
        clock = self._clock
        clock.iterations += 1
        if clock.interrupted and clock.on_interrupt is not None:
            clock.on_interrupt()
            clock.on_interrupt = None
