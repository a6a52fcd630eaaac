"""The pydantic-ai agents the framework tests run: two tools, a text or a structured output."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from agentsim.frameworks import pydantic_ai_loop


class Forecast(BaseModel):
    city: str
    celsius: int


def get_weather(city: str) -> dict[str, object]:
    """The current weather in a city."""
    return {"city": city, "celsius": 21}


def lookup(query: str) -> str:
    """Look a term up."""
    return f"{query}: a word."


def chat_model() -> OpenAIChatModel:
    return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(api_key="sk-test"))


def responses_model() -> OpenAIResponsesModel:
    return OpenAIResponsesModel("gpt-4o", provider=OpenAIProvider(api_key="sk-test"))


def anthropic_model() -> Any:
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    return AnthropicModel("claude-sonnet-4-5", provider=AnthropicProvider(api_key="sk-ant-test"))


def text_agent(model: Any = None) -> Agent[None, str]:
    return Agent(model or chat_model(), tools=[get_weather, lookup])


def structured_agent(model: Any = None, retries: int = 2) -> Agent[None, Forecast]:
    return Agent(
        model or chat_model(),
        output_type=Forecast,
        retries={"output": retries},
        tools=[get_weather, lookup],
    )


TEXT = pydantic_ai_loop(text_agent())
STRUCTURED = pydantic_ai_loop(structured_agent())


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tool_call": {"id": call_id, "name": name, "arguments": arguments}}


# The scenario's tools name what the agent offers (its own functions run, not these results).
TOOLS = {name: {"result": "unused"} for name in ("get_weather", "lookup", "final_result")}
TOOLS_DONE = {"finish": "tool_calls"}
TOOL_THEN_TEXT: dict[str, Any] = {
    "input": "Weather in Paris?",
    "tools": TOOLS,
    "requests": [
        {"chunks": [call("c1", "get_weather", {"city": "Paris"}), {"finish": "tool_calls"}]},
        {"chunks": [{"text": "Sunny, 21 °C.", "split": 4}, {"finish": "stop"}]},
    ],
}
RETRIED_OUTPUT: dict[str, Any] = {
    "input": "Forecast for Paris?",
    "tools": TOOLS,
    "requests": [
        {"chunks": [call("c1", "get_weather", {"city": "Paris"}), {"finish": "tool_calls"}]},
        {"chunks": [call("c2", "final_result", {"city": "Paris", "celsius": "warm"}), TOOLS_DONE]},
        {"chunks": [call("c3", "final_result", {"city": "Paris", "celsius": 21}), TOOLS_DONE]},
    ],
}
