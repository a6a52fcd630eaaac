"""A closed loop's selector and self-pipe go to the next loop, and nothing else does."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from agentsim.core import _virtual_loop
from agentsim.core._virtual_loop import DeadlockError, VirtualEventLoop


def _real(loop: VirtualEventLoop) -> object:
    return loop._selector._real  # type: ignore[attr-defined]


def test_a_closed_loops_selector_and_pipe_serve_the_next_loop() -> None:
    first = VirtualEventLoop()
    real, pipe = _real(first), first._ssock
    first.close()
    second = VirtualEventLoop()
    try:
        assert _real(second) is real
        assert second._ssock is pipe
    finally:
        second.close()


def test_nothing_of_the_old_loop_reaches_the_new_one() -> None:
    ran: list[str] = []
    old = VirtualEventLoop()
    old.run_until_complete(asyncio.sleep(30))
    old.call_soon_threadsafe(ran.append, "old")  # queued and a wake-up byte written, never run
    old.call_later(1, ran.append, "old timer")
    old.close()

    new = VirtualEventLoop()
    try:
        assert new.time() == 0.0
        with pytest.raises(BlockingIOError):  # the old wake-up byte was drained
            new._ssock.recv(1)
        woken = threading.Event()

        async def main() -> float:
            # A thread's report still wakes the new loop through the reused pipe.
            await new.run_in_executor(None, woken.set)
            await asyncio.sleep(2)
            return new.time()

        assert new.run_until_complete(main()) == 2.0
        assert woken.is_set()
        assert ran == []
        with pytest.raises(DeadlockError):  # and a hang is still a hang
            new.run_until_complete(new.create_future())
    finally:
        new.close()


def test_a_selector_left_with_a_real_fd_is_not_reused() -> None:
    loop = VirtualEventLoop()
    real = _real(loop)
    a, b = socket.socketpair()
    try:
        loop.add_reader(a.fileno(), lambda: None)  # left registered when the loop closes
        loop.close()
        assert all(parts[0] is not real for parts in _virtual_loop._POOL)
    finally:
        a.close()
        b.close()
