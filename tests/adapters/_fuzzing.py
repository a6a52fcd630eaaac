"""Fuzzing an adapter on what it claims, until generation is gated by declared features.

The two held-out-style apps claim ``tools`` and ``parallel_tools`` only. `claimed()` draws the
scenarios such a loop can be judged on with the generator's existing switches (no faults,
cancellation, hooks, limits or timing) and the default ``max_steps``. Once `agentsim fuzz`
generates only what a loop declares, default settings do the same (see the slow tests).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from agentsim.fuzz._strategies import scenarios


def _default_steps(data: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in data.get("options", {}).items() if k != "max_steps"}
    return {**data, "options": options}


def claimed() -> st.SearchStrategy[dict[str, Any]]:
    return scenarios(
        inject_faults=False, cancellation=False, hooks=False, limits=False, timing=False
    ).map(_default_steps)
