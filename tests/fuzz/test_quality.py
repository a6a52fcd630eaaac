"""The quality suite: the default properties find every deliberately buggy loop of
`tests.buggy_loops` and `tests.buggy_loops_more` (one bug class each, at least 25) within a
bounded number of generated examples, and what they leave behind is a small reproducer file that
the buggy loop fails and the reference loop passes.

Searches use a fixed seed, so the counts are exact for a given hypothesis version; the bound
leaves room for a different version to need several times as many. "Default fuzz finds it" is
what `agentsim fuzz --loop BUG --seed S` does, without the shrinking: each property in turn on
its share of the default budget, until one fails. The default suite checks seed 1 for every bug;
the `slow` test checks seeds 1, 2 and 3 for all of them (none is expected to fail).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentsim import load_scenario
from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._properties import check_sweep, run_with_loop
from agentsim.fuzz._search import PROPERTIES, search
from tests.buggy_loops import BUGS as FIRST_BUGS
from tests.buggy_loops_more import MORE_BUGS, MORE_DETECTED_BY

ROOT = Path(__file__).resolve().parents[2]
BOUND = 2_000  # generated examples at most (the worst bug needs a few hundred)

# The invariant each bug must break (a bug may break others too).
DETECTED_BY: dict[str, str] = {
    "partial_text_lost": "EV7",
    "dangling_tool_call": "H2",
    "stalled_stream_unbounded": "EV",  # EV2 (a stall hangs it) or EV8 (a chunk past the deadline)
    "max_steps_off_by_one": "EV4",
    "events_after_terminal": "EV2",
    "phase_flapping": "EV6",
    "usage_not_summed": "EV7",
    "retry_after_output": "EV8",
    "results_out_of_order": "H",
    "hook_terminate_keeps_going": "EV2",
    "blocks_out_of_order": "H3",
    "first_fragment_swallowed": "EV5",
    **MORE_DETECTED_BY,
}
BUGS = {**FIRST_BUGS, **MORE_BUGS}
# The property that finds a bug on seed 1 when it is not `run` (a cancellation during a backoff
# is only reached by the sweep's points halfway through each backoff), for the reproducer test.
FOUND_BY: dict[str, str] = {"late_cancel_after_backoff": "sweep", "late_cancel_after_tool": "sweep"}
DEFAULT_EXAMPLES = 1_000  # `agentsim fuzz`'s default budget


def _bug_params() -> list[str]:
    return sorted(BUGS)


def _spec(name: str) -> str:
    return f"tests.buggy_loops:{name}" if name in FIRST_BUGS else f"tests.buggy_loops_more:{name}"


def test_every_bug_class_has_a_variant() -> None:
    assert len(BUGS) >= 25
    assert set(BUGS) == set(DETECTED_BY)
    assert not set(FIRST_BUGS) & set(MORE_BUGS)


def _default_fuzz_finds(name: str, seed: int) -> tuple[str, ...] | None:
    """What `agentsim fuzz --loop <bug> --seed <seed>` finds first (ids), without the shrinking:
    each property in order, on its share of the default budget."""
    for prop, spec in PROPERTIES.items():
        budget = max(1, round(DEFAULT_EXAMPLES * spec.share))
        found = search(prop, BUGS[name], examples=budget, seed=seed, shrink=False)
        if found.failure is not None:
            return found.failure.ids
    return None


@pytest.mark.parametrize("name", _bug_params())
def test_default_fuzz_finds_each_bug_on_seed_1(name: str) -> None:
    ids = _default_fuzz_finds(name, 1)
    assert ids is not None, f"default fuzz with seed 1 does not find {name}"
    assert any(i.startswith(DETECTED_BY[name]) for i in ids), ids


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", _bug_params())
def test_default_fuzz_finds_each_bug_on_seeds_1_2_3(name: str, seed: int) -> None:
    ids = _default_fuzz_finds(name, seed)
    assert ids is not None, f"default fuzz with seed {seed} does not find {name}"
    assert any(i.startswith(DETECTED_BY[name]) for i in ids), ids


@pytest.mark.parametrize("name", ["partial_text_lost", "dangling_tool_call"])
def test_the_sweep_finds_the_cancellation_bugs_on_one_scenario(name: str) -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "tool_call_then_answer.yaml").read_text())
    failure = check_sweep((data, None), BUGS[name])
    assert failure is not None
    assert DETECTED_BY[name] in failure.ids
    assert "cancel" in failure.reproducer


def test_m1_finds_a_bug_that_depends_on_chunk_boundaries() -> None:
    found = search("M1", BUGS["first_fragment_swallowed"], examples=500, seed=1, shrink=False)
    assert found.failure is not None
    assert found.failure.ids == ("M1",)


@pytest.mark.parametrize(
    "name", ["partial_text_lost", "stalled_stream_unbounded", "results_out_of_order"]
)
def test_a_shrunk_reproducer_replays_the_failure(name: str, tmp_path: Path) -> None:
    spec = f"tests.buggy_loops:{name}"
    report = fuzz(spec, examples=BOUND, seed=1, out=tmp_path, properties=["run"], max_failures=1)
    [(failure, path)] = report.failures
    scenario = load_scenario(path)  # a valid scenario file
    assert sum(len(r.chunks) for r in scenario.requests) <= 6
    replayed = run_with_loop(path, loop=spec)
    assert not replayed.passed
    assert {v.invariant for v in replayed.violations} & set(failure.ids)
    assert run_with_loop(path).passed, "the reference loop passes the reproducer"


@pytest.mark.slow
@pytest.mark.parametrize("name", _bug_params())
def test_fuzz_leaves_a_small_reproducer_for_each_bug(name: str, tmp_path: Path) -> None:
    spec = _spec(name)
    prop = FOUND_BY.get(name, "run")
    report = fuzz(spec, examples=BOUND, seed=1, out=tmp_path, properties=[prop], max_failures=1)
    [(_, path)] = report.failures
    assert len(path.read_text().splitlines()) <= 40
    assert not run_with_loop(path, loop=spec).passed
