"""The trio backend (issue 11 part 2, DESIGN §4 M2): the reference loop, `run_scenario` and the
CLI run on trio, and the same scenario and seed give byte-identical SSE on asyncio and trio."""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from agentsim import InputError, ReferenceLoop, RunStarted, parse_scenario, run_scenario
from agentsim.cli._main import main
from agentsim.core._trio_clock import VirtualClock
from agentsim.fuzz._properties import replay_relation, second_backend_run
from agentsim.harness._guard import Limits
from agentsim.harness._metamorphic import check_determinism
from agentsim.harness._run import simulate
from agentsim.scenario._schema import load_scenario
from agentsim.sse import encode_native

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_scenario_gives_the_same_bytes_on_asyncio_and_trio(path: Path) -> None:
    scenario = load_scenario(path)
    a = run_scenario(scenario)
    b = run_scenario(scenario, backend="trio")
    assert b.passed, b.report()
    assert encode_native(b.events) == encode_native(a.events)
    assert b.history == a.history
    assert check_determinism(a, b) == []


def test_the_m2_check_catches_a_difference_between_the_backends() -> None:
    # A planted difference: the trio run with another seed (other ids) must be caught.
    a = run_scenario(ROOT / "scenarios/tool_call_then_answer.yaml")
    b = run_scenario(ROOT / "scenarios/tool_call_then_answer.yaml", seed=99, backend="trio")
    assert [v.invariant for v in check_determinism(a, b)] == ["M2"]


def test_a_cancel_due_with_a_chunk_wins_on_trio_as_on_asyncio_every_time() -> None:
    # trio runs tasks woken together in a random order: the scripted cancel must not race the
    # chunk due at the same instant (the driver keeps it as a deadline of its own).
    scenario = parse_scenario(
        {
            "input": "hi",
            "cancel": {"at_time": 1.0},
            "requests": [
                {"chunks": [{"text": "a"}, {"text": "b", "delay": 1.0}, {"finish": "stop"}]}
            ],
        }
    )
    want = encode_native(run_scenario(scenario).events)
    assert b'"reason":"cancelled"' in want
    assert b'"text":"b"' not in want
    for _ in range(20):
        assert encode_native(run_scenario(scenario, backend="trio").events) == want


def test_the_cli_prints_the_same_sse_on_both_backends() -> None:
    path = str(ROOT / "scenarios/concurrent_tools_results_appended_in_call_order.yaml")
    outputs = []
    for extra in ([], ["--backend", "asyncio"], ["--backend", "trio"]):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            assert main(["run", path, *extra]) == 0, err.getvalue()
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] == outputs[2] != ""


def test_a_bad_backend_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="expected 'asyncio' or 'trio', got 'curio'"):
        run_scenario("no/such/file.yaml", backend="curio")  # checked before the file is read
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(BUNDLED[0]), "--backend", "curio"])
    assert exit_.value.code == 2
    assert "invalid choice: 'curio'" in capsys.readouterr().err
    with pytest.raises(InputError, match="asyncio backend only"):
        run_scenario(BUNDLED[0], backend="trio", virtual_wall_clock=True)
    assert main(["run", str(BUNDLED[0]), "--backend", "trio", "--virtual-wall-clock"]) == 2


def test_the_virtual_clock_lands_exactly_on_deadlines() -> None:
    async def main_() -> float:
        await trio.sleep(0.03)
        await trio.sleep_until(0.3)
        return trio.current_time()

    assert trio.run(main_, clock=VirtualClock()) == 0.3  # exact, as on the virtual asyncio loop
    # Why a clock of our own: MockClock jumps *by* the gap, and lands an ulp beside it here.
    mock = trio.run(main_, clock=trio.testing.MockClock(autojump_threshold=0))
    assert mock == 0.03 + (0.3 - 0.03) != 0.3


