"""The injected runtime: one object carrying the seeded id factory, the random source and the clock.

Nothing inside a simulated run may read the wall clock, real randomness or the network; loops and
providers get ids from `Runtime.ids`, randomness from `Runtime.random` and time from `Runtime.now()`
(the virtual clock of the running event loop). Two runs with the same seed produce the same ids.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agentsim.core._backends import now as backend_now
from agentsim.core._errors import InputError

__all__ = ["CancelToken", "IdFactory", "Runtime"]


class IdFactory:
    """Deterministic ids: ``prefix_`` followed by 12 hex digits from a seeded generator."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"agentsim-ids:{seed}")

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self._rng.getrandbits(48):012x}"


class CancelToken:
    """A cancellation request a loop watches: `cancel()` may be called at any moment.

    Loops register a callback (the reference loop uses it to interrupt whatever it awaits); other
    code can poll `cancelled`.
    """

    def __init__(self) -> None:
        self._cancelled = False
        self._callbacks: list[Callable[[], None]] = []
        # When the harness has scheduled `cancel()` (virtual seconds on the run's clock), if it
        # has: a loop on trio makes it one of its own deadlines, so that a chunk due at the same
        # instant cannot race it in trio's randomised scheduling (the reference loop does).
        self.due: float | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        for callback in list(self._callbacks):
            callback()

    def add_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on cancellation (at once if already cancelled); returns a remover."""
        if self._cancelled:
            callback()
        else:
            self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove


class Runtime:
    """Clock, ids and randomness for one simulated run, all derived from `seed`."""

    def __init__(self, *, seed: int = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self.ids = IdFactory(seed)
        self.random = random.Random(f"agentsim-random:{seed}")

    @staticmethod
    def now() -> float:
        """Virtual seconds on the running event loop's clock (asyncio's or trio's)."""
        return backend_now()
