"""A pydantic-ai agent that delegates to another (pydantic-ai docs, "Multi-agent applications >
Agent delegation"), as `agentsim fuzz` / `run` take it (docs/frameworks.md).

    agentsim fuzz --loop pydantic_ai_delegation_spec.py:loop --seed 1

The parent's ``tell_joke`` tool runs the joke agent with the parent's usage; agentsim shows that
nested run as a ``call`` sub-run of the tool call, and answers both agents' requests from the
scenario's ``requests``, in the order they are made.
"""

from __future__ import annotations

from pydantic_ai import Agent, RunContext
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agentsim.frameworks import pydantic_ai_loop

model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(api_key="sk-test"))
jokes = Agent(model, name="jokes", instructions="Tell one short joke.")
host = Agent(
    model, name="host", deps_type=type(None), instructions="Use tell_joke, then introduce it."
)


@host.tool
async def tell_joke(ctx: RunContext[None], topic: str) -> str:
    """A joke about a topic, from the joke agent."""
    result = await jokes.run(f"A joke about {topic}.", usage=ctx.usage)
    return result.output


@host.tool_plain
def lookup(query: str) -> str:
    """Look a term up in the encyclopedia."""
    return f"{query}: a word."


loop = pydantic_ai_loop(host)
