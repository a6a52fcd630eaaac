"""Reading the recorded requests: their messages, per API, as replay, convert and runs need them.

`_messages` yields (role, content) in each API's layout; `request_messages` normalizes a whole
request to (role, text) pairs for comparing conversations (`_runs`): roles as the reference
loop names them (``model`` is ``assistant``, ``developer`` is ``system``), text from every text
part, tool calls as ``call name(arguments)``, tool results as ``result text``; ids, whitespace
at the ends and formatting are ignored. OpenAI Responses items without a role (function calls
and their outputs, reasoning) count as the model's or the tool's turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agentsim.cassettes._files import Interaction
from agentsim.wire._base import ApiName

__all__ = ["request_messages"]

Message = tuple[str, str]
_ROLES = {"model": "assistant", "developer": "system", "function": "tool"}


def _text(content: Any) -> str:
    """The text of a message content: a string, a text part, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return "\n".join(t for t in (_text(part) for part in content) if t)
    return ""


def _result_text(content: Any) -> Any:
    """A recorded tool result as a tool's return value: its text, else the JSON itself."""
    if content is None or isinstance(content, str | list):
        return _text(content)
    return _text(content) or content


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _messages(api: ApiName, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(role, content) of every message of a request, in order, for the APIs' layouts."""
    if api == "gemini":
        system = body.get("systemInstruction") or body.get("system_instruction")
        if isinstance(system, dict):
            yield "system", _list(system.get("parts"))
        for content in _list(body.get("contents")):
            if isinstance(content, dict):
                yield str(content.get("role", "user")), _list(content.get("parts"))
        return
    if api == "anthropic":
        yield "system", body.get("system")
    if api == "openai-responses":
        yield "system", body.get("instructions")
        items = body.get("input")
        if isinstance(items, str):
            yield "user", items
        for item in _list(items):
            if isinstance(item, dict) and "role" in item:
                yield str(item["role"]), item.get("content")
        return
    for message in _list(body.get("messages")):
        if isinstance(message, dict):
            yield str(message.get("role", "")), message.get("content")


def _args(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value).strip()
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _parts(content: Any) -> str:
    """Text, tool calls and tool results of a message content, normalized to one string."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, dict):
        content = [content]
    out: list[str] = []
    for part in _list(content):
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str) and not part.get("thought"):
            out.append(part["text"].strip())
        kind = part.get("type")
        call = part.get("functionCall") or part.get("function_call")
        if kind == "tool_use":
            out.append(f"call {part.get('name')}({_args(part.get('input'))})")
        elif isinstance(call, dict):
            out.append(f"call {call.get('name')}({_args(call.get('args'))})")
        elif kind == "tool_result":
            out.append(f"result {_text(part.get('content')).strip()}")
        elif isinstance(part.get("functionResponse"), dict):
            response = part["functionResponse"]
            out.append(f"result {response.get('name')} {_args(response.get('response'))}")
    return "\n".join(t for t in out if t)


def _openai_chat(message: dict[str, Any]) -> Message:
    text = _parts(message.get("content"))
    calls = [
        f"call {c['function'].get('name')}({_args(c['function'].get('arguments'))})"
        for c in _list(message.get("tool_calls"))
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    ]
    role = str(message.get("role", ""))
    if role == "tool":
        text = f"result {text}"
    return _ROLES.get(role, role), "\n".join(t for t in [text, *calls] if t)


def _responses_item(item: dict[str, Any]) -> Message | None:
    kind = item.get("type")
    if "role" in item:
        role = str(item["role"])
        return _ROLES.get(role, role), _parts(item.get("content"))
    if kind == "function_call":
        return "assistant", f"call {item.get('name')}({_args(item.get('arguments'))})"
    if kind == "function_call_output":
        output = item.get("output")
        return "tool", f"result {output.strip() if isinstance(output, str) else _args(output)}"
    if kind == "reasoning":
        return "assistant", ""
    return None


def request_messages(interaction: Interaction) -> tuple[Message, ...]:
    """The request's conversation as (role, text) pairs, normalized (see the module)."""
    body = interaction.request_json()
    api = interaction.api
    if not isinstance(body, dict) or api is None:
        return ()
    if api == "openai-chat":
        return tuple(_openai_chat(m) for m in _list(body.get("messages")) if isinstance(m, dict))
    if api == "openai-responses":
        out: list[Message] = []
        if isinstance(body.get("instructions"), str):
            out.append(("system", body["instructions"].strip()))
        items = body.get("input")
        if isinstance(items, str):
            out.append(("user", items.strip()))
        for item in _list(items):
            if isinstance(item, dict):
                found = _responses_item(item)
                if found is not None:
                    out.append(found)
        return tuple(out)
    return tuple(
        (_ROLES.get(role, role), _parts(content))
        for role, content in _messages(api, body)
        if not (role == "system" and not content)
    )
