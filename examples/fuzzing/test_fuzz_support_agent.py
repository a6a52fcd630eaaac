"""Fuzzing our own loop: hypothesis generates whole scenarios, agentsim runs the loop on each and
checks every invariant.

The support agent has no retries, deadlines, cancellation, hooks or limits, and says so in its
`features`, so it is fuzzed on the scenarios it supports: `scenarios(features=...)` still varies
the number of steps, interleaved reasoning and text, parallel tool calls with arguments cut
anywhere, unknown tools, tools that fail or raise, invalid JSON, usage, finish reasons, provider
errors and truncated streams, and `max_steps`. The budgets are small
and derandomized so CI stays fast and repeatable; run more locally with ``agentsim fuzz --loop
support_agent:SupportAgentLoop --examples 5000`` on the same strategy from Python, or raise
``max_examples``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from support_agent import SupportAgentLoop
from support_agent_seeded import SeededBugLoop

from agentsim import assert_invariants
from agentsim.fuzzing import crashed, polish, run_guarded, search, write_reproducer
from agentsim.strategies import scenarios
from agentsim.testing import AgentsimRun

SUPPORTED = scenarios(features=SupportAgentLoop.features)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(SUPPORTED)
def test_the_loop_keeps_every_invariant(data: dict[str, Any]) -> None:
    result = run_guarded(data, loop=SupportAgentLoop)
    assert not crashed(result), result.report()
    assert_invariants(result.trace)


def test_fuzzing_finds_the_planted_bug(tmp_path: Path, agentsim_run: AgentsimRun) -> None:
    found = search("run", SeededBugLoop, examples=200, seed=1, strategy=SUPPORTED)
    assert found.failure is not None, "200 generated scenarios did not find the bug"
    assert found.failure.ids == ("EV7",)
    # Shrink it further and save it as a scenario file, as `agentsim fuzz` would.
    failure = polish(found.failure, SeededBugLoop)
    reproducer = write_reproducer(failure, tmp_path, loop="support_agent_seeded:SeededBugLoop")
    print(reproducer.read_text(encoding="utf-8"))  # shown with pytest -s
    assert len(failure.reproducer["requests"]) == 2  # two steps: the smallest that shows it
    # The file fails the buggy loop and passes the real one: a regression test as it stands.
    assert not agentsim_run(reproducer, loop=SeededBugLoop).passed
    assert agentsim_run(reproducer).passed


def test_the_same_search_finds_nothing_in_the_real_loop() -> None:
    found = search("run", SupportAgentLoop, examples=200, seed=1, strategy=SUPPORTED)
    assert found.failure is None
