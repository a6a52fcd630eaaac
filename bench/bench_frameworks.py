"""Fuzz examples per second for each agent-framework adapter (`agentsim.frameworks`), and, in the
same run, the reference loop's rate on the same scenarios, as a ratio: what agentsim costs a
pydantic-ai, openai-agents or LangGraph agent on top of the framework itself.

    python bench/bench_frameworks.py [--examples N]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentsim.fuzz._search import search
from agentsim.fuzz._strategies import scenarios

# (name, a function building the loop under test). A framework that is not installed is skipped
# with a line saying so.
Case = tuple[str, Callable[[], Any]]


def _rate(loop: Any, examples: int) -> float:
    strategy = scenarios(
        inject_faults=False, cancellation=False, hooks=False, limits=False, timing=False
    )
    started = time.perf_counter()
    found = search("run", loop, examples=examples, seed=1, shrink=False, strategy=strategy)
    elapsed = time.perf_counter() - started
    return found.examples / elapsed


SPECS = Path(__file__).resolve().parents[1] / "examples" / "frameworks"


def _spec_loop(spec: str, name: str) -> Callable[[], Any]:
    """Builds loop `name` of the example spec `examples/frameworks/<spec>.py` when called (a
    framework that is not installed raises ImportError then)."""

    def build() -> Any:
        if str(SPECS) not in sys.path:
            sys.path.insert(0, str(SPECS))
        return getattr(importlib.import_module(spec), name)

    return build


# -- pydantic-ai: the spec's agent with two tools, through its events and its UI apps ----------

PYDANTIC_AI: list[Case] = [
    ("pydantic-ai events", _spec_loop("pydantic_ai_spec", "loop")),
    ("pydantic-ai structured", _spec_loop("pydantic_ai_spec", "structured")),
    ("pydantic-ai AG-UI", _spec_loop("pydantic_ai_spec", "agui")),
    ("pydantic-ai Vercel", _spec_loop("pydantic_ai_spec", "vercel")),
]

# -- openai-agents: two tools and a handoff, on the Responses and Chat Completions models --------

OPENAI_AGENTS: list[Case] = [
    ("openai-agents responses", _spec_loop("openai_agents_spec", "loop")),
    ("openai-agents chat", _spec_loop("openai_agents_spec", "chat")),
]

# -- LangGraph: the ReAct agent (two async tools, ChatOpenAI) -----------------------------------

CASES: list[Case] = [
    *PYDANTIC_AI,
    *OPENAI_AGENTS,
    ("langgraph", _spec_loop("langgraph_spec", "loop")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    reference = _rate(None, args.examples)
    print(f"reference loop:          {reference:8.1f} examples/s")
    for name, build in CASES:
        try:
            loop = build()
        except ImportError as exc:
            print(f"{name:24} skipped: {exc}")
            continue
        _rate(lambda loop=loop: loop, 10)  # warm up imports and caches
        rate = _rate(lambda loop=loop: loop, args.examples)
        print(f"{name:24} {rate:8.1f} examples/s, ratio to the reference {rate / reference:.3f}")


if __name__ == "__main__":
    main()
