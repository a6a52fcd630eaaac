"""Frameworks: agent frameworks (pydantic-ai, openai-agents, LangGraph) as agentsim loops.

Each integration lives in a package of its own (`frameworks/pydantic_ai/`,
`frameworks/openai_agents/`, `frameworks/langgraph/`) and maps the framework's own streamed events
to agentsim events, with the framework's provider calls intercepted (`serve`'s intercept), so
`agentsim run / fuzz / shrink --loop` and the pytest plugin reach an unmodified agent. Each
declares the framework's real semantics as `features`, citing the framework's docs and source.

The frameworks are optional extras (`agentsim[pydantic-ai]`, `agentsim[openai-agents]`,
`agentsim[langgraph]`): this face imports an integration, and so its framework, only when one of
its names is first read, so `import agentsim.frameworks` costs nothing and never needs one.

May import: every layer below it (core to adapters). Must not import: fuzz, pytest or the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name and the integration package that defines it.
_NAMES = {
    "pydantic_ai_loop": "agentsim.frameworks.pydantic_ai",
    "openai_agents_loop": "agentsim.frameworks.openai_agents",
    "langgraph_loop": "agentsim.frameworks.langgraph",
}

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    package = _NAMES.get(name)
    if package is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(package), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
