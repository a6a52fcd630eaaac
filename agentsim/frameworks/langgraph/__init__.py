"""LangGraph: a compiled LangGraph graph / LangChain runnable as an agentsim loop.

`langgraph_loop(graph, *, features=..., config=..., input=..., supersteps_per_step=2)` runs the
graph with ``astream_events(version="v2")`` (langchain_core `Runnable.astream_events`; LangGraph
docs, "How to stream events"), with ChatOpenAI's provider calls intercepted, and maps the stream
events to agentsim events. `_loop` is the loop and the semantics it declares (recursion_limit as
max_steps, what ChatOpenAI's ``max_retries`` is and is not), `_events` the event mapping. The
framework (`agentsim[langgraph]`: langgraph, langchain-openai) is imported only by the graph the
user builds; this package needs it for nothing but the graph it is handed.
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.frameworks.langgraph._loop import DEFAULT_FEATURES, LangGraphLoop, langgraph_loop

__all__ = ["DEFAULT_FEATURES", "LangGraphLoop", "langgraph_loop"]

check_exports(__name__, globals(), __all__)
