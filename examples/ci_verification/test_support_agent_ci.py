"""CI for an agent loop: every scenario of the folder passes, the SSE the browser gets is pinned
byte for byte, and a product rule of our own holds on every run.

``pytest`` here runs 15 tests in well under a second: each scenario is scripted and on virtual
time. After an intended change of the stream, ``pytest --snapshot-update`` rewrites the ``.sse``
files under ``__snapshots__/``; review their diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from agentsim import StepFinished, StepStarted
from agentsim.sse import check_transcript, encode_dialect
from agentsim.testing import AgentsimRun

# A product rule: no step may keep the user waiting more than 5 seconds (scripted delays and tool
# time included). Virtual time makes this exact and free to check.
STEP_BUDGET = 5.0

scenarios = pytest.mark.agentsim_scenarios("scenarios")


@scenarios
def test_scenario_passes(scenario: Path, agentsim_run: AgentsimRun) -> None:
    # The expectation, the strict script (the requests the loop sent, and their checks), and
    # every invariant (EV1-EV10 on the events, H1-H4 on the history, O1-O3, SR1-SR2).
    result = agentsim_run(scenario)
    assert result.passed, result.report()


@scenarios
def test_browser_stream_is_pinned(
    scenario: Path, agentsim_run: AgentsimRun, sse_snapshot: SnapshotAssertion
) -> None:
    # What our backend sends the browser: the run in the Vercel AI SDK's UI message stream.
    transcript = encode_dialect(agentsim_run(scenario).events, "vercel")
    assert check_transcript(transcript).passed  # the dialect's ordering rules
    assert transcript == sse_snapshot


@scenarios
def test_no_step_exceeds_the_latency_budget(scenario: Path, agentsim_run: AgentsimRun) -> None:
    started: dict[int, float] = {}
    for event in agentsim_run(scenario).events:
        if isinstance(event, StepStarted):
            started[event.step] = event.t
        elif isinstance(event, StepFinished):
            took = event.t - started[event.step]
            assert took <= STEP_BUDGET, f"step {event.step} took {took:g} s"
