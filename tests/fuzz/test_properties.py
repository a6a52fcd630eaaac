"""The property suite: the reference loop keeps every invariant over generated scenarios.

- EV1-EV10 and H1-H4 over whole generated runs (faults, hooks, limits, timing, cancellation);
- the cancellation sweep: every chunk boundary, every tool and backoff, every consumer drop, of
  generated scenarios and of every bundled scenario (EV7 and H2 above all);
- M1 fragmentation invariance, M2 determinism, M3 time stretching.

Examples per test follow the hypothesis profile (``dev`` 60, ``ci`` 150, ``fuzz`` 5,000); the
long fuzz run of every property is marked ``slow``. M2's second run is on trio (DESIGN §4:
"on asyncio and trio"); every bundled scenario is also compared across the backends in
tests/harness/test_trio.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agentsim import RunCancelled, assert_invariants
from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._properties import check_m1, check_m2, check_m3, crashed, run_guarded
from agentsim.harness._sweep import sweep
from agentsim.strategies import scenarios

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))


def assert_run_holds(data: dict[str, Any]) -> None:
    result = run_guarded(data)
    assert not crashed(result), result.problems
    assert_invariants(result.trace)


@given(scenarios())
def test_every_invariant_holds_over_generated_runs(data: dict[str, Any]) -> None:
    assert_run_holds(data)


def _sweep_holds(data: dict[str, Any]) -> int:
    points = 0
    for variant, result in sweep(data, run_guarded, drops=True):
        assert_invariants(result.trace)
        cancel = variant.get("cancel") or {}
        if "at_time" in cancel and isinstance(result.outcome, RunCancelled):
            assert result.outcome.t == pytest.approx(cancel["at_time"])  # it stops at once
        points += 1
    return points


@given(scenarios(cancellation=False))
def test_cancellation_sweep_over_generated_scenarios(data: dict[str, Any]) -> None:
    _sweep_holds(data)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_cancellation_sweep_over_bundled_scenarios(path: Path) -> None:
    assert _sweep_holds(yaml.safe_load(path.read_text())) > 1


@given(scenarios(metamorphic=True), st.integers(0, 2**16))
def test_m1_rechunking_changes_only_the_deltas(data: dict[str, Any], seed: int) -> None:
    failure = check_m1((data, seed), None)
    assert failure is None, failure.lines()


@given(scenarios())
def test_m2_same_seed_same_bytes(data: dict[str, Any]) -> None:
    failure = check_m2((data, None), None)
    assert failure is None, failure.lines()


@given(scenarios(metamorphic=True), st.sampled_from((2.0, 3.5, 10.0)))
def test_m3_stretched_delays_change_only_t(data: dict[str, Any], factor: float) -> None:
    failure = check_m3((data, factor), None)
    assert failure is None, failure.lines()


@pytest.mark.slow
def test_the_reference_loop_passes_a_long_fuzz_run(tmp_path: Path) -> None:
    report = fuzz(None, examples=20_000, seed=2024, out=tmp_path)
    assert report.passed, [(f.key, f.lines()) for f, _ in report.failures]
    assert report.examples["run"] == 20_000
