"""pydantic-ai under agentsim: `pydantic_ai_loop(agent, ...)` runs a pydantic-ai ``Agent``.

The agent's own event stream (``Agent.iter``, `_mapping`) or the SSE its AG-UI / Vercel AI
adapter sends a browser (`_ui`) is mapped to agentsim events, with the model's provider calls
intercepted (`_loop`). Semantics declared as features are cited from pydantic-ai 2.x's source
(``pydantic_ai/_agent_graph.py``, ``agent/__init__.py``, ``messages.py``, ``exceptions.py``) in
`_loop`; importing this package imports nothing of pydantic-ai until a loop is built.
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.frameworks.pydantic_ai._loop import DEFAULT_FEATURES, PydanticAiLoop, pydantic_ai_loop

__all__ = ["DEFAULT_FEATURES", "PydanticAiLoop", "pydantic_ai_loop"]

check_exports(__name__, globals(), __all__)
