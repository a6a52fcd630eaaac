"""The guard of every simulated run (issue 12 part 6): a loop that spins, busy-waits, blocks in
``time.sleep``, streams forever or yields garbage ends its run with a clear failure within the
budget - through ``agentsim run``, ``agentsim fuzz`` and the ``agentsim_run`` fixture - and what
comes next (the next run, property or test) goes on. Budgets here are short (0.3 s); each
misbehaving run costs about that, a well-behaved one never notices the guard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentsim import run_scenario
from agentsim.cassettes import load_cassette, replay_cassette
from agentsim.cli._main import main
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import run_guarded
from agentsim.harness._guard import DEFAULT_BUDGET, DEFAULT_MAX_EVENTS, Limits
from tests import misbehaving_loops
from tests.misbehaving_loops import MISBEHAVIOURS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
WEATHER = ROOT / "scenarios" / "tool_call_then_answer.yaml"
GUARD = ["--budget", "0.3", "--max-events", "2000"]


def _elapsed_within(started: float, seconds: float) -> None:
    """Well under the default budget (10 s a run): the short one was kept. Bounds are loose
    because a loaded machine is slow at everything else (imports, pytest start-up)."""
    assert time.perf_counter() - started < seconds


@pytest.mark.parametrize("name", sorted(MISBEHAVIOURS))
def test_agentsim_run_ends_a_misbehaving_loop_with_what_it_did(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    status = main(["run", str(WEATHER), "--loop", f"tests.misbehaving_loops:{name}", *GUARD])
    _elapsed_within(started, 5.0)
    err = capsys.readouterr().err
    assert status == 1
    assert "crash: the loop " in err
    assert MISBEHAVIOURS[name] in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(MISBEHAVIOURS))
def test_agentsim_fuzz_reports_the_misbehaviour_once_and_goes_on(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    status = main(
        ["fuzz", "--loop", f"tests.misbehaving_loops:{name}", "--examples", "1", "--seed", "1",
         "--property", "run", "--property", "M2", "--out", str(tmp_path), *GUARD]
    )  # fmt: skip
    _elapsed_within(started, 8.0)
    out = capsys.readouterr().out
    assert status == 1
    crashes = [line for line in out.splitlines() if line.startswith("FAIL crash:")]
    assert len(crashes) == 1, out  # once, not once per property
    assert MISBEHAVIOURS[name] in out
    assert "  M2 " in out  # the campaign went on to the next property
    [reproducer] = [p for p in tmp_path.glob("*.yaml") if "crash" in p.name]
    again = run_guarded(
        reproducer, loop=getattr(misbehaving_loops, name), budget=0.3, max_events=2000
    )
    assert MISBEHAVIOURS[name] in (again.crash or "")


def test_the_agentsim_run_fixture_fails_each_test_and_the_session_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.syspathinsert(str(ROOT))
    pytester.makepyfile(
        test_guarded=f"""
        import pytest

        NAMES = {sorted(MISBEHAVIOURS)!r}

        @pytest.mark.parametrize("name", NAMES)
        def test_misbehaving(agentsim_run, name):
            result = agentsim_run({str(WEATHER)!r}, loop="tests.misbehaving_loops:" + name)
            assert result.passed, result.report()

        def test_afterwards(agentsim_run):
            assert agentsim_run({str(WEATHER)!r}).passed
        """
    )
    started = time.perf_counter()
    outcome = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio",
        "--agentsim-budget", "0.3", "--agentsim-max-events", "2000",
    )  # fmt: skip
    _elapsed_within(started, 15.0)  # five runs at the default budget would take 50 s
    outcome.assert_outcomes(passed=1, failed=len(MISBEHAVIOURS))
    text = outcome.stdout.str()
    for words in MISBEHAVIOURS.values():
        assert words in text


def test_run_scenario_is_guarded_too() -> None:
    run_scenario(WEATHER)  # the watchdog now sleeps until this run's (default) budget is over
    started = time.perf_counter()
    result = run_scenario(WEATHER, loop=misbehaving_loops.spins(), budget=0.3)
    _elapsed_within(started, 5.0)  # a shorter budget wakes it earlier
    assert result.crash is not None
    assert MISBEHAVIOURS["spins"] in result.crash
    assert not result.passed
    assert [v.invariant for v in result.violations] == ["EV2"]


def test_a_well_behaved_run_is_the_same_under_any_budget() -> None:
    a = run_scenario(WEATHER, budget=0.05, max_events=50)
    b = run_scenario(WEATHER)
    assert a.passed
    assert b.passed
    assert a.events == b.events
    assert a.history == b.history


def test_limits_have_documented_defaults_and_are_validated() -> None:
    assert Limits() == Limits.of() == Limits(DEFAULT_BUDGET, DEFAULT_MAX_EVENTS)
    assert (DEFAULT_BUDGET, DEFAULT_MAX_EVENTS) == (10.0, 100_000)
    for bad in ({"budget": 0}, {"budget": float("inf")}, {"max_events": 0}):
        with pytest.raises(InputError):
            Limits.of(**bad)


def test_time_sleep_outside_a_simulated_run_still_sleeps() -> None:
    run_scenario(WEATHER)  # installs the wrapper
    started = time.perf_counter()
    time.sleep(0.01)
    assert time.perf_counter() - started >= 0.01


@pytest.mark.parametrize("name", ["blocks", "yields_garbage"])
def test_a_cassette_replay_is_guarded_too(name: str) -> None:
    cassette = load_cassette(ROOT / "cassettes" / "anthropic.yaml")
    result = replay_cassette(cassette, loop=getattr(misbehaving_loops, name)())
    assert result.crash is not None
    assert MISBEHAVIOURS[name] in result.crash
    assert not result.problems  # the crash, not its consequences
