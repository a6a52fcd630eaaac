"""Hooks and guardrails of the reference loop (DESIGN §3.10-3.11).

Hooks are plain synchronous functions called by the loop's state machine at fixed points; each may
return a decision (`None` means continue). `Skip` is only meaningful for `on_tool_call`: the tool is
not run and the reason becomes its (error) result. `Terminate` ends the run with kind ``hook``.
Guardrails return a refusal reason, or `None` to let the request or response through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentsim.core._history import AssistantMessage, Message, ToolCallBlock, ToolResultMessage

if TYPE_CHECKING:
    from agentsim.loop._protocol import ProviderRequest

__all__ = ["Continue", "Decision", "Guardrails", "Hooks", "Skip", "Terminate"]


@dataclass(frozen=True, slots=True)
class Continue:
    pass


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Terminate:
    reason: str


Decision = Continue | Skip | Terminate


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """Callbacks at the points DESIGN §3.10 names. Every one is optional."""

    before_step: Callable[[int, Sequence[Message]], Decision | None] | None = None
    on_text_delta: Callable[[str], Decision | None] | None = None
    on_tool_call: Callable[[ToolCallBlock], Decision | None] | None = None
    on_tool_result: Callable[[ToolCallBlock, ToolResultMessage], Decision | None] | None = None
    after_step: Callable[[int, AssistantMessage], Decision | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Guardrails:
    """`request` sees each provider request before it is sent, `response` each complete answer."""

    request: Callable[[ProviderRequest], str | None] | None = None
    response: Callable[[AssistantMessage], str | None] | None = None
