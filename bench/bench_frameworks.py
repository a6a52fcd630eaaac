"""Fuzz examples per second for each agent-framework adapter (`agentsim.frameworks`), and, in the
same run, the reference loop's rate on the same scenarios, as a ratio: what agentsim costs a
pydantic-ai, openai-agents or LangGraph agent on top of the framework itself.

    python bench/bench_frameworks.py [--examples N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
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


# -- pydantic-ai ------------------------------------------------------------------------------


def _pydantic_ai(name: str) -> Callable[[], Any]:
    """The spec's agent with two tools (`examples/frameworks/pydantic_ai_spec.py`), by name."""

    def build() -> Any:
        import importlib.util
        from pathlib import Path

        path = Path(__file__).resolve().parents[1] / "examples/frameworks/pydantic_ai_spec.py"
        spec = importlib.util.spec_from_file_location("pydantic_ai_spec", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, name)

    return build


PYDANTIC_AI: list[Case] = [
    ("pydantic-ai events", _pydantic_ai("loop")),
    ("pydantic-ai structured", _pydantic_ai("structured")),
    ("pydantic-ai AG-UI", _pydantic_ai("agui")),
    ("pydantic-ai Vercel", _pydantic_ai("vercel")),
]


# -- openai-agents ----------------------------------------------------------------------------


def _openai_agents(name: str) -> Any:
    """The example spec's agent (two tools and a handoff): `loop` (Responses) or `chat`."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "frameworks"))
    return getattr(importlib.import_module("openai_agents_spec"), name)


OPENAI_AGENTS: list[Case] = [
    ("openai-agents responses", lambda: _openai_agents("loop")),
    ("openai-agents chat", lambda: _openai_agents("chat")),
]


# -- LangGraph --------------------------------------------------------------------------------


def _langgraph() -> Any:
    """The ReAct agent of examples/frameworks/langgraph_spec.py (two async tools, ChatOpenAI)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "frameworks" / "langgraph_spec.py"
    spec = importlib.util.spec_from_file_location("langgraph_spec", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.loop


CASES: list[Case] = [*PYDANTIC_AI, *OPENAI_AGENTS]
CASES.append(("langgraph", _langgraph))


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
