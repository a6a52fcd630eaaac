"""The virtual-time event loop: exact timers, instant sleeps, deadlock detection, anyio support."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest

from agentsim.core._virtual_loop import DeadlockError, VirtualEventLoop, run_virtual

T = TypeVar("T")


def _run_anyio(fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn, backend="asyncio", backend_options={"loop_factory": VirtualEventLoop})


def test_sleep_an_hour_is_instant_and_exact() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    assert run_virtual(main()) == 3600.0
    assert time.perf_counter() - started < 0.5


def test_many_small_sleeps_adding_up_to_an_hour_are_fast() -> None:
    async def main() -> float:
        for _ in range(600):
            await asyncio.sleep(6)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    assert run_virtual(main()) == 3600.0
    assert time.perf_counter() - started < 0.5


def test_every_run_starts_at_zero_on_a_fresh_loop() -> None:
    async def main() -> tuple[float, asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(10)
        return start, loop

    start1, loop1 = run_virtual(main())
    start2, loop2 = run_virtual(main())
    assert start1 == start2 == 0.0
    assert loop1 is not loop2
    assert loop1.is_closed()
    assert loop2.is_closed()


def test_timers_fire_in_order_at_their_exact_virtual_times() -> None:
    whens = [0.1, 0.1 + 0.2, 0.1 + 0.2 + 0.3, 0.2, 300.0, 1e9 + 0.1]
    seen: list[tuple[float, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        for when in whens:
            loop.call_at(when, lambda w: seen.append((w, loop.time())), when)
        loop.call_at(max(whens), done.set_result, None)
        await done

    run_virtual(main())
    assert [w for w, _ in seen] == sorted(whens)
    for when, now in seen:
        assert now == when


def test_timer_just_after_a_huge_now_does_not_spin_or_fire_early() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1e12)  # far beyond asyncio's 24 h select cap: still one jump
        now = loop.time()
        assert now == 1e12
        seen: list[float] = []
        loop.call_at(now, lambda: seen.append(loop.time()))
        loop.call_at(now + 1e-3, lambda: seen.append(loop.time()))
        await asyncio.sleep(1)
        return seen

    started = time.perf_counter()
    assert run_virtual(main()) == [1e12, 1e12 + 1e-3]
    # A spin would never end (it takes about a millisecond); the bound is loose so that a loaded
    # machine cannot fail it.
    assert time.perf_counter() - started < 5


def test_clock_lands_exactly_on_when_where_now_plus_timeout_would_not() -> None:
    assert 0.03 + (0.3 - 0.03) != 0.3  # the float trap

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen: list[float] = []
        await asyncio.sleep(0.03)
        loop.call_at(0.3, lambda: seen.append(loop.time()))
        await asyncio.sleep(1)
        return seen

    assert run_virtual(main()) == [0.3]


def test_wait_for_times_out_at_exactly_the_deadline() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.create_future(), 300)
        return loop.time()

    assert run_virtual(main()) == 300.0


def test_timeout_at() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout_at(loop.time() + 42.5):
                await asyncio.sleep(1000)
        return loop.time()

    assert run_virtual(main()) == 42.5


def test_gather_of_sleeps_takes_the_longest_one() -> None:
    async def nap(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return asyncio.get_running_loop().time()

    async def main() -> tuple[list[float], float]:
        results = await asyncio.gather(nap(3), nap(1), nap(2))
        return list(results), asyncio.get_running_loop().time()

    assert run_virtual(main()) == ([3.0, 1.0, 2.0], 3.0)


def test_cancelling_a_sleeping_task() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(asyncio.sleep(1000))
        await asyncio.sleep(5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return loop.time()

    assert run_virtual(main()) == 5.0


def test_a_future_nothing_completes_is_a_deadlock() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    started = time.perf_counter()
    with pytest.raises(DeadlockError, match=r"deadlock: nothing can ever run again \(1 task is"):
        run_virtual(main())
    assert time.perf_counter() - started < 0.5


def test_deadlock_counts_the_stuck_tasks() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        tasks = [asyncio.create_task(event.wait()) for _ in range(2)]
        await asyncio.sleep(7)  # timers drain first; only then is it a deadlock
        assert loop.time() == 7.0
        await asyncio.gather(*tasks)

    with pytest.raises(DeadlockError, match=r"\(3 tasks are waiting"):
        run_virtual(main())
    assert issubclass(DeadlockError, RuntimeError)


def test_a_timer_at_infinity_is_not_a_way_out_of_a_deadlock() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(5, lambda: None).cancel()  # cancelled timers do not count either
        await asyncio.sleep(math.inf)

    started = time.perf_counter()
    with pytest.raises(DeadlockError):
        run_virtual(main())
    assert time.perf_counter() - started < 0.5


def test_call_soon_threadsafe_and_debug_mode_still_work() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        assert loop.get_debug()
        future: asyncio.Future[str] = loop.create_future()
        loop.call_later(3600, lambda: None)  # a far-off timer must not win the race
        loop.call_soon_threadsafe(future.set_result, "woken")
        assert await future == "woken"
        return loop.time()

    assert run_virtual(main()) == 0.0


def test_call_soon_threadsafe_from_another_thread_wakes_a_waiting_loop() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        gate = threading.Event()
        thread = threading.Thread(
            target=lambda: (gate.wait(), loop.call_soon_threadsafe(future.set_result, "hi"))
        )
        thread.start()
        gate.set()
        thread.join()  # the wake-up byte is in the self-pipe before the loop looks for work
        result = await future
        return result

    assert run_virtual(main()) == "hi"


def test_real_io_is_waited_for_rather_than_called_a_deadlock() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        with ours, theirs:
            ours.setblocking(False)
            writer = threading.Timer(0.05, theirs.sendall, args=(b"ping",))
            writer.start()
            try:
                return await loop.sock_recv(ours, 4)
            finally:
                writer.join()

    assert run_virtual(main()) == b"ping"


def test_anyio_sleep_fail_after_and_task_groups() -> None:
    async def main() -> tuple[float, list[int]]:
        done: list[int] = []

        async def worker(n: int) -> None:
            await anyio.sleep(n * 10)
            done.append(n)

        async with anyio.create_task_group() as tg:
            for n in (3, 1, 2):
                tg.start_soon(worker, n)
        assert anyio.current_time() == 30.0

        with pytest.raises(TimeoutError):
            with anyio.fail_after(5):
                await anyio.sleep(3600)
        return anyio.current_time(), done

    assert _run_anyio(main) == (35.0, [1, 2, 3])


def test_anyio_deadlock_is_reported() -> None:
    async def main() -> None:
        await anyio.Event().wait()

    async def sleeps_forever() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            await anyio.sleep(1)

    with pytest.raises(DeadlockError):
        _run_anyio(main)
    with pytest.raises(DeadlockError):
        _run_anyio(sleeps_forever)
