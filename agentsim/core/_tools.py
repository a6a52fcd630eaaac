"""Tools a loop can call: a name, a function (sync or async) and a description for the provider.

A tool function receives the call's JSON arguments as keyword arguments and returns anything; a
string is the result text as is, anything else is JSON-encoded (sorted keys, so results are
deterministic). Raising `ToolError` returns an error result on purpose; any other exception is
turned into an error result by the loop (DESIGN §3.3).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentsim.core._errors import InputError

__all__ = ["Tool", "ToolError", "ToolSpec", "Toolset", "tool_output_text"]


class ToolError(Exception):
    """Raised by a tool to answer with an error result (`is_error`) instead of an output."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the provider is told about a tool."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    function: Callable[..., Any]
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def call(self, arguments: Mapping[str, Any]) -> Any | Awaitable[Any]:
        return self.function(**arguments)


def tool_output_text(value: Any) -> str:
    """The result text of a tool's return value."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Toolset(Mapping[str, Tool]):
    """The tools of a run, by name. Build it from `Tool`s or plain functions (named by __name__)."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            tool = item if isinstance(item, Tool) else Tool(item.__name__, item, item.__doc__ or "")
            if tool.name in self._tools:
                raise InputError(f"two tools are named {tool.name!r}")
            self._tools[tool.name] = tool

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec for t in self._tools.values())
