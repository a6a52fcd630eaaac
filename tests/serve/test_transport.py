"""The in-process httpx transport: scripted time is virtual time, the client's read timeout is
honoured as a socket would, stalls and truncations end as they would over a network."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import time
from typing import Any

import pytest

from agentsim import DeadlockError, Scenario, VirtualEventLoop, parse_scenario
from agentsim.serve._transport import ScenarioTransport

httpx2 = pytest.importorskip("httpx2")

URL = "http://agentsim.test/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def scripted(*chunks: dict[str, Any]) -> Scenario:
    return parse_scenario({"input": "hi", "requests": [{"chunks": list(chunks)}]})


def run(main: Any) -> Any:
    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        return runner.run(main)


async def read(
    transport: ScenarioTransport, timeout: float | None = 600
) -> list[tuple[float, bytes]]:
    """(virtual time, piece) of each body piece read."""
    loop = asyncio.get_running_loop()
    async with (
        httpx2.AsyncClient(transport=transport, timeout=timeout) as http,
        http.stream("POST", URL, json=BODY) as response,
    ):
        return [(loop.time(), piece) async for piece in response.aiter_raw()]


def test_an_hour_of_scripted_delay_takes_no_wall_time() -> None:
    transport = ScenarioTransport(
        scripted({"text": "slow", "delay": 1800}, {"text": "er", "delay": 1800}, {"finish": "stop"})
    )
    started = time.perf_counter()
    pieces = run(read(transport, timeout=None))
    assert time.perf_counter() - started < 1.0
    times = [t for t, piece in pieces if b'"content":"' in piece and b'"role"' not in piece]
    assert times == [1800.0, 3600.0]
    assert pieces[-1] == (3600.0, b"data: [DONE]\n\n")


def test_a_gap_longer_than_the_read_timeout_raises_read_timeout_at_the_timeout() -> None:
    transport = ScenarioTransport(scripted({"text": "a"}, {"text": "b", "delay": 90}))

    async def main() -> float:
        with pytest.raises(httpx2.ReadTimeout, match="read timeout"):
            await read(transport, timeout=30)
        return asyncio.get_running_loop().time()

    assert run(main()) == 30.0


def test_a_stall_ends_at_the_read_timeout_or_deadlocks_without_one() -> None:
    stalled = scripted({"text": "a"}, {"stall": True})

    async def main() -> float:
        with pytest.raises(httpx2.ReadTimeout):
            await read(ScenarioTransport(stalled), timeout=45)
        return asyncio.get_running_loop().time()

    assert run(main()) == 45.0
    with pytest.raises(DeadlockError):
        run(read(ScenarioTransport(stalled), timeout=None))

    async def whole() -> float:  # a whole answer that stalls sends nothing at all
        async with httpx2.AsyncClient(transport=ScenarioTransport(stalled), timeout=20) as http:
            with pytest.raises(httpx2.ReadTimeout):
                await http.post(URL, json={**BODY, "stream": False})
        return asyncio.get_running_loop().time()

    assert run(whole()) == 20.0


def test_the_error_answer_comes_at_its_scripted_time() -> None:
    transport = ScenarioTransport(
        scripted({"error": {"kind": "overloaded", "status": 503, "message": "busy"}, "delay": 2})
    )

    async def main() -> tuple[int, float]:
        async with httpx2.AsyncClient(transport=transport) as http:
            response = await http.post(URL, json=BODY)
        return response.status_code, asyncio.get_running_loop().time()

    assert run(main()) == (503, 2.0)


def test_the_sync_transport_keeps_the_pieces_and_accounts_for_time() -> None:
    chunks: list[dict[str, Any]] = [{"text": "a"}, {"text": "b", "delay": 5}, {"finish": "stop"}]
    with httpx2.Client(transport=ScenarioTransport(scripted(*chunks)), timeout=10) as http:
        with http.stream("POST", URL, json=BODY) as response:
            pieces = list(response.iter_raw())
        assert len(pieces) == 5  # role, a, b, finish, [DONE]
    impatient = httpx2.Client(transport=ScenarioTransport(scripted(*chunks)), timeout=1)
    with (
        impatient,
        pytest.raises(httpx2.ReadTimeout),
        impatient.stream("POST", URL, json=BODY) as r,
    ):
        list(r.iter_raw())
    stalled = ScenarioTransport(scripted({"stall": True}))
    patient = httpx2.Client(transport=stalled, timeout=None)
    with patient, pytest.raises(DeadlockError), patient.stream("POST", URL, json=BODY) as r:
        list(r.iter_raw())
    never = httpx2.Client(transport=ScenarioTransport(scripted({"stall": True})), timeout=None)
    with never, pytest.raises(DeadlockError):
        never.post(URL, json={**BODY, "stream": False})
    truncated = ScenarioTransport(scripted({"text": "a"}, {"truncate": True}))
    with httpx2.Client(transport=truncated) as http, pytest.raises(httpx2.RemoteProtocolError):
        http.post(URL, json={**BODY, "stream": False})


def test_closing_a_response_early_closes_the_stream() -> None:
    transport = ScenarioTransport(scripted({"text": "a"}, {"text": "b", "delay": 60}))

    async def main() -> float:
        async with (
            httpx2.AsyncClient(transport=transport) as http,
            http.stream("POST", URL, json=BODY) as response,
        ):
            async for _ in response.aiter_raw():
                break
        return asyncio.get_running_loop().time()

    assert run(main()) == 0.0


@pytest.mark.skipif(importlib.util.find_spec("httpx") is None, reason="httpx is not installed")
def test_plain_httpx_clients_are_served_too() -> None:  # pragma: no cover - needs httpx
    httpx: Any = importlib.import_module("httpx")
    transport = ScenarioTransport(scripted({"text": "hi"}, {"finish": "stop"}))
    with httpx.Client(transport=transport) as http:
        answer = http.post(URL, json={**BODY, "stream": False}).json()
    assert answer["choices"][0]["message"]["content"] == "hi"


def test_the_async_transport_runs_on_trio_with_a_mock_clock() -> None:
    pytest.importorskip("trio")
    import trio
    import trio.testing

    transport = ScenarioTransport(
        scripted({"text": "slow", "delay": 1800}, {"text": "er", "delay": 0.5}, {"finish": "stop"})
    )

    async def main() -> list[tuple[float, bytes]]:
        async with (
            httpx2.AsyncClient(transport=transport, timeout=None) as http,
            http.stream("POST", URL, json=BODY) as response,
        ):
            return [(trio.current_time(), piece) async for piece in response.aiter_raw()]

    async def timed_out() -> float:
        stalled = ScenarioTransport(scripted({"text": "a"}, {"stall": True}))
        async with httpx2.AsyncClient(transport=stalled, timeout=30) as http:
            with pytest.raises(httpx2.ReadTimeout):
                await http.post(URL, json=BODY)
        return trio.current_time()

    started = time.perf_counter()
    pieces = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert time.perf_counter() - started < 1.0
    times = [t for t, piece in pieces if b'"content":"' in piece and b'"role"' not in piece]
    assert times == [1800.0, 1800.5]
    assert pieces[-1] == (1800.5, b"data: [DONE]\n\n")
    assert transport.playback.passed, transport.playback.report()
    assert trio.run(timed_out, clock=trio.testing.MockClock(autojump_threshold=0)) == 30.0
