"""An order-support chat endpoint, written the way teams write them: FastAPI, a module-level
``AsyncOpenAI()`` configured from the environment, Chat Completions streaming with tools, and the
Vercel AI SDK UI message stream (v5) to the browser. Nothing in it knows about agentsim.

`make_app(forget_results=True)` is the same app with a bug planted: it runs the tools and shows
their results, but never sends them back to the model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

client = openai.AsyncOpenAI()
MODEL = "gpt-4o-mini"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "order_status",
            "description": "The status of an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


class Chat(BaseModel):
    message: str


def order_status(arguments: str) -> dict[str, Any]:
    try:
        order = json.loads(arguments or "{}").get("order_id", "?")
    except (json.JSONDecodeError, AttributeError):
        return {"error": 'expected arguments like {"order_id": "A1"}'}
    return {"order_id": order, "status": "shipped"}


def part(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def answer(text: str, *, forget_results: bool) -> AsyncIterator[str]:
    messages: list[Any] = [
        {"role": "system", "content": "You help customers with their orders."},
        {"role": "user", "content": text},
    ]
    yield part({"type": "start"})
    try:
        for step in range(6):
            yield part({"type": "start-step"})
            stream = await client.chat.completions.create(
                model=MODEL, messages=messages, tools=TOOLS, stream=True
            )
            said, text_id = "", f"text-{step}"
            calls: dict[int, dict[str, str]] = {}
            async for chunk in stream:
                delta = chunk.choices[0].delta if chunk.choices else None
                if delta is None:
                    continue
                if delta.content:
                    if not said:
                        yield part({"type": "text-start", "id": text_id})
                    said += delta.content
                    yield part({"type": "text-delta", "id": text_id, "delta": delta.content})
                for call in delta.tool_calls or []:
                    if call.index not in calls:
                        name = call.function.name if call.function else ""
                        calls[call.index] = {"id": call.id or "", "name": name or "", "args": ""}
                        start = {"toolCallId": call.id, "toolName": name}
                        yield part({"type": "tool-input-start", **start})
                    if call.function and call.function.arguments:
                        calls[call.index]["args"] += call.function.arguments
                        delta_part = {"toolCallId": calls[call.index]["id"]}
                        delta_part["inputTextDelta"] = call.function.arguments
                        yield part({"type": "tool-input-delta", **delta_part})
            if said:
                yield part({"type": "text-end", "id": text_id})
            if not calls:
                yield part({"type": "finish-step"})
                yield part({"type": "finish"})
                break
            messages.append(
                {
                    "role": "assistant",
                    "content": said or None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["args"]},
                        }
                        for c in calls.values()
                    ],
                }
            )
            for c in calls.values():
                yield part(
                    {
                        "type": "tool-input-available",
                        "toolCallId": c["id"],
                        "toolName": c["name"],
                        "input": c["args"],
                    }
                )
                result = (
                    order_status(c["args"])
                    if c["name"] == "order_status"
                    else {"error": f"no tool named {c['name']}"}
                )
                yield part(
                    {"type": "tool-output-available", "toolCallId": c["id"], "output": result}
                )
                if not forget_results:
                    messages.append(
                        {"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)}
                    )
            yield part({"type": "finish-step"})
        else:
            yield part({"type": "error", "errorText": "too many steps"})
    except openai.APIError as exc:
        yield part({"type": "error", "errorText": exc.message})
    yield "data: [DONE]\n\n"


def make_app(*, forget_results: bool = False) -> FastAPI:
    api = FastAPI()

    @api.post("/api/chat")
    async def chat(request: Chat) -> StreamingResponse:
        return StreamingResponse(
            answer(request.message, forget_results=forget_results),
            media_type="text/event-stream",
            headers={"x-vercel-ai-ui-message-stream": "v1"},
        )

    return api


app = make_app()
