"""Build agentsim's own cassettes: one per provider API, written by the project, not recorded.

Each is the same two-turn agent run in that API's wire format: the model thinks, says it will
look, calls `get_weather`; the client sends the tool's result back; the model answers. Bodies
come from agentsim's encoders (`encode_stream`), requests follow each API's layout (the second
request carries the tool result, so `agentsim convert` and `replay` find it), and every response
has recorded chunk timing: a first byte after a fixed latency, then one piece per event at a
steady pace, with some events cut in two, one of them inside a multi-byte UTF-8 character.

Run ``python cassettes/make_cassettes.py`` to rewrite the files next to this script; the output
is deterministic, and a test checks that the committed files are what this script writes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentsim import (
    Chunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    Usage,
    UsageChunk,
)
from agentsim.cassettes._files import Interaction
from agentsim.cassettes._provider import split_body
from agentsim.cassettes._writing import write_cassette
from agentsim.wire._base import API_NAMES, ApiName
from agentsim.wire._registry import encode_stream

HERE = Path(__file__).resolve().parent
SYSTEM = "You are a concise weather assistant. Use the tools."
QUESTION = "What's the weather in Paris right now?"
RESULT = "18 °C, light breeze, sunny"
ANSWER = "It is 18 °C and sunny in Paris, with a light breeze — a fine day for a walk."
TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ARGUMENTS = '{"city": "Paris"}'
CALL_ID = {
    "openai-chat": "call_Wx7Kd2pQ",
    "openai-responses": "call_Rs3Mv8Lt",
    "anthropic": "toolu_01AgentsimWeather",
    "gemini": "gemini-call-paris",
}
URI: dict[ApiName, str] = {
    "openai-chat": "https://api.openai.com/v1/chat/completions",
    "openai-responses": "https://api.openai.com/v1/responses",
    "anthropic": "https://api.anthropic.com/v1/messages",
    "gemini": (
        "https://generativelanguage.googleapis.com/v1/models/"
        "gemini-2.5-flash:streamGenerateContent?alt=sse"
    ),
}


def first_turn(api: ApiName) -> list[Chunk]:
    return [
        ReasoningChunk("The user wants current weather; "),
        ReasoningChunk(
            "call get_weather for Paris.", "sig-weather-1" if api != "openai-chat" else None
        ),
        TextChunk("Let me look that up"),
        TextChunk(" for you."),
        ToolCallStartChunk(0, CALL_ID[api], "get_weather"),
        ToolCallArgsChunk(0, '{"city": '),
        ToolCallArgsChunk(0, '"Paris"}'),
        ToolCallEndChunk(0),
        UsageChunk(Usage(input_tokens=84, output_tokens=31, reasoning_tokens=12)),
        FinishChunk("tool_calls"),
    ]


def second_turn() -> list[Chunk]:
    words = ANSWER.split(" ")
    return [
        *(TextChunk(w if i == 0 else " " + w) for i, w in enumerate(words)),
        UsageChunk(Usage(input_tokens=131, output_tokens=24, cached_tokens=64)),
        FinishChunk("stop"),
    ]


def request_body(api: ApiName, turn: int) -> dict[str, Any]:
    """The request a client of `api` sends at `turn` (1 or 2)."""
    call_id = CALL_ID[api]
    if api == "openai-chat":
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION},
        ]
        if turn == 2:
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": ARGUMENTS},
            }
            messages += [
                {
                    "role": "assistant",
                    "content": "Let me look that up for you.",
                    "tool_calls": [call],
                },
                {"role": "tool", "tool_call_id": call_id, "content": RESULT},
            ]
        return {
            "model": "gpt-4.1-mini",
            "messages": messages,
            "tools": [{"type": "function", "function": TOOL}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    if api == "openai-responses":
        items: list[Any] = [{"role": "user", "content": QUESTION}]
        if turn == 2:
            items += [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Let me look that up for you."}],
                },
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": "get_weather",
                    "arguments": ARGUMENTS,
                },
                {"type": "function_call_output", "call_id": call_id, "output": RESULT},
            ]
        return {
            "model": "gpt-5-mini",
            "instructions": SYSTEM,
            "input": items,
            "tools": [{"type": "function", **TOOL}],
            "stream": True,
        }
    if api == "anthropic":
        messages = [{"role": "user", "content": QUESTION}]
        if turn == 2:
            messages += [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look that up for you."},
                        {
                            "type": "tool_use",
                            "id": call_id,
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call_id, "content": RESULT}],
                },
            ]
        tool = {
            "name": TOOL["name"],
            "description": TOOL["description"],
            "input_schema": TOOL["parameters"],
        }
        return {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": SYSTEM,
            "messages": messages,
            "tools": [tool],
            "stream": True,
        }
    contents: list[Any] = [{"role": "user", "parts": [{"text": QUESTION}]}]
    if turn == 2:
        call = {"name": "get_weather", "args": {"city": "Paris"}, "id": call_id}
        contents += [
            {
                "role": "model",
                "parts": [{"text": "Let me look that up for you."}, {"functionCall": call}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "id": call_id,
                            "response": {"result": RESULT},
                        }
                    }
                ],
            },
        ]
    return {
        "contents": contents,
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "tools": [{"functionDeclarations": [TOOL]}],
    }


def recorded(api: ApiName, turn: int, chunks: list[Chunk]) -> Interaction:
    """One interaction whose body arrives in timed pieces."""
    untimed = Interaction(
        method="POST",
        uri=URI[api],
        request_headers={"Content-Type": ["application/json"], "Host": [URI[api].split("/")[2]]},
        request_body=json.dumps(request_body(api, turn), ensure_ascii=False, indent=2).encode(),
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["text/event-stream; charset=utf-8"]},
        response_body=encode_stream(api, chunks),
    )
    timing: list[tuple[float, int]] = []
    offset = 0.35 + 0.05 * turn  # time to first byte
    for number, (_, piece) in enumerate(split_body(untimed, chunking="events")):
        cut = _cut(piece) if number % 3 == 2 else len(piece)
        for part in (piece[:cut], piece[cut:]):
            if part:
                timing.append((round(offset, 3), len(part)))
                offset += 0.021
    return replace(untimed, timing=tuple(timing))


def _cut(piece: bytes) -> int:
    """Where to cut an event in two: inside a multi-byte character if it has one, else halfway."""
    for position, byte in enumerate(piece):
        if 0x80 <= byte < 0xC0:
            return position
    return len(piece) // 2


def build() -> dict[str, list[Interaction]]:
    """File name -> interactions, for every provider API."""
    return {
        f"{api}.yaml": [recorded(api, 1, first_turn(api)), recorded(api, 2, second_turn())]
        for api in API_NAMES
    }


def main(directory: Path = HERE) -> int:
    for name, interactions in build().items():
        write_cassette(directory / name, interactions)
        sys.stdout.write(f"wrote {directory / name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
