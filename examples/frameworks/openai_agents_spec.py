"""An openai-agents agent with two tools and a handoff, as agentsim sees it: one file, no wiring.

    agentsim fuzz --loop openai_agents_spec:loop           # the Responses model (the default)
    agentsim fuzz --loop openai_agents_spec:chat           # the Chat Completions model
    agentsim run --loop openai_agents_spec:loop REPRODUCER

No API key is needed and nothing leaves the process: the SDK's provider calls are answered by
agentsim. The tool names are the ones `agentsim fuzz` calls by default (``lookup``, ``slow``).
"""

import asyncio

from agents import Agent, function_tool

from agentsim.frameworks import openai_agents_loop


@function_tool
def lookup(query: str = "") -> str:
    """Look something up in the knowledge base."""
    return f"found: {query}"


@function_tool
async def slow(seconds: float = 1.0) -> str:
    """A tool that takes a while (virtual seconds under agentsim)."""
    await asyncio.sleep(min(max(float(seconds), 0.0), 5.0))
    return "done"


billing = Agent(name="billing", instructions="You answer billing questions.", tools=[lookup])
agent = Agent(
    name="triage",
    instructions="Answer, or hand billing questions to the billing agent.",
    tools=[lookup, slow],
    handoffs=[billing],
)

loop = openai_agents_loop(agent)
chat = openai_agents_loop(agent, api="openai-chat")
