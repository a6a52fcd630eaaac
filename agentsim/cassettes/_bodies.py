"""A provider request body as agentsim sees it: the conversation as `Message`s, the tools offered
as `ToolSpec`s, for each API's layout.

What a served request is checked against (`serve`: a scenario's request checks), and what a
replayed run's requests are compared with (`_request_diff`: the recorded request of each step).
Each API's layout maps onto the history the reference loop keeps: system / developer text is a
`SystemMessage`; a tool result is one `ToolResultMessage` per result (Anthropic's
``tool_result`` blocks and Gemini's ``functionResponse`` parts included); an assistant turn
(text, reasoning, tool calls) is one `AssistantMessage`. Responses' ``function_call`` and
``reasoning`` items join the assistant message they follow. A Chat assistant message's
reasoning sent back as text between thinking tags (pydantic-ai's Groq and OpenAI-compatible
models send a `ThinkingPart` as ``<think>\n...\n</think>`` joined to the text with a blank
line: `pydantic_ai/models/groq.py`, `_map_model_response` and `_map_thinking_part`) is read back
as reasoning, so that it compares as the reasoning the loop received. Shapes the checks do not need
(images, files, server tools) are skipped, never rejected. Tool specs keep the name, the
description and the parameter schema, so that a strict comparison can look at them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from agentsim.cassettes._requests import _text
from agentsim.core._history import (
    AssistantMessage,
    Block,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
)
from agentsim.core._tools import ToolSpec
from agentsim.wire._base import ApiName

__all__ = ["body_messages"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    return (item for item in _list(value) if isinstance(item, dict))


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _result_text(content: Any) -> str:
    text = _text(content)
    return text if text or content is None else _json_text(content)


# A thinking part as pydantic-ai writes it into Chat content, between blank-line joins.
_THINK = re.compile(r"(?:^|\n\n)<think>\n(.*?)\n</think>(?=\n\n|$)", re.DOTALL)


def _chat_content(text: str) -> list[Block]:
    """An assistant message's Chat text: its thinking-tag parts as reasoning, the rest text."""
    blocks: list[Block] = []
    at = 0
    for match in _THINK.finditer(text):
        if text[at : match.start()]:
            blocks.append(TextBlock(text[at : match.start()]))
        blocks.append(ReasoningBlock(match.group(1)))
        at = match.end()
    if text[at:]:
        blocks.append(TextBlock(text[at:]))
    return blocks


def _openai_chat(body: dict[str, Any]) -> Iterator[Message]:
    for m in _dicts(body.get("messages")):
        role, content = m.get("role"), m.get("content")
        if role in ("system", "developer"):
            yield SystemMessage(_text(content))
        elif role == "user":
            yield UserMessage(_text(content))
        elif role == "tool":
            yield ToolResultMessage(str(m.get("tool_call_id", "")), _result_text(content))
        elif role == "assistant":
            blocks: list[Block] = []
            reasoning = m.get("reasoning_content") or m.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                blocks.append(ReasoningBlock(reasoning))
            text = _text(content)
            if text:
                blocks.extend(_chat_content(text) if "<think>" in text else [TextBlock(text)])
            for call in _dicts(m.get("tool_calls")):
                function = call.get("function")
                function = function if isinstance(function, dict) else {}
                arguments = _json_text(function.get("arguments", ""))
                name = str(function.get("name", ""))
                blocks.append(ToolCallBlock(str(call.get("id", "")), name, arguments))
            yield AssistantMessage(tuple(blocks))


def _openai_responses(body: dict[str, Any]) -> Iterator[Message]:
    if isinstance(body.get("instructions"), str):
        yield SystemMessage(body["instructions"])
    items = body.get("input")
    if isinstance(items, str):
        yield UserMessage(items)
        return
    pending: list[Block] = []  # the assistant message being built from consecutive items
    for item in _dicts(items):
        kind, role = item.get("type"), item.get("role")
        if kind == "function_call":
            arguments = item.get("arguments", "")
            pending.append(
                ToolCallBlock(
                    str(item.get("call_id", "")), str(item.get("name", "")), _json_text(arguments)
                )
            )
            continue
        if kind == "reasoning":
            summary = "".join(_text(part) for part in _list(item.get("summary")))
            pending.append(ReasoningBlock(summary, item.get("encrypted_content")))
            continue
        if role == "assistant":
            pending.append(TextBlock(_text(item.get("content"))))
            continue
        if pending:
            yield AssistantMessage(tuple(pending))
            pending = []
        if kind == "function_call_output":
            yield ToolResultMessage(str(item.get("call_id", "")), _result_text(item.get("output")))
        elif role in ("system", "developer"):
            yield SystemMessage(_text(item.get("content")))
        elif role == "user":
            yield UserMessage(_text(item.get("content")))
    if pending:
        yield AssistantMessage(tuple(pending))