def test_the_reference_loop_runs_under_trios_own_mock_clock() -> None:
    scenario = load_scenario(
        ROOT / "scenarios/retryable_errors_retried_with_exponential_backoff.yaml"
    )

    async def main_() -> Any:
        return await simulate(scenario)

    result = trio.run(main_, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result.passed, result.report()
    want = run_scenario(scenario).outcome
    assert result.outcome is not None
    assert want is not None
    assert math.isclose(result.outcome.t, want.t)


# -- loops of one's own on trio -------------------------------------------------------------------


class _AnyioLoop:
    """A loop written against anyio: the reference loop behind a wrapper that sleeps with anyio
    before each event and bounds each read with `fail_after`."""

    def run(self, request: Any, *, provider: Any, tools: Any, runtime: Any) -> Any:
        return _AnyioRun(
            ReferenceLoop().run(request, provider=provider, tools=tools, runtime=runtime)
        )


class _AnyioRun:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def history(self) -> Sequence[Any]:
        return tuple(self._inner.history)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._each()

    async def _each(self) -> AsyncIterator[Any]:
        events = aiter(self._inner)
        while True:
            with anyio.fail_after(1000):
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    return
            yield event

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_a_loop_written_against_anyio_gives_the_same_bytes_on_both() -> None:
    path = ROOT / "scenarios/deadline_bounds_retry_backoff.yaml"
    a = run_scenario(path, loop=_AnyioLoop())
    b = run_scenario(path, loop=_AnyioLoop(), backend="trio")
    assert a.passed, a.report()
    assert b.passed, b.report()
    assert encode_native(a.events) == encode_native(b.events)
    # M2's second run is on trio for it, and the relation holds.
    limits = Limits()
    second = second_backend_run(path, loop=_AnyioLoop, limits=limits)
    assert check_determinism(a, second) == []


class _Misbehaving:
    def __init__(self, how: str) -> None:
        self.how = how

    def run(self, request: Any, *, provider: Any, tools: Any, runtime: Any) -> Any:
        return _MisbehavingRun(self.how)


class _MisbehavingRun:
    history = ()

    def __init__(self, how: str) -> None:
        self.how = how

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        yield RunStarted(1, 0.0, "run_1")
        how = self.how
        if how == "raises":
            raise KeyError("boom")
        if how == "hangs":
            await anyio.Event().wait()
        if how == "runs_away":
            while True:
                await anyio.sleep(100)
        if how == "busy_waits":
            while True:
                await anyio.sleep(0)
        if how == "spins":
            while True:
                pass
        if how == "blocks":
            time.sleep(3600)
        if how == "uses_asyncio":
            await asyncio.sleep(1)

    async def aclose(self) -> None:
        pass


MISBEHAVIOURS = {
    "raises": "the loop raised KeyError: 'boom'",
    "hangs": "the run hung: nothing could ever wake it again",
    "runs_away": "the run was still going at the watchdog (virtual t = 4800 s)",
    "busy_waits": "while virtual time stood still",
    "spins": "spun for 0.3 s without awaiting",
    "blocks": "called time.sleep(3600)",
    "uses_asyncio": "the loop uses asyncio, which does not run on the trio backend",
}


@pytest.mark.parametrize("how", MISBEHAVIOURS)
def test_a_loop_that_misbehaves_on_trio_gets_a_clear_failure(how: str) -> None:
    started = time.monotonic()
    result = run_scenario(BUNDLED[0], loop=_Misbehaving(how), backend="trio", budget=0.3)
    assert result.crash is not None
    assert MISBEHAVIOURS[how] in result.crash, result.crash
    assert not result.passed
    assert result.events[0].type == "run_started"
    assert time.monotonic() - started < 3


def test_m2_of_a_loop_that_needs_asyncio_compares_asyncio_runs() -> None:
    class OnAsyncio(_Misbehaving):
        def __init__(self) -> None:
            super().__init__("uses_asyncio")

    # On asyncio the loop's sleep works; on trio it cannot run, so M2 falls back to asyncio.
    result = second_backend_run(BUNDLED[0], loop=OnAsyncio, limits=Limits(budget=1))
    assert result.crash is None
    m2 = replay_relation(ROOT / "scenarios/tool_call_then_answer.yaml", "M2")
    assert m2.passed, m2.report()
