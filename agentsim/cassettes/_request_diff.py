"""Request diffs: what the loop under test sends, compared with what the recorded loop sent.

The recorded requests are the best evidence of how the production loop behaved, so replay
compares each request the loop makes with the recorded request of that step (the streaming
interaction that answers it) and reports the first divergence with both sides. This is how a
replay shows that a new release of a loop sends the provider a different history.

Both sides become the same provider-neutral form before they are compared: the recorded body
is read into agentsim messages and tool specs by `_bodies` (per API), the loop's request
already is one (`ProviderRequest`). Each message is then normalized:

- roles as the reference loop names them; system and user text stripped at the ends, and a
  message left without text (an image-only prompt: agentsim reads no images) not compared;
- an assistant message is its text (consecutive text blocks joined) and its tool calls as
  ``name(arguments)``, arguments as canonical JSON (key order and spacing ignored); reasoning
  is left out, because whether it is sent back depends on the API and the client, not the loop;
  a message with nothing left (reasoning only) is dropped;
- a tool result is its text (canonical JSON when it is JSON); call ids are ignored everywhere
  (the loop echoes the ids the recorded stream gave it, and some APIs have none).

Levels (``--requests``): ``loose`` (the default) compares the messages and the set of tool
names; ``strict`` also the tools' order, descriptions and parameter schemas; ``off`` nothing.
What a recording does not state is not compared: a recorded request that cannot be read (not
JSON, unknown API) not at all, one without a conversation (hand-written or trimmed
recordings) not on messages, one without a ``tools`` list not on tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from agentsim.cassettes._bodies import body_messages
from agentsim.cassettes._files import Interaction
from agentsim.core._errors import InputError
from agentsim.core._history import (
    Message,
    SystemMessage,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
)
from agentsim.core._tools import ToolSpec
from agentsim.loop._protocol import ProviderRequest

__all__ = ["REQUEST_CHECKS", "RequestCheck", "check_requests_level", "request_diff"]

RequestCheck = Literal["strict", "loose", "off"]
REQUEST_CHECKS: tuple[RequestCheck, ...] = get_args(RequestCheck)
_SHOWN = 120  # characters of a value shown in a report


def check_requests_level(level: str) -> RequestCheck:
    for known in REQUEST_CHECKS:
        if level == known:
            return known
    raise InputError(f"unknown request check {level!r}; expected one of {REQUEST_CHECKS}")


def _canonical(text: str) -> str:
    """JSON text with key order and spacing normalized; any other text stripped."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"') or stripped[:1].isdigit():
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            return stripped
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return stripped


@dataclass(frozen=True, slots=True)
class _Turn:
    """One normalized message, and where it is on its side (``messages[3]``)."""

    index: int
    role: str
    parts: tuple[str, ...]

    def show(self) -> str:
        kinds = {"tool": "tool result", "assistant": "assistant message"}
        what = kinds.get(self.role, f"{self.role} message")
        return f"{what} {_shown(' | '.join(self.parts))}"


def _shown(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _turn(index: int, message: Message) -> _Turn | None:
    if isinstance(message, SystemMessage | UserMessage):
        text = message.text.strip()
        return _Turn(index, message.role, (text,)) if text else None
    if isinstance(message, ToolResultMessage):
        return _Turn(index, "tool", (_canonical(message.content),))
    parts: list[str] = []  # an assistant message, the last kind there is
    text = ""
    for block in message.blocks:
        if isinstance(block, TextBlock):
            text += block.text
            continue
        if text.strip():
            parts.append(text.strip())
        text = ""
        if isinstance(block, ToolCallBlock):
            parts.append(f"{block.name}({_canonical(block.arguments or '{}')})")
    if text.strip():
        parts.append(text.strip())
    return _Turn(index, "assistant", tuple(parts)) if parts else None


def _turns(messages: Sequence[Message]) -> list[_Turn]:
    return [t for t in (_turn(i, m) for i, m in enumerate(messages)) if t is not None]


def _messages_diff(recorded: list[_Turn], sent: list[_Turn]) -> str | None:
    for before, after in zip(recorded, sent, strict=False):
        if (before.role, before.parts) != (after.role, after.parts):
            return (
                f"recorded messages[{before.index}] is the {before.show()}, "
                f"sent messages[{after.index}] the {after.show()}"
            )
    if len(recorded) > len(sent):
        extra = recorded[len(sent)]
        return (
            f"the recorded request has {len(recorded)} messages, the loop sent {len(sent)}: "
            f"missing recorded messages[{extra.index}], the {extra.show()}"
        )
    if len(sent) > len(recorded):
        extra = sent[len(recorded)]
        return (
            f"the loop sent {len(sent)} messages, the recorded request has {len(recorded)}: "
            f"extra sent messages[{extra.index}], the {extra.show()}"
        )
    return None


def _tools_diff(
    recorded: Sequence[ToolSpec], sent: Sequence[ToolSpec], level: RequestCheck
) -> str | None:
    before, after = [t.name for t in recorded], [t.name for t in sent]
    if sorted(before) != sorted(after):
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        said = [f"not offered: {', '.join(missing)}"] if missing else []
        said += [f"not in the recording: {', '.join(extra)}"] if extra else []
        return f"tools: recorded {before}, sent {after} ({'; '.join(said) or 'repeated names'})"
    if level != "strict":
        return None
    if before != after:
        return f"tools: recorded in the order {before}, sent in the order {after}"
    for old, new in zip(recorded, sent, strict=True):
        if old.description.strip() != new.description.strip():
            return (
                f"tools: {old.name}'s description: recorded {_shown(old.description)}, "
                f"sent {_shown(new.description)}"
            )
        old_schema = json.dumps(old.parameters, sort_keys=True, default=str)
        new_schema = json.dumps(new.parameters, sort_keys=True, default=str)
        if old_schema != new_schema:
            return (
                f"tools: {old.name}'s parameters: recorded {_shown(old_schema)}, "
                f"sent {_shown(new_schema)}"
            )
    return None


def request_diff(
    recorded: Interaction, sent: ProviderRequest, *, level: RequestCheck = "loose"
) -> str | None:
    """The first difference between the recorded request and the one the loop sent, or None.

    The text names the field (messages, with their positions on each side, or tools) and shows
    both sides; the caller says which request and interaction it is."""
    if level == "off" or recorded.api is None:
        return None
    body = recorded.request_json()
    if not isinstance(body, dict):
        return None
    messages, tools = body_messages(recorded.api, body)
    turns = _turns(messages)
    found = _messages_diff(turns, _turns(sent.messages)) if turns else None
    if found is None and isinstance(body.get("tools"), list):
        found = _tools_diff(tools, sent.tools, level)
    return found
