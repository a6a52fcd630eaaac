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
  scenario's request checks (`expect: {messages, last_role, contains, tools}`) look at. The
  layouts are read by `agentsim.cassettes._bodies`, which replay also uses to compare the
  loop's requests with the recorded ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentsim.cassettes._bodies import body_messages
from agentsim.cassettes._files import _api_of
from agentsim.core._chunks import ErrorKind
from agentsim.core._history import Message
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

    @property
    def streams_usage(self) -> bool:
        """Whether a streamed answer carries usage: always, except for OpenAI Chat Completions,
        which sends its usage chunk only when asked (``stream_options.include_usage``)."""
        if self.api != "openai-chat":
            return True
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True


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


def request_messages(
    api: ApiName, body: dict[str, Any]
) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...]]:
    """The request's conversation as agentsim messages, and the tools it offers
    (`agentsim.cassettes._bodies`, which replay's request diffs read recorded requests with)."""
    return body_messages(api, body)
