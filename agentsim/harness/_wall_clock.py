"""Wall-clock reads that follow virtual time: ``virtual_wall_clock=True`` for one simulated run.

A run's own clock is the event loop's (`VirtualEventLoop.time()`), but tool code also reads the
wall clock: ``time.time()`` to stamp a result, ``datetime.now()`` to check an expiry. Those would
differ on every run. With the option on, for the length of the run:

- **time-machine does the patching** (``time.time``, ``time.time_ns``, ``time.gmtime``,
  ``time.localtime``, ``time.strftime``, ``datetime.datetime.now`` / ``utcnow`` / ``today``,
  ``datetime.date.today``, uuid1): it swaps the C functions, so code that did ``from time import
  time`` sees it too. It is the maintained library for this (freezegun patches names module by
  module and misses C callers); imported only when the option is on (the ``wallclock`` extra).
- **The wall clock is ``EPOCH + loop.time()``**, EPOCH being 2000-01-01T00:00:00 UTC, fixed so
  two runs agree byte for byte, and in the UTC zone (time-machine sets ``TZ`` for the run), so
  they agree on every machine too. It does not tick: it moves only when the virtual clock jumps,
  which the loop reports through its clock listener, exactly to the nanosecond.
- **Limits.** The patch is process-wide: other threads read the virtual wall clock during the
  run as well, so runs with the option on must not overlap in one process (a second one raises
  `HarnessError`). ``time.monotonic`` / ``perf_counter`` are not patched (the loop's own clock is
  the monotonic one), nor clocks read outside Python (C libraries, other processes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from agentsim.core._errors import HarnessError
from agentsim.core._virtual_loop import VirtualEventLoop

__all__ = ["VIRTUAL_EPOCH", "virtual_wall_clock"]

VIRTUAL_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_ACTIVE = threading.Lock()


@contextlib.contextmanager
def virtual_wall_clock(loop: VirtualEventLoop) -> Iterator[None]:
    """While inside, the wall clock reads ``VIRTUAL_EPOCH + loop.time()`` (see the module doc)."""
    try:
        import time_machine
    except ImportError as exc:
        raise HarnessError(
            "virtual_wall_clock needs time-machine: pip install 'agentsim[wallclock]'"
        ) from exc
    from zoneinfo import ZoneInfo

    if not _ACTIVE.acquire(blocking=False):
        raise HarnessError("virtual_wall_clock: another run with it on is going on in this process")
    try:
        epoch = VIRTUAL_EPOCH.replace(tzinfo=ZoneInfo("UTC"))  # a zone time-machine sets TZ for
        with time_machine.travel(epoch, tick=False) as traveller:
            at = [0]  # nanoseconds past the epoch the traveller stands at

            def follow(now: float) -> None:
                target = round(now * 1_000_000_000)
                # shift() takes float seconds and rounds back to ns: exact for these sizes.
                traveller.shift((target - at[0]) / 1_000_000_000)
                at[0] = target

            follow(loop.time())
            remove = loop.add_clock_listener(follow)
            try:
                yield
            finally:
                remove()
    finally:
        _ACTIVE.release()
