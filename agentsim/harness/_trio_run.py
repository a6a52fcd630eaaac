"""Guarded simulated runs on trio (`run_scenario(..., backend="trio")`, ``agentsim run --backend
trio``): the trio half of DESIGN §4 M2, same scenario and seed, same bytes as on asyncio.

The run is ``trio.run`` with `VirtualClock` (exact jumps to each deadline, see
`agentsim.core._trio_clock`), under the same guard as on asyncio (`agentsim.harness._guard`):

- the wall-clock **budget** is the same process-wide watchdog thread; it samples the clock's
  virtual time and trio's passes (an instrument counts them) to tell a spin from a busy-wait,
  and raises `Interrupted` into the thread. Landing inside trio's own loop, trio reports that as
  a `TrioInternalError`: the watchdog's diagnosis is what the run reports either way;
- ``time.sleep`` inside the run fails it, as on asyncio (the same wrapper, thread-local);
- the **virtual watchdog** is a task sleeping until ``virtual_limit``; it tells a deadlock (no
  deadline left, nothing runnable: nothing can wake the run) from a runaway, as on asyncio.
- a scenario's ``cancel: {at_time}`` is a task sleeping until then (`cancelling_at`), and the
  token's `due` tells the loop when it comes, so the reference loop keeps it as a deadline of its
  own (a task of its own would race a chunk due at the same instant in trio's random order).

What is not supported on trio: ``virtual_wall_clock`` (time-machine follows the asyncio virtual
loop's clock; `run_scenario` refuses the combination as bad input).
"""

from __future__ import annotations

import asyncio
import math
import os
import traceback
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import trio

from agentsim.core._backends import ASYNCIO_ONLY
from agentsim.core._runtime import CancelToken
from agentsim.core._trio_clock import Passes, VirtualClock
from agentsim.harness._guard import _WATCHDOG, BlockingSleep, Interrupted, _guarded, _wrap_sleep

__all__ = ["asyncio_only", "cancelling_at", "run_guarded_trio"]

T = TypeVar("T")

_UNCLOSED = r"Async generator .* was garbage collected before it had been exhausted"


async def cancelling_at(cancel: CancelToken, at: float, main: Coroutine[Any, Any, T]) -> T:
    """Await `main` while `cancel` is cancelled at virtual time `at` (and says so in `due`)."""
    cancel.due = at
    outcome: list[T] = []
    failure: list[BaseException] = []

    async def fire() -> None:
        await trio.sleep_until(at)
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fire)
        try:
            outcome.append(await main)
        except BaseException as exc:  # re-raised below: not wrapped in the nursery's group
            failure.append(exc)
        nursery.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome[0]


def asyncio_only(exc: BaseException) -> str | None:
    """If `exc`, raised on trio, came out of asyncio itself: the one clear sentence for it."""
    frames = traceback.extract_tb(exc.__traceback__)
    asyncio_dir = os.path.dirname(asyncio.__file__) + os.sep
    if (
        any(frame.filename.startswith(asyncio_dir) for frame in frames)
        or (isinstance(exc, RuntimeError) and "event loop" in str(exc))
        or (isinstance(exc, TypeError) and "unrecognized yield message" in str(exc))
    ):
        return (
            f"{ASYNCIO_ONLY} ({type(exc).__name__}: {exc}): run it on asyncio (the default), "
            "or write it "
            "against anyio to run on both"
        )
    return None


def _message(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"the loop raised {type(exc).__name__}: {exc}"


def run_guarded_trio(
    main: Callable[[], Coroutine[Any, Any, T]], *, budget: float, virtual_limit: float | None
) -> tuple[T | None, str | None]:
    """`run_guarded_coroutine`'s twin on trio: (main's value, None) or (None, what went wrong)."""
    _wrap_sleep()
    clock = VirtualClock()
    stuck: list[str] = []

    async def watched() -> T:
        outcome: list[T] = []
        failure: list[BaseException] = []
        body = trio.CancelScope()
        clock.on_interrupt = body.cancel  # the guard's budget, when trio still gets control

        async def watchdog(limit: float) -> None:
            await trio.sleep_until(limit)
            # Let the tasks woken with us run first (trio runs a batch in random order): a
            # runaway sleeping to this very instant has its next deadline set by then.
            await trio.lowlevel.cancel_shielded_checkpoint()
            stats = trio.lowlevel.current_statistics()
            busy = stats.tasks_runnable > 0 or stats.seconds_to_next_deadline < math.inf
            stuck.append(
                f"the run was still going at the watchdog (virtual t = {limit:g} s)"
                if busy
                else "the run hung: nothing could ever wake it again (a deadlock)"
            )
            body.cancel()

        async with trio.open_nursery() as nursery:
            if virtual_limit is not None:
                nursery.start_soon(watchdog, trio.current_time() + virtual_limit)
            try:
                with body:
                    outcome.append(await main())
            except BaseException as exc:  # re-raised below: not wrapped in the nursery's group
                if isinstance(exc, Interrupted | BlockingSleep):
                    _WATCHDOG.disarm(watch)  # no second interrupt into trio's clean-up
                failure.append(exc)
            nursery.cancel_scope.cancel()
        if failure:
            raise failure[0]
        if not outcome:
            raise _Stuck
        return outcome[0]

    previous = getattr(_guarded, "watch", None)
    watch = _WATCHDOG.arm(budget, clock)
    _guarded.watch = watch
    problem: str | None = None
    try:
        try:
            with warnings.catch_warnings():
                # A loop that leaves a provider stream or its own event generator unclosed:
                # trio closes it when it is collected, as asyncio does at shutdown, but warns
                # (a ResourceWarning, an error under pytest). The same loop passes quietly on
                # asyncio; its bytes do not depend on it, so neither does the verdict here.
                warnings.filterwarnings("ignore", _UNCLOSED, ResourceWarning)
                value = trio.run(watched, clock=clock, instruments=[Passes(clock)])
            return value, watch.problem  # a time.sleep the loop caught still counts
        finally:
            _WATCHDOG.disarm(watch)
            _guarded.watch = previous
    except (Interrupted, BlockingSleep):
        problem = "the run was interrupted"
    except _Stuck:
        problem = stuck[0] if stuck else "the run was interrupted"
    except trio.TrioInternalError as exc:  # the interrupt landed in trio's own loop
        problem = f"the run failed inside trio: {exc.__cause__ or exc}"
    except Exception as exc:
        problem = _message(exc)
    except BaseExceptionGroup as exc:
        problem = _message(exc)
    return None, watch.problem or problem


class _Stuck(Exception):
    """The virtual watchdog ended the run."""
