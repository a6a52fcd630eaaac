"""Threads on virtual time: work handed to a real thread is waited for in real time while the
virtual clock stands still, results come back in a deterministic order, and only a loop with no
timer, no I/O and no running thread left is a deadlock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from agentsim.core._virtual_loop import (
    DeadlockError,
    VirtualEventLoop,
    run_virtual,
    simulated_loop,
)

Hand = Callable[[Callable[[], str]], Awaitable[str]]


async def _to_thread(fn: Callable[[], str]) -> str:
    return await asyncio.to_thread(fn)


async def _anyio(fn: Callable[[], str]) -> str:
    return await anyio.to_thread.run_sync(fn)


async def _pool(fn: Callable[[], str]) -> str:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)


async def _default(fn: Callable[[], str]) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def _wrapped(fn: Callable[[], str]) -> str:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return await asyncio.wrap_future(pool.submit(fn))


HANDS = pytest.mark.parametrize(
    "hand",
    [_to_thread, _anyio, _pool, _default, _wrapped],
    ids=["asyncio.to_thread", "anyio.to_thread", "ThreadPoolExecutor", "default", "wrap_future"],
)


def _work(seconds: float, result: str) -> Callable[[], str]:
    def work() -> str:
        time.sleep(seconds)
        assert threading.current_thread() is not threading.main_thread()
        return result

    return work


async def _race(hand: Hand, seconds: float) -> list[tuple[str, float]]:
    """A thread's work against timers that are due while it runs: the order of what happened."""
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, float]] = []

    async def ticker() -> None:
        for _ in range(3):
            await asyncio.sleep(0.01)  # far shorter than the thread's real time
            seen.append(("tick", loop.time()))

    ticks = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    seen.append((await hand(_work(seconds, "result")), loop.time()))
    await ticks
    return seen


@HANDS
def test_a_thread_is_waited_for_in_real_time_while_the_clock_stands_still(hand: Hand) -> None:
    expected = [("result", 0.0), ("tick", 0.01), ("tick", 0.02), ("tick", 0.03)]
    for seconds in (0.0, 0.03):  # however long it takes in real time: the same order and times
        assert run_virtual(_race(hand, seconds)) == expected


@HANDS
def test_threads_work_under_anyio_on_the_virtual_loop(hand: Hand) -> None:
    async def main() -> list[tuple[str, float]]:
        return await _race(hand, 0.02)

    got = anyio.run(main, backend="asyncio", backend_options={"loop_factory": VirtualEventLoop})
    assert got == [("result", 0.0), ("tick", 0.01), ("tick", 0.02), ("tick", 0.03)]


def test_many_threads_and_timers_give_the_same_trace_every_time() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[str, float]] = []

        async def one(n: int) -> None:
            await asyncio.sleep(n * 0.5)
            hand = (_to_thread, _anyio, _pool)[n % 3]
            got = await hand(_work(0.002 * (7 - n), f"thread {n}"))
            seen.append((got, loop.time()))
            await asyncio.sleep(0.25)
            seen.append((f"after {n}", loop.time()))

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(one, n)
        return seen

    runs = {repr(run_virtual(main())) for _ in range(3)}
    assert len(runs) == 1


def test_errors_in_threads_come_back_as_errors() -> None:
    def fail() -> str:
        raise ValueError("boom")

    async def main() -> None:
        for hand in (_to_thread, _anyio, _pool, _wrapped):
            with pytest.raises(ValueError, match="boom"):
                await hand(fail)

    run_virtual(main())


def test_a_waiting_task_with_no_thread_left_is_still_a_deadlock() -> None:
    async def main() -> None:
        assert await asyncio.to_thread(lambda: 1) == 1
        assert await anyio.to_thread.run_sync(lambda: 2) == 2  # its worker now idles
        await asyncio.Event().wait()

    with pytest.raises(DeadlockError, match="no timer, I/O or running thread"):
        run_virtual(main())


def test_a_thread_that_never_finishes_is_reported_after_the_real_time_limit() -> None:
    release = threading.Event()

    async def main() -> None:
        await asyncio.to_thread(release.wait)

    def run() -> None:
        with asyncio.Runner(loop_factory=lambda: VirtualEventLoop(thread_limit=0.2)) as runner:
            try:
                runner.run(main())
            finally:
                release.set()

    started = time.perf_counter()
    with pytest.raises(DeadlockError, match=r"a worker thread has run for 0.2 s of real time"):
        run()
    assert time.perf_counter() - started < 5
    with pytest.raises(ValueError, match="thread_limit"):
        VirtualEventLoop(thread_limit=0)


