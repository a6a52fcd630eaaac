"""What the reference loop's machine asks its driver to do (`Action`), and the small records it
keeps about calls being streamed. Pure data: the machine builds them, the driver performs them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentsim.core._events import TerminalEvent
from agentsim.core._history import ToolCallBlock
from agentsim.core._tools import Tool
from agentsim.loop._protocol import ProviderRequest

__all__ = [
    "Action",
    "Backoff",
    "Done",
    "OpenCall",
    "RunTool",
    "SendRequest",
    "ToolsDone",
    "parse_arguments",
]


# -- actions the driver performs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRequest:
    request: ProviderRequest


@dataclass(frozen=True, slots=True)
class RunTool:
    """Run `tool` with `arguments`, then report with `LoopMachine.tool_finished`."""

    call: ToolCallBlock
    tool: Tool
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolsDone:
    """Every call of the step was answered without running anything more."""


@dataclass(frozen=True, slots=True)
class Backoff:
    delay: float


@dataclass(frozen=True, slots=True)
class Done:
    outcome: TerminalEvent


Action = SendRequest | RunTool | ToolsDone | Backoff | Done


def parse_arguments(text: str) -> dict[str, Any] | str:
    """A call's arguments as a dict, or the error text explaining why they are unusable."""
    if not text.strip():
        return {}  # Anthropic streams no argument text for a call without arguments
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"arguments are not a JSON object (got {type(value).__name__})"
    return value


class OpenCall:
    __slots__ = ("call_id", "name", "parts", "position")

    def __init__(self, call_id: str, name: str, position: int) -> None:
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []
        self.position = position
