"""A two-step tool-calling conversation through each official SDK, for the serve/transport tests.

Each `converse_<api>(base_url, http_client, stream=...)` plays what an agent loop does: ask with a
tool on offer, read the answer (streamed or whole) with the SDK's own types, send the tool's
result back, read the final answer. It returns one `Turn` per request: the text, the tool calls
and the usage exactly as the SDK accumulated them, for comparison with the scenario's script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentsim import Scenario, parse_scenario

SYSTEM = "You are a weather assistant."
QUESTION = "What is the weather in Paris?"
RESULT = "sunny, 21 C"
MODEL = "agentsim-model"

SCENARIO_DATA: dict[str, Any] = {
    "description": "Two steps: a tool call with text before it, then the answer.",
    "system": SYSTEM,
    "input": QUESTION,
    "tools": {"get_weather": {"result": RESULT}},
    "requests": [
        {
            "expect": {"messages": 2, "last_role": "user", "tools": ["get_weather"]},
            "chunks": [
                {"text": "Let me check the wéather.", "split": 4, "delay": 0.02},
                {
                    "tool_call": {
                        "id": "call_1",
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                        "split": 3,
                    },
                    "delay": 0.01,
                },
                {"usage": {"input_tokens": 20, "output_tokens": 10}},
                {"finish": "tool_calls"},
            ],
        },
        {
            "expect": {"messages": 4, "last_role": "tool", "contains": "sunny"},
            "chunks": [
                {"text": "It is sunny in Paris, 21 °C.", "split": 5, "delay": 0.03},
                {"usage": {"input_tokens": 30, "output_tokens": 8}},
                {"finish": "stop"},
            ],
        },
    ],
}
SCRIPTED_DELAY = 0.06  # seconds of scripted delay over the whole conversation


def scenario() -> Scenario:
    return parse_scenario(SCENARIO_DATA)


@dataclass
class Turn:
    text: str = ""
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (id, name, arguments)
    usage: tuple[int, int] | None = None  # (input, output)


EXPECTED = [
    Turn("Let me check the wéather.", [("call_1", "get_weather", {"city": "Paris"})], (20, 10)),
    Turn("It is sunny in Paris, 21 °C.", [], (30, 8)),
]

PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}}


# -- OpenAI Chat Completions ----------------------------------------------------------------------


async def _chat_turn(client: Any, messages: list[Any], stream: bool) -> tuple[Turn, Any]:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}]
    args = {"model": MODEL, "messages": messages, "tools": tools}
    turn = Turn()
    if not stream:
        answer = await client.chat.completions.create(**args)
        message = answer.choices[0].message
        turn.text = message.content or ""
        calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]
        turn.usage = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
    else:
        options = {"include_usage": True}
        chunks = await client.chat.completions.create(**args, stream=True, stream_options=options)
        by_index: dict[int, list[str]] = {}
        async for chunk in chunks:
            if chunk.usage is not None:
                turn.usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                turn.text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    entry = by_index.setdefault(call.index, ["", "", ""])
                    entry[0] = call.id or entry[0]
                    entry[1] = call.function.name or entry[1]
                    entry[2] += call.function.arguments or ""
        calls = [(i, n, a) for i, n, a in by_index.values()]
    turn.calls = [(i, n, json.loads(a)) for i, n, a in calls]
    tool_calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
    ]
    assistant = {"role": "assistant", "content": turn.text, "tool_calls": tool_calls}
    return turn, assistant


async def converse_openai_chat(base_url: str, http: Any, *, stream: bool) -> list[Turn]:
    import openai

    client = openai.AsyncOpenAI(
        api_key="sk-test", base_url=base_url + "/v1", http_client=http, max_retries=0
    )
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    first, assistant = await _chat_turn(client, messages, stream)
    messages += [assistant, {"role": "tool", "tool_call_id": "call_1", "content": RESULT}]
    second, _ = await _chat_turn(client, messages, stream)
    return [first, second]


# -- OpenAI Responses -----------------------------------------------------------------------------


async def _responses_turn(client: Any, items: list[Any], stream: bool) -> tuple[Turn, Any]:
    tools = [{"type": "function", "name": "get_weather", "parameters": PARAMETERS}]
    args = {"model": MODEL, "instructions": SYSTEM, "input": items, "tools": tools}
    if stream:
        async with client.responses.stream(**args) as events:
            response = await events.get_final_response()
    else:
        response = await client.responses.create(**args)
    turn = Turn(text=response.output_text)
    turn.calls = [
        (o.call_id, o.name, json.loads(o.arguments))
        for o in response.output
        if o.type == "function_call"
    ]
    turn.usage = (response.usage.input_tokens, response.usage.output_tokens)
    return turn, [o.model_dump(exclude_none=True) for o in response.output]


async def converse_openai_responses(base_url: str, http: Any, *, stream: bool) -> list[Turn]:
    import openai

    client = openai.AsyncOpenAI(
        api_key="sk-test", base_url=base_url + "/v1", http_client=http, max_retries=0
    )
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first, output = await _responses_turn(client, items, stream)
    items += [*output, {"type": "function_call_output", "call_id": "call_1", "output": RESULT}]
    second, _ = await _responses_turn(client, items, stream)
    return [first, second]


# -- Anthropic Messages ---------------------------------------------------------------------------


async def converse_anthropic(base_url: str, http: Any, *, stream: bool) -> list[Turn]:
    import anthropic

    client: Any = anthropic.AsyncAnthropic(
        api_key="sk-ant-test", base_url=base_url, http_client=http, max_retries=0
    )
    tools = [{"name": "get_weather", "input_schema": PARAMETERS}]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    turns: list[Turn] = []
    for _ in range(2):
        args = {"model": MODEL, "max_tokens": 100, "system": SYSTEM, "messages": messages}
        if stream:
            async with client.messages.stream(**args, tools=tools) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(**args, tools=tools)
        turn = Turn(text="".join(b.text for b in message.content if b.type == "text"))
        turn.calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
        turn.usage = (message.usage.input_tokens, message.usage.output_tokens)
        turns.append(turn)
        result = {"type": "tool_result", "tool_use_id": "call_1", "content": RESULT}
        messages += [
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            },
            {"role": "user", "content": [result]},
        ]
    return turns


# -- Gemini ---------------------------------------------------------------------------------------


async def converse_gemini(base_url: str, http: Any, *, stream: bool) -> list[Turn]:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=base_url, httpx_async_client=http)
    client: Any = genai.Client(api_key="gemini-test-key", http_options=options)
    declaration = types.FunctionDeclaration(name="get_weather", parameters_json_schema=PARAMETERS)
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM,
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text=QUESTION)])]
    turns: list[Turn] = []
    for _ in range(2):
        if stream:
            answers = [
                a
                async for a in await client.aio.models.generate_content_stream(
                    model=MODEL, contents=contents, config=config
                )
            ]
        else:
            answers = [
                await client.aio.models.generate_content(
                    model=MODEL, contents=contents, config=config
                )
            ]
        parts = [p for a in answers if a.candidates for p in a.candidates[0].content.parts or []]
        turn = Turn(text="".join(p.text or "" for p in parts if not p.thought))
        turn.calls = [
            (p.function_call.id, p.function_call.name, p.function_call.args)
            for p in parts
            if p.function_call
        ]
        meta = answers[-1].usage_metadata
        turn.usage = (meta.prompt_token_count, meta.candidates_token_count)
        turns.append(turn)
        response = types.FunctionResponse(
            id="call_1", name="get_weather", response={"result": RESULT}
        )
        contents += [
            types.Content(role="model", parts=parts),
            types.Content(role="user", parts=[types.Part(function_response=response)]),
        ]
    return turns


CONVERSATIONS = {
    "openai-chat": converse_openai_chat,
    "openai-responses": converse_openai_responses,
    "anthropic": converse_anthropic,
    "gemini": converse_gemini,
}
