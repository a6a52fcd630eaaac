"""Every bundled scenario passes: its expectation, its strict script, and every invariant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentsim import (
    event_from_dict,
    load_scenario,
    message_from_dict,
    message_to_dict,
    run_scenario,
)
from agentsim.sse import decode_sse, encode_native

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def test_the_library_has_at_least_fifteen_scenarios() -> None:
    assert len(SCENARIOS) >= 15, [p.name for p in SCENARIOS]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_passes(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.expect is not None, "every bundled scenario states its expected outcome"
    result = run_scenario(scenario)
    assert result.passed, result.report()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_deterministic(path: Path) -> None:
    """M2: the same scenario and seed give byte-identical SSE, run after run."""
    scenario = load_scenario(path)
    first = encode_native(run_scenario(scenario).events)
    assert encode_native(run_scenario(scenario).events) == first
    assert encode_native(run_scenario(scenario, seed=scenario.seed + 1).events) != first


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_events_and_history_round_trip_through_json(path: Path) -> None:
    """Every event survives native SSE and JSON, and every message its dict form."""
    result = run_scenario(load_scenario(path))
    decoded = [
        event_from_dict(json.loads(e.data)) for e in decode_sse(encode_native(result.events))
    ]
    assert decoded == list(result.events)
    assert [message_from_dict(message_to_dict(m)) for m in result.history] == list(result.history)
