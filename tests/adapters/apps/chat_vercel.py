"""A FastAPI chat endpoint as people write it (not written against agentsim): a module-level
``AsyncOpenAI()`` configured from the environment, Chat Completions streaming with tools, and the
Vercel AI SDK UI message stream to the browser. `BUGS` plants one realistic bug at a time.

It handles provider failures as DESIGN §3 asks (`chat_errors_spec` declares ``provider_errors``
and ``retries``: the SDK's own max_retries=2 retries 429 / 5xx answers before any output): any
exception of the provider call or its stream (the SDK's errors, and the JSONDecodeError its
decoder raises on a malformed event) becomes a Vercel ``error`` part, and a stream that ends
without a finish reason is an error too. The planted failure-handling bugs: ``narrow_except``
(only ``openai.APIError`` is caught), ``swallow_error`` (the error becomes a normal finish),
``ignore_truncation`` (a stream without a finish reason is taken as complete) and
``retry_forever`` (the step is retried after every error, with no limit)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

client = openai.AsyncOpenAI()
app = FastAPI()
BUGS: set[str] = set(filter(None, os.environ.get("CHAT_APP_BUGS", "").split(",")))

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up in the knowledge base",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    },
]


def run_tool(name: str, arguments: str) -> dict[str, Any]:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"error": "arguments are not JSON"}
    if not isinstance(args, dict):
        return {"error": "arguments must be an object"}
    if name == "get_weather":
        return {"city": args.get("city", "?"), "forecast": "sunny", "celsius": 21}
    if name == "lookup":
        return {"answer": f"found {args.get('q', '')!s}"}
    return {"error": f"unknown tool {name}"}


class ChatRequest(BaseModel):
    message: str


def sse(part: dict[str, Any]) -> str:
    return f"data: {json.dumps(part)}\n\n"


async def chat_stream(text: str) -> AsyncIterator[str]:
    messages: list[Any] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": text},
    ]
    yield sse({"type": "start", "messageId": f"msg-{uuid.uuid4().hex}"})
    try:
        for _ in range(8):
            yield sse({"type": "start-step"})
            while True:
                try:
                    stream = await client.chat.completions.create(
                        model="gpt-4o-mini", messages=messages, tools=TOOLS, stream=True
                    )
                    break
                except openai.APIError:
                    if "retry_forever" not in BUGS:
                        raise
                    await asyncio.sleep(1.0)  # "the provider will come back"
            text_id: str | None = None
            content = ""
            calls: dict[int, dict[str, str]] = {}
            finish: str | None = None
            async for chunk in stream:
                if not chunk.choices:
                    continue
                finish = chunk.choices[0].finish_reason or finish
                delta = chunk.choices[0].delta
                if delta.content:
                    if text_id is None:
                        text_id = uuid.uuid4().hex
                        yield sse({"type": "text-start", "id": text_id})
                    content += delta.content
                    yield sse({"type": "text-delta", "id": text_id, "delta": delta.content})
                for call in delta.tool_calls or []:
                    if text_id is not None and "unclosed_text" not in BUGS:
                        yield sse({"type": "text-end", "id": text_id})
                        text_id = None
                    slot = calls.get(call.index)
                    if slot is None:
                        slot = calls[call.index] = {"id": call.id or "", "name": "", "args": ""}
                        slot["name"] = (call.function.name or "") if call.function else ""
                        yield sse(
                            {
                                "type": "tool-input-start",
                                "toolCallId": slot["id"],
                                "toolName": slot["name"],
                            }
                        )
                    piece = call.function.arguments if call.function else None
                    if piece:
                        first = not slot["args"]
                        slot["args"] += piece
                        if not (first and "drop_first_fragment" in BUGS):
                            yield sse(
                                {
                                    "type": "tool-input-delta",
                                    "toolCallId": slot["id"],
                                    "inputTextDelta": piece,
                                }
                            )
            if text_id is not None and "unclosed_text" not in BUGS:
                yield sse({"type": "text-end", "id": text_id})
            if finish is None and "ignore_truncation" not in BUGS:
                raise RuntimeError("the model's stream ended without a finish reason")
            if not calls:
                messages.append({"role": "assistant", "content": content})
                yield sse({"type": "finish-step"})
                yield sse({"type": "finish"})
                yield "data: [DONE]\n\n"
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": content or None,
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
                try:
                    parsed = json.loads(c["args"] or "{}")
                except json.JSONDecodeError:
                    parsed = c["args"]
                yield sse(
                    {
                        "type": "tool-input-available",
                        "toolCallId": c["id"],
                        "toolName": c["name"],
                        "input": parsed,
                    }
                )
            for c in calls.values():
                result = run_tool(c["name"], c["args"])
                yield sse(
                    {"type": "tool-output-available", "toolCallId": c["id"], "output": result}
                )
                if "double_answer" in BUGS:
                    yield sse(
                        {"type": "tool-output-available", "toolCallId": c["id"], "output": result}
                    )
                if "forget_tool_result" not in BUGS:
                    messages.append(
                        {"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)}
                    )
            yield sse({"type": "finish-step"})
        yield sse({"type": "error", "errorText": "too many steps"})
    except Exception as exc:
        if "narrow_except" in BUGS and not isinstance(exc, openai.APIError):
            raise
        if "swallow_error" in BUGS:
            yield sse({"type": "finish-step"})
            yield sse({"type": "finish"})
        else:
            yield sse({"type": "error", "errorText": str(exc)})
    yield "data: [DONE]\n\n"


@app.post("/api/chat")
async def chat(request: ChatRequest) -> StreamingResponse:
    return StreamingResponse(
        chat_stream(request.message),
        media_type="text/event-stream",
        headers={"x-vercel-ai-ui-message-stream": "v1"},
    )
