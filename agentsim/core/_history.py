"""History: the conversation a loop keeps and sends to the provider (DESIGN §2).

An assistant message holds ordered content blocks in stream order, consecutive deltas of one kind
merged into one block. Each tool call in it must be answered by exactly one `ToolResultMessage`
right after it (invariants H1-H2), which is what keeps a history resumable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agentsim.core._records import RecordFamily

__all__ = [
    "AssistantMessage",
    "Block",
    "Message",
    "ReasoningBlock",
    "SystemMessage",
    "TextBlock",
    "ToolCallBlock",
    "ToolResultMessage",
    "UserMessage",
    "message_from_dict",
    "message_to_dict",
]


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    type: ClassVar[str] = "reasoning"
    text: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class TextBlock:
    type: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallBlock:
    """A tool call as the model made it; `arguments` is the raw argument text."""

    type: ClassVar[str] = "tool_call"
    call_id: str
    name: str
    arguments: str


Block = ReasoningBlock | TextBlock | ToolCallBlock


@dataclass(frozen=True, slots=True)
class SystemMessage:
    role: ClassVar[str] = "system"
    text: str


@dataclass(frozen=True, slots=True)
class UserMessage:
    role: ClassVar[str] = "user"
    text: str


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    role: ClassVar[str] = "assistant"
    blocks: tuple[Block, ...]

    @property
    def tool_calls(self) -> tuple[ToolCallBlock, ...]:
        return tuple(b for b in self.blocks if isinstance(b, ToolCallBlock))

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))


@dataclass(frozen=True, slots=True)
class ToolResultMessage:
    role: ClassVar[str] = "tool"
    call_id: str
    content: str
    is_error: bool = False


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage

BLOCKS: RecordFamily[Block] = RecordFamily(
    "content block", "type", [ReasoningBlock, TextBlock, ToolCallBlock]
)
MESSAGES: RecordFamily[Message] = RecordFamily(
    "message", "role", [SystemMessage, UserMessage, AssistantMessage, ToolResultMessage]
)
MESSAGES.nested["blocks"] = BLOCKS
message_to_dict = MESSAGES.to_dict
message_from_dict = MESSAGES.from_dict
