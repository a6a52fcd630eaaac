"""The injected runtime: one object carrying the seeded id factory, the random source and the clock.

Nothing inside a simulated run may read the wall clock, real randomness or the network; loops and
providers get ids from `Runtime.ids`, randomness from `Runtime.random` and time from `Runtime.now()`
(the virtual clock of the running event loop). Two runs with the same seed produce the same ids.

Cheap to make: a fuzz campaign makes one runtime per run, thousands a second, and seeding a
`random.Random` from a string costs more than a small run's loop. So the values an `IdFactory`
draws are kept per seed (`_Draws`: the same 48-bit numbers, in the same order, as its own seeded
generator would give) and shared by every factory of that seed, and `Runtime.random` is seeded
only when first read.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from agentsim.core._backends import now as backend_now
from agentsim.core._errors import InputError

__all__ = ["CancelToken", "IdFactory", "Runtime"]


class _Draws:
    """The 48-bit draws of the generator seeded ``agentsim-ids:<seed>``, drawn once, in order."""

    __slots__ = ("_lock", "_rng", "values")

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"agentsim-ids:{seed}")
        self._lock = threading.Lock()  # runs in several threads share the draws of a seed
        self.values: list[int] = []

    def at(self, n: int) -> int:
        values = self.values
        if n >= len(values):
            with self._lock:
                while len(values) <= n:
                    values.append(self._rng.getrandbits(48))
        return values[n]


_DRAWS: dict[int, _Draws] = {}
_MOST_SEEDS = 256  # seeds whose draws are kept; beyond them a factory draws its own


class IdFactory:
    """Deterministic ids: ``prefix_`` followed by 12 hex digits from a seeded generator."""

    __slots__ = ("_draws", "_next")

    def __init__(self, seed: int) -> None:
        draws = _DRAWS.get(seed)
        if draws is None:
            draws = _Draws(seed)
            if len(_DRAWS) < _MOST_SEEDS:
                _DRAWS[seed] = draws
        self._draws = draws
        self._next = 0

    def new(self, prefix: str) -> str:
        n = self._next
        self._next = n + 1
        return f"{prefix}_{self._draws.at(n):012x}"


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
        self._random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """The run's random source, seeded from `seed` (when first read)."""
        if self._random is None:
            self._random = random.Random(f"agentsim-random:{self.seed}")
        return self._random

    @staticmethod
    def now() -> float:
        """Virtual seconds on the running event loop's clock (asyncio's or trio's)."""
        return backend_now()
