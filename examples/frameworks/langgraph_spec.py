"""A LangGraph ReAct agent with two tools, as an agentsim loop (one file, no other code)."""

import warnings

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent
from pydantic import SecretStr

from agentsim.frameworks import langgraph_loop


@tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
async def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


model = ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("sk-test"), max_retries=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    graph = create_react_agent(model, [get_weather, add])
loop = langgraph_loop(graph)
