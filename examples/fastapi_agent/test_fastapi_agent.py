"""Fuzzing a FastAPI endpoint: the unmodified app, its provider calls answered by agentsim, its
Vercel stream decoded live and checked. The correct app passes; the planted bug is found, shrunk
to a small scenario file, and that file is a regression test.

The app claims ``tools`` and ``parallel_tools`` only, so it is fuzzed on scenarios without faults,
cancellation, hooks, limits or timing (``agentsim fuzz`` does this by itself once generation
follows the declared features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from spec import buggy, loop

from agentsim.fuzzing import polish, search, write_reproducer
from agentsim.strategies import scenarios
from agentsim.testing import AgentsimRun


def _default_steps(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "options": {k: v for k, v in data.get("options", {}).items() if k != "max_steps"},
    }


CLAIMED: st.SearchStrategy[dict[str, Any]] = scenarios(
    inject_faults=False, cancellation=False, hooks=False, limits=False, timing=False
).map(_default_steps)


def test_the_app_passes_fuzzing() -> None:
    found = search("run", lambda: loop, examples=60, seed=1, strategy=CLAIMED)
    assert found.failure is None, found.failure and found.failure.lines()


def test_fuzzing_finds_and_shrinks_the_planted_bug(
    tmp_path: Path, agentsim_run: AgentsimRun
) -> None:
    found = search("run", lambda: buggy, examples=100, seed=1, strategy=CLAIMED)
    assert found.failure is not None, "100 generated scenarios did not find the bug"
    assert "H1" in found.failure.ids  # a tool call without its result in what was sent
    failure = polish(found.failure, lambda: buggy)
    reproducer = write_reproducer(failure, tmp_path, loop="spec:buggy")
    print(reproducer.read_text(encoding="utf-8"))  # shown with pytest -s
    assert len(failure.reproducer["requests"]) <= 2
    # The file fails the buggy app and passes the real one (the ini's loop): a regression test.
    assert not agentsim_run(reproducer, loop="spec:buggy").passed
    result = agentsim_run(reproducer)
    assert not result.violations, result.report()
