"""A pydantic-ai agent with two tools, as `agentsim fuzz` / `run` take it (docs/frameworks.md).

    agentsim fuzz --loop pydantic_ai_spec.py:loop --seed 1
    agentsim fuzz --loop pydantic_ai_spec.py:structured --seed 1   # a structured output type
    agentsim fuzz --loop pydantic_ai_spec.py:agui --seed 1         # the SSE its AG-UI app sends

Nothing here is agentsim-specific but the last lines: the agent is what an application ships.
The API key is a placeholder; agentsim answers every request to api.openai.com in-process.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agentsim.frameworks import pydantic_ai_loop

model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(api_key="sk-test"))
agent = Agent(model, instructions="You are a weather assistant.")


@agent.tool_plain
def get_weather(city: str) -> dict[str, object]:
    """The current weather in a city."""
    return {"city": city, "celsius": 21, "sky": "sunny"}


@agent.tool_plain
def lookup(query: str) -> str:
    """Look a term up in the encyclopedia."""
    return f"{query}: a word."


class Forecast(BaseModel):
    city: str
    celsius: int


forecaster = Agent(model, output_type=Forecast, retries={"output": 2}, tools=[get_weather, lookup])

loop = pydantic_ai_loop(agent)
structured = pydantic_ai_loop(forecaster)
agui = pydantic_ai_loop(agent, ui="agui")
vercel = pydantic_ai_loop(agent, ui="vercel")
