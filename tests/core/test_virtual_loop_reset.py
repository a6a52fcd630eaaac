"""A loop whose run left nothing behind resets to what a new loop is; anything left refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from agentsim.core._virtual_loop import DeadlockError, VirtualEventLoop


async def _work() -> float:
    loop = asyncio.get_running_loop()
    loop.call_later(5, lambda: None).cancel()  # a cancelled timer is nothing left
    await asyncio.sleep(3)
    await asyncio.gather(asyncio.sleep(1), asyncio.sleep(2))
    return loop.time()


def test_a_clean_loop_resets_to_a_new_ones_state() -> None:
    loop = VirtualEventLoop()
    try:
        assert loop.run_until_complete(_work()) == 5.0
        assert loop.reset()
        assert loop.time() == 0.0
        assert loop._scheduled == []
        assert not loop._ready  # type: ignore[attr-defined]
        assert next(loop._handed_out) == 0  # tasks numbered from 0 again
        assert loop.run_until_complete(_work()) == 5.0  # the same run, the same times
        with pytest.raises(DeadlockError):  # and a hang is still a hang
            loop.run_until_complete(loop.create_future())
    finally:
        loop.close()


def _timer(loop: VirtualEventLoop) -> None:
    loop.call_later(1, lambda: None)


def _soon(loop: VirtualEventLoop) -> None:
    loop.call_soon(lambda: None)


def _attribute(loop: VirtualEventLoop) -> None:
    loop.mine = 1  # type: ignore[attr-defined]


def _handler(loop: VirtualEventLoop) -> None:
    loop.set_task_factory(lambda loop, coro: asyncio.Task(coro, loop=loop))


def _debug(loop: VirtualEventLoop) -> None:
    loop.set_debug(not loop.get_debug())


def _listener(loop: VirtualEventLoop) -> None:
    loop.add_clock_listener(lambda now: None)


def _executor(loop: VirtualEventLoop) -> None:
    loop.run_until_complete(loop.run_in_executor(None, lambda: None))


def _pending_task(loop: VirtualEventLoop) -> None:
    loop.create_task(asyncio.sleep(1))


def _open_generator(loop: VirtualEventLoop) -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1
        yield 2

    async def start() -> None:
        g = gen()
        await g.__anext__()  # started (inside the loop), not finished
        _open_generator.kept = g  # type: ignore[attr-defined]

    loop.run_until_complete(start())


def _closed(loop: VirtualEventLoop) -> None:
    loop.close()


LEFT_BEHIND: list[Callable[[VirtualEventLoop], None]] = [
    _timer,
    _soon,
    _attribute,
    _handler,
    _debug,
    _listener,
    _executor,
    _pending_task,
    _open_generator,
    _closed,
]


@pytest.mark.parametrize("leave", LEFT_BEHIND, ids=lambda f: f.__name__.strip("_"))
def test_anything_left_of_the_run_refuses_a_reset(
    leave: Callable[[VirtualEventLoop], None],
) -> None:
    loop = VirtualEventLoop()
    try:
        loop.run_until_complete(asyncio.sleep(2))
        leave(loop)
        before = loop.time()
        assert not loop.reset()
        assert loop.time() == before  # nothing changed
    finally:
        if not loop.is_closed():
            loop.set_debug(False)
            loop.set_task_factory(None)
            try:
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