def _anthropic(body: dict[str, Any]) -> Iterator[Message]:
    system = _text(body.get("system"))
    if system:
        yield SystemMessage(system)
    for m in _dicts(body.get("messages")):
        content = m.get("content")
        if m.get("role") == "assistant":
            if isinstance(content, str):
                yield AssistantMessage((TextBlock(content),))
                continue
            blocks: list[Block] = []
            for block in _dicts(content):
                kind = block.get("type")
                if kind == "text":
                    blocks.append(TextBlock(str(block.get("text", ""))))
                elif kind == "thinking":
                    blocks.append(ReasoningBlock(str(block.get("thinking", ""))))
                elif kind == "tool_use":
                    call = ToolCallBlock(
                        str(block.get("id", "")),
                        str(block.get("name", "")),
                        _json_text(block.get("input", {})),
                    )
                    blocks.append(call)
            yield AssistantMessage(tuple(blocks))
        elif isinstance(content, str):
            yield UserMessage(content)
        else:
            texts: list[str] = []
            for block in _dicts(content):
                if block.get("type") == "tool_result":
                    yield ToolResultMessage(
                        str(block.get("tool_use_id", "")),
                        _result_text(block.get("content")),
                        block.get("is_error") is True,
                    )
                elif block.get("type") == "text":
                    texts.append(str(block.get("text", "")))
            if texts:
                yield UserMessage("\n".join(texts))


def _gemini(body: dict[str, Any]) -> Iterator[Message]:
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict) and _text(_list(system.get("parts"))):
        yield SystemMessage(_text(_list(system.get("parts"))))
    calls = 0
    for content in _dicts(body.get("contents")):
        parts = list(_dicts(content.get("parts")))
        if content.get("role") == "model":
            blocks: list[Block] = []
            for part in parts:
                call = part.get("functionCall") or part.get("function_call")
                if isinstance(call, dict):
                    call_id = str(call.get("id") or f"gemini_call_{calls}")
                    calls += 1
                    args = _json_text(call.get("args", {}))
                    blocks.append(ToolCallBlock(call_id, str(call.get("name", "")), args))
                elif isinstance(part.get("text"), str):
                    kind = ReasoningBlock if part.get("thought") else TextBlock
                    blocks.append(kind(part["text"]))
            yield AssistantMessage(tuple(blocks))
            continue
        texts: list[str] = []
        for part in parts:
            response = part.get("functionResponse") or part.get("function_response")
            if isinstance(response, dict):
                call_id = str(response.get("id") or response.get("name", ""))
                yield ToolResultMessage(call_id, _result_text(response.get("response")))
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
        if texts:
            yield UserMessage("\n".join(texts))


def _spec(declaration: dict[str, Any], schema_keys: tuple[str, ...]) -> ToolSpec:
    description = declaration.get("description")
    schema = next(
        (declaration[k] for k in schema_keys if isinstance(declaration.get(k), dict)),
        {"type": "object"},
    )
    return ToolSpec(
        str(declaration.get("name", "")),
        description if isinstance(description, str) else "",
        schema,
    )


def _tool_specs(api: ApiName, body: dict[str, Any]) -> Iterator[ToolSpec]:
    """The function tools offered, in order (server tools such as web search have no name
    in these layouts and are left out, as the checks need only what a loop can call)."""
    for tool in _dicts(body.get("tools")):
        if api == "gemini":
            declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
            keys = ("parametersJsonSchema", "parameters_json_schema", "parameters")
            yield from (_spec(d, keys) for d in _dicts(declarations))
        elif api == "openai-chat" and isinstance(tool.get("function"), dict):
            yield _spec(tool["function"], ("parameters",))
        elif isinstance(tool.get("name"), str):
            yield _spec(tool, ("input_schema", "parameters"))


_MESSAGES = {
    "openai-chat": _openai_chat,
    "openai-responses": _openai_responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


def body_messages(
    api: ApiName, body: dict[str, Any]
) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...]]:
    """The request's conversation as agentsim messages, and the tools it offers."""
    return tuple(_MESSAGES[api](body)), tuple(_tool_specs(api, body))
