"""Provider API requests as agentsim sees them: routing, validation, and the request as messages.

What `agentsim serve` and the httpx transport need before they can answer a request:

- `route(method, target)`: which provider API a request is for, from its path alone (suffix
  match, so any base-URL prefix works: ``/v1/chat/completions``, ``/openai/v1/chat/completions``),
  whether it streams, and for Gemini the model (in the path) and the framing (``alt=sse`` or the
  JSON array). A path no API has is a `Rejection` (404) in the error shape its prefix suggests.
- `parse_call`: the body must be a JSON object with the fields the API requires (``model`` and
  ``messages``; ``max_tokens`` too for Anthropic; ``input`` for Responses; ``contents`` for
  Gemini); anything else is a `Rejection` (400) naming the field, as the real API would answer.
- `request_messages`: the body as agentsim `Message`s and `ToolSpec`s, which is what a
  scenario's request checks (`expect: {messages, last_role, contains, tools}`) look at. Each
  API's layout maps onto the history the reference loop keeps: system / developer text is a
  `SystemMessage`; a tool result is one `ToolResultMessage` per result (Anthropic's
  ``tool_result`` blocks and Gemini's ``functionResponse`` parts included); an assistant turn
  (text, reasoning, tool calls) is one `AssistantMessage`. Responses' ``function_call`` and
  ``reasoning`` items join the assistant message they follow. Shapes the check does not need
  (images, files, server tools) are skipped, never rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentsim.cassettes._files import _api_of
from agentsim.cassettes._requests import _text
from agentsim.core._chunks import ErrorKind
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

__all__ = ["ApiCall", "Rejection", "parse_call", "request_messages", "route"]

_GEMINI_METHODS = (":streamGenerateContent", ":generateContent")


class Rejection(Exception):
    """A request the API would refuse: answered with `status` in `api`'s error shape."""

    def __init__(
        self, api: ApiName, status: int, kind: ErrorKind, message: str, *, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.api: ApiName = api
        self.status = status
        self.kind: ErrorKind = kind
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class ApiCall:
    """A valid request: its API, model, whether it streams, Gemini's JSON-array framing, body."""

    api: ApiName
    model: str
    stream: bool
    array: bool
    body: dict[str, Any]


def _guess_api(path: str) -> ApiName:
    """The API whose error shape fits a path no API has."""
    if "models/" in path or path.startswith(("/v1beta", "/v1alpha")):
        return "gemini"
    if "/messages" in path:
        return "anthropic"
    return "openai-chat"


def route(method: str, target: str) -> tuple[ApiName, str | None, bool, bool]:
    """(api, Gemini model or None, streams (Gemini only), JSON-array framing) of a request."""
    parts = urlsplit(target)
    path = parts.path
    api = _api_of(path)
    if api is None or (api == "openai-responses" and not path.endswith("/responses")):
        shown = f"{method} {path}"
        raise Rejection(_guess_api(path), 404, "invalid_request", f"Invalid URL ({shown})")
    if method != "POST":
        raise Rejection(api, 405, "invalid_request", f"Method {method} not allowed on {path}")
    if api != "gemini":
        return api, None, False, False
    name, _, verb = path.rpartition("/")[2].partition(":")
    if not name:
        raise Rejection(api, 404, "invalid_request", f"no model in the path {path}")
    stream = verb == "streamGenerateContent"
    array = stream and parse_qs(parts.query).get("alt") != ["sse"]
    return api, name, stream, array


def _require(api: ApiName, body: dict[str, Any], field: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(field)
    if value is None:
        raise Rejection(api, 400, "invalid_request", f"{field}: Field required", code=field)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Rejection(
            api, 400, "invalid_request", f"{field}: invalid type {type(value).__name__}", code=field
        )
    return value


def parse_call(method: str, target: str, body: bytes) -> ApiCall:
    """Route and validate a request; a `Rejection` says what the API would answer instead."""
    api, model, stream, array = route(method, target)
    try:
        parsed = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise Rejection(
            api, 400, "invalid_request", f"the body is not valid JSON: {reason}"
        ) from None
    if not isinstance(parsed, dict):
        raise Rejection(api, 400, "invalid_request", "the body must be a JSON object")
    if model is None:
        model = _require(api, parsed, "model", str)
        if not model.strip():
            raise Rejection(api, 400, "invalid_request", "model: must not be empty", code="model")
        stream = parsed.get("stream") is True
    required: dict[ApiName, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
        "openai-chat": (("messages", list),),
        "openai-responses": (("input", (str, list)),),
        "anthropic": (("messages", list), ("max_tokens", int)),
        "gemini": (("contents", list),),
    }
    for field, kind in required[api]:
        _require(api, parsed, field, kind)
    assert model is not None
    return ApiCall(api, model, stream, array, parsed)


# -- the request as messages ----------------------------------------------------------------------


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
            if _text(content):
                blocks.append(TextBlock(_text(content)))
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


def _tool_names(api: ApiName, body: dict[str, Any]) -> Iterator[str]:
    for tool in _dicts(body.get("tools")):
        if api == "gemini":
            declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
            yield from (str(d.get("name", "")) for d in _dicts(declarations))
        elif api == "openai-chat" and isinstance(tool.get("function"), dict):
            yield str(tool["function"].get("name", ""))
        elif isinstance(tool.get("name"), str):
            yield tool["name"]


_MESSAGES = {
    "openai-chat": _openai_chat,
    "openai-responses": _openai_responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


def request_messages(
    api: ApiName, body: dict[str, Any]
) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...]]:
    """The request's conversation as agentsim messages, and the tools it offers (names only)."""
    messages = tuple(_MESSAGES[api](body))
    return messages, tuple(ToolSpec(name) for name in _tool_names(api, body))
