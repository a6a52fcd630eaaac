"""The two event-loop backends a simulated run can live on: asyncio and trio (DESIGN §1, §4 M2).

A run's own code (the scripted provider, the scripted tools, the harness's recording, the
reference loop) needs only a few things from the event loop: the virtual clock, a sleep, a sleep
that never ends, and the class of the exception cancellation raises. This module gives each of
them for whichever backend runs the calling code. Choices:

- **asyncio is the default and stays byte for byte what it was**: every helper calls exactly the
  asyncio function the code called before (a stall is a future nobody completes, not a sleep to
  +inf, so the guard still tells a deadlock from a runaway by the timers left).
- **Which backend runs is told by asyncio's running loop**: none, inside a trio run, means trio
  (the test `ScenarioTransport` uses, and the cheapest one: a C call, no sniffio look-up).
- **trio is imported only when trio runs** (it is an optional dependency: ``agentsim[trio]``).
- The trio clock that lands exactly on deadlines, and the trio run, live in
  `agentsim.core._trio_clock`, imported only by a trio run.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, Literal

from agentsim.core._errors import InputError

__all__ = [
    "ASYNCIO_ONLY",
    "BACKENDS",
    "Backend",
    "cancelled_errors",
    "check_backend",
    "clock",
    "current_backend",
    "now",
    "sleep",
    "sleep_forever",
]

Backend = Literal["asyncio", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")
# How the crash of a loop that uses asyncio itself begins on trio (harness/_trio_run).
ASYNCIO_ONLY = "the loop uses asyncio, which does not run on the trio backend"


def check_backend(value: object, *, path: str = "backend") -> Backend:
    """`value` if it names a backend (and, for trio, trio is installed); else `InputError`."""
    if value == "asyncio":
        return "asyncio"
    if value == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise InputError(
                "the trio backend needs trio installed (pip install 'agentsim[trio]')", path=path
            ) from None
        return "trio"
    raise InputError(f"expected 'asyncio' or 'trio', got {value!r}", path=path)


def current_backend() -> Backend:
    """The backend running the calling coroutine: asyncio if an asyncio loop runs, else trio."""
    return "asyncio" if asyncio._get_running_loop() is not None else "trio"


def now() -> float:
    """The running backend's clock (virtual seconds on a simulated run)."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop.time()
    import trio

    return trio.current_time()


def clock() -> Callable[[], float]:
    """The running backend's clock as a function to call (for hot paths: no look-up per read)."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop.time
    import trio

    return trio.current_time


async def sleep(seconds: float) -> None:
    """Sleep `seconds` on the running backend."""
    if asyncio._get_running_loop() is not None:
        await asyncio.sleep(seconds)
        return
    import trio

    await trio.sleep(seconds)


async def sleep_forever() -> None:
    """Wait for ever (until cancelled): on asyncio a future nobody completes, as before."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        await loop.create_future()
        return
    import trio

    await trio.sleep_forever()


def cancelled_errors() -> tuple[type[BaseException], ...]:
    """What cancellation raises: asyncio's `CancelledError`, and trio's `Cancelled` once trio is
    imported (catch both: a wrapper does not know which backend will run it)."""
    trio: Any = sys.modules.get("trio")
    if trio is None:
        return (asyncio.CancelledError,)
    return (asyncio.CancelledError, trio.Cancelled)
