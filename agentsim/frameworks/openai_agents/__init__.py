"""openai-agents (the OpenAI Agents SDK) under agentsim: ``openai_agents_loop(agent, ...)``.

An `agents.Agent` becomes a loop: each run calls ``Runner.run_streamed`` on the run's input text,
answers the SDK's provider calls from the run's provider (`agentsim.serve`'s intercept, in the
run task's context only), and maps the SDK's stream (`RunResultStreaming.stream_events()`: raw
Responses events, run items, agent updates) to agentsim events. `_loop` is the loop object and
its options (validated eagerly), `_run` the run, `_mapping` the event mapping, `_semantics` what
the SDK implements (the declared features) with the docs and source they come from.

The SDK is imported only when `openai_agents_loop` is called (``pip install
'agentsim[openai-agents]'``).
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.frameworks.openai_agents._loop import OpenAIAgentsLoop, openai_agents_loop
from agentsim.frameworks.openai_agents._semantics import OPENAI_AGENTS_FEATURES

__all__ = ["OPENAI_AGENTS_FEATURES", "OpenAIAgentsLoop", "openai_agents_loop"]

check_exports(__name__, globals(), __all__)