def test_workers_know_which_simulated_run_they_work_for() -> None:
    def where() -> bool:
        return simulated_loop() is not None

    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        assert simulated_loop() is loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return [
                await asyncio.to_thread(where),
                await anyio.to_thread.run_sync(where),
                await loop.run_in_executor(pool, where),
                await loop.run_in_executor(None, where),
            ]

    async def real() -> list[bool]:
        return [await asyncio.to_thread(where), await anyio.to_thread.run_sync(where)]

    assert run_virtual(main()) == [True] * 4
    assert asyncio.run(real()) == [False, False]
    assert simulated_loop() is None


def test_a_process_pool_is_waited_for_too() -> None:
    async def main() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            value = await loop.run_in_executor(pool, pow, 2, 10)
        return value, loop.time()

    assert run_virtual(main()) == (1024, 0.0)


def test_a_fastapi_def_endpoint_and_dependency_run_on_the_virtual_loop() -> None:
    fastapi = pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    app = fastapi.FastAPI()

    def user() -> str:  # a `def` dependency: anyio's thread pool
        return "ada"

    @app.get("/hello")
    def hello(name: str = fastapi.Depends(user)) -> dict[str, Any]:  # a `def` endpoint, too
        time.sleep(0.01)
        return {"hello": name, "worker": threading.current_thread() is not threading.main_thread()}

    async def main() -> tuple[Any, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            await asyncio.sleep(5)
            response = await client.get("/hello")
        return response.json(), asyncio.get_running_loop().time()

    assert run_virtual(main()) == ({"hello": "ada", "worker": True}, 5.0)


def test_a_tool_in_a_thread_gives_the_same_run_however_long_it_takes() -> None:
    from agentsim import ReferenceLoop, Toolset, parse_scenario, run_scenario
    from agentsim.core._tools import Tool
    from agentsim.sse import encode_dialect

    scenario = parse_scenario(
        {
            "input": "Look it up",
            "options": {"idle_timeout": 0.5, "deadline": 60},
            "tools": {"lookup": {"results": ["unused"]}},
            "requests": [
                {
                    "chunks": [
                        {"tool_call": {"name": "lookup", "arguments": {}}, "delay": 0.25},
                        {"finish": "tool_calls"},
                    ]
                },
                {"chunks": [{"text": "found", "delay": 0.25}, {"finish": "stop"}]},
            ],
        }
    )

    def run(seconds: float) -> bytes:
        class ThreadedLoop:
            def run(self, request: Any, *, provider: Any, tools: Any, runtime: Any) -> Any:
                async def lookup() -> str:
                    return await anyio.to_thread.run_sync(_work(seconds, "in a thread"))

                toolset = Toolset([Tool("lookup", lookup)])
                return ReferenceLoop().run(
                    request, provider=provider, tools=toolset, runtime=runtime
                )

        result = run_scenario(scenario, loop=ThreadedLoop())
        assert result.passed, result.report()
        return encode_dialect(result.events, "native")

    assert run(0.0) == run(0.03) == run(0.0)


@pytest.mark.parametrize("hand", [_to_thread, _anyio, _wrapped], ids=["asyncio", "anyio", "wrap"])
def test_threads_running_at_once_report_in_a_fixed_order_whatever_their_durations(
    hand: Hand,
) -> None:
    def run(durations: tuple[float, ...]) -> list[str]:
        async def main() -> list[str]:
            seen: list[str] = []

            async def one(n: int) -> None:
                seen.append(await hand(_work(durations[n], f"thread {n}")))

            async def spinner() -> None:  # the loop's own work, meanwhile
                for i in range(50):
                    seen.append(f"spin {i}")
                    await asyncio.sleep(0)

            async with anyio.create_task_group() as tg:
                for n in range(len(durations)):
                    tg.start_soon(one, n)
                tg.start_soon(spinner)
            return seen

        return run_virtual(main())

    fast_first = run((0.0, 0.02, 0.04))
    slow_first = run((0.04, 0.02, 0.0))
    assert fast_first == slow_first
    assert fast_first[-3:] == ["thread 0", "thread 1", "thread 2"]  # after the loop's own work


def test_a_loop_spinning_while_a_thread_runs_still_gets_the_result() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: 42)
        spins = 0
        while not future.done():  # never idle: the report comes after a real second
            spins += 1
            await asyncio.sleep(0)
        assert spins > 0
        return await future

    assert run_virtual(main()) == 42
