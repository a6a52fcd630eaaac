"""Wall-clock reads on virtual time: with ``virtual_wall_clock`` on, a tool that stamps
``time.time()`` / ``datetime.now()`` gives the same bytes on every run; off, it reads real time."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest

from agentsim import ReferenceLoop, RunRequest, Runtime, Toolset, parse_scenario, run_scenario
from agentsim.cli._main import main
from agentsim.core._events import ToolExecuted
from agentsim.core._tools import Tool
from agentsim.harness._wall_clock import VIRTUAL_EPOCH
from agentsim.loop._protocol import AgentRun, Provider
from agentsim.sse import encode_dialect

STAMP = {
    "input": "Stamp it",
    "tools": {"stamp": {"results": ["unused"]}},
    "requests": [
        {
            "chunks": [
                {"tool_call": {"id": "c1", "name": "stamp", "arguments": {}}, "delay": 90.5},
                {"finish": "tool_calls"},
            ]
        },
        {"chunks": [{"text": "stamped", "delay": 3600}, {"finish": "stop"}]},
    ],
}
SCENARIO = parse_scenario(STAMP)


async def _stamp() -> str:
    in_thread = await asyncio.to_thread(time.time)  # threads read the same clock
    return " ".join(
        [
            repr(time.time()),
            str(time.time_ns()),
            dt.datetime.now().isoformat(),
            dt.datetime.now(dt.UTC).isoformat(),
            dt.date.today().isoformat(),
            time.strftime("%H:%M:%S"),
            repr(in_thread),
        ]
    )


class StampingLoop:
    """The reference loop, with a `stamp` tool that records the wall clock."""

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        stamping = Toolset([Tool("stamp", lambda: _stamp())])
        return ReferenceLoop().run(request, provider=provider, tools=stamping, runtime=runtime)


def _stamps(**options: Any) -> tuple[bytes, str]:
    result = run_scenario(SCENARIO, loop=StampingLoop(), **options)
    assert result.passed, result.report()
    [executed] = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert executed.output is not None
    return encode_dialect(result.events, "native"), executed.output


def test_wall_clock_reads_follow_virtual_time_and_repeat_byte_for_byte() -> None:
    first, stamp = _stamps(virtual_wall_clock=True)
    second, _ = _stamps(virtual_wall_clock=True)
    assert first == second
    at = VIRTUAL_EPOCH.timestamp() + 90.5  # the tool runs at virtual t = 90.5
    assert stamp.split() == [
        repr(at),
        str(round(at * 1e9)),
        "2000-01-01T00:01:30.500000",
        "2000-01-01T00:01:30.500000+00:00",
        "2000-01-01",
        "00:01:30",
        repr(at),
    ]
    assert time.time() > VIRTUAL_EPOCH.timestamp() + 10 * 365 * 86400  # real time again after


def test_the_scenario_key_turns_it_on_and_it_is_off_by_default() -> None:
    keyed = parse_scenario({**STAMP, "virtual_wall_clock": True})
    result = run_scenario(keyed, loop=StampingLoop())
    [executed] = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert executed.output is not None
    assert executed.output.startswith(repr(VIRTUAL_EPOCH.timestamp() + 90.5))
    _, real = _stamps()
    assert float(real.split()[0]) > time.time() - 60  # off: the real wall clock


def test_the_cli_flag(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    path = tmp_path / "stamp.yaml"
    path.write_text(
        "input: Stamp it\ntools: {stamp: {results: [unused]}}\nrequests:\n"
        "  - chunks: [{tool_call: {id: c1, name: stamp, arguments: {}}, delay: 2}, "
        "{finish: tool_calls}]\n"
        "  - chunks: [{text: stamped}, {finish: stop}]\n"
    )
    runs = []
    for _ in range(2):
        argv = ["run", str(path), "--loop", f"{__name__}:StampingLoop", "--virtual-wall-clock"]
        assert main(argv) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]
    assert repr(VIRTUAL_EPOCH.timestamp() + 2) in runs[0]


def test_overlapping_runs_with_it_on_are_a_harness_error() -> None:
    async def both() -> object:
        from agentsim import VirtualEventLoop
        from agentsim.harness._wall_clock import virtual_wall_clock

        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        with virtual_wall_clock(loop):
            return await asyncio.to_thread(lambda: run_scenario(SCENARIO, virtual_wall_clock=True))

    from agentsim import RunResult, run_virtual

    # run_scenario never raises for it: the run's result says agentsim could not run the loop.
    result = run_virtual(both())
    assert isinstance(result, RunResult)
    assert not result.passed
    assert result.violations == ()
    assert result.crash is None
    assert len(result.harness) == 1
    assert "another run" in result.harness[0]
    assert "harness: HarnessError" in result.report()
