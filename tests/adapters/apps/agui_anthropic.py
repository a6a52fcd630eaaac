"""A Starlette endpoint as people write it (not written against agentsim): a module-level
``AsyncAnthropic()``, Messages streaming with tools, and AG-UI events through the
``ag-ui-protocol`` package's `EventEncoder`. `BUGS` plants one realistic bug at a time."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anthropic
from ag_ui.core import (
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

client = anthropic.AsyncAnthropic()
BUGS: set[str] = set(filter(None, os.environ.get("AGUI_APP_BUGS", "").split(",")))
TOOLS: list[Any] = [
    {
        "name": "lookup",
        "description": "Look something up",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
    {
        "name": "get_weather",
        "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
]


def run_tool(name: str, args: Any) -> str:
    if not isinstance(args, dict):
        return json.dumps({"error": "arguments must be an object"})
    if name == "lookup":
        return json.dumps({"answer": f"found {args.get('q', '')}"})
    if name == "get_weather":
        return json.dumps({"forecast": "sunny"})
    return json.dumps({"error": f"unknown tool {name}"})


async def agent(text: str) -> AsyncIterator[str]:
    encoder = EventEncoder()
    thread, run = uuid.uuid4().hex, uuid.uuid4().hex
    messages: list[Any] = [{"role": "user", "content": text}]
    yield encoder.encode(RunStartedEvent(thread_id=thread, run_id=run))
    try:
        for _ in range(8):
            message_id: str | None = None
            open_calls: dict[int, str] = {}
            async with client.messages.stream(
                model="claude-sonnet-4-5", max_tokens=1024, messages=messages, tools=TOOLS
            ) as stream:
                async for event in stream:
                    if event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "text":
                            message_id = uuid.uuid4().hex
                            yield encoder.encode(
                                TextMessageStartEvent(message_id=message_id, role="assistant")
                            )
                        elif block.type == "tool_use":
                            open_calls[event.index] = block.id
                            yield encoder.encode(
                                ToolCallStartEvent(tool_call_id=block.id, tool_call_name=block.name)
                            )
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and message_id and delta.text:
                            yield encoder.encode(
                                TextMessageContentEvent(message_id=message_id, delta=delta.text)
                            )
                        elif delta.type == "input_json_delta" and delta.partial_json:
                            yield encoder.encode(
                                ToolCallArgsEvent(
                                    tool_call_id=open_calls[event.index], delta=delta.partial_json
                                )
                            )
                    elif event.type == "content_block_stop":
                        if event.index in open_calls:
                            yield encoder.encode(
                                ToolCallEndEvent(tool_call_id=open_calls[event.index])
                            )
                        elif message_id is not None and "unclosed_text" not in BUGS:
                            yield encoder.encode(TextMessageEndEvent(message_id=message_id))
                            message_id = None
                final = await stream.get_final_message()
            messages.append(
                {"role": "assistant", "content": [b.model_dump() for b in final.content]}
            )
            calls = [b for b in final.content if b.type == "tool_use"]
            if not calls:
                yield encoder.encode(RunFinishedEvent(thread_id=thread, run_id=run))
                return
            results = []
            for call in calls:
                output = run_tool(call.name, call.input)
                yield encoder.encode(
                    ToolCallResultEvent(
                        message_id=uuid.uuid4().hex, tool_call_id=call.id, content=output
                    )
                )
                results.append({"type": "tool_result", "tool_use_id": call.id, "content": output})
            if "forget_tool_result" in BUGS:
                results = results[:-1]
            messages.append({"role": "user", "content": results})
        yield encoder.encode(RunErrorEvent(message="too many steps"))
    except Exception as exc:  # the stream must end with an AG-UI terminal event
        yield encoder.encode(RunErrorEvent(message=str(exc)))


async def chat(request: Request) -> StreamingResponse:
    payload = await request.json()
    return StreamingResponse(agent(payload["prompt"]), media_type="text/event-stream")


app = Starlette(routes=[Route("/agent", chat, methods=["POST"])])
