"""The loop protocol: how any agent loop plugs into agentsim (DESIGN §1, "Loops are pluggable").

A loop gets a `RunRequest` (the starting history, the options, a cancel token), a `Provider` (an
object whose `stream(request)` is an async iterator of chunks), the `Toolset` and the `Runtime`; it
returns an `AgentRun`: an async iterator of agent events that also exposes the history once the run
has ended. Closing the iterator early (`aclose()`) is a consumer drop.

Everything agentsim checks, generates and sweeps works through this protocol, so a user's loop
gets the same treatment as the reference loop. `LoopOptions` are also what the invariant checks
read (max_steps, deadline, retries and backoff).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentsim.core._chunks import Chunk, ErrorKind
from agentsim.core._errors import InputError
from agentsim.core._events import AgentEvent
from agentsim.core._history import Message
from agentsim.core._runtime import CancelToken, Runtime
from agentsim.core._tools import Toolset, ToolSpec

__all__ = [
    "AgentLoop",
    "AgentRun",
    "LoopOptions",
    "Provider",
    "ProviderError",
    "ProviderRequest",
    "RunRequest",
]


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One request to the provider: step (1-based), attempt (1 + retries so far), what is sent."""

    step: int
    attempt: int
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]


class ProviderError(Exception):
    """A provider stream may raise this instead of yielding an `ErrorChunk`; same meaning."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = "other",
        retryable: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.retryable = retryable
        self.status = status


@runtime_checkable
class Provider(Protocol):
    def stream(self, request: ProviderRequest) -> AsyncIterator[Chunk]: ...


def _check_number(name: str, value: Any, *, minimum: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum:
        expected = f"a number >= {minimum:g}" + (" or null" if allow_none else "")
        raise InputError(f"expected {expected}, got {value!r}", path=f"options.{name}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopOptions:
    """The loop's limits. All times are virtual seconds. Validated when built."""

    max_steps: int = 10
    deadline: float = 300.0
    idle_timeout: float | None = None
    max_retries: int = 2
    backoff_initial: float = 1.0
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    concurrent_tools: bool = False
    max_response_bytes: int | None = None
    max_total_tokens: int | None = None
    max_requests: int | None = None
    max_tool_calls: int | None = None
    # Context management (seed 004, loop/_context.py): off unless a token budget is set.
    context_budget: int | None = None
    context_strategy: str = "truncate"

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_retries"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"expected an integer >= 0, got {value!r}", path=f"options.{name}")
        for name in ("max_response_bytes", "max_total_tokens", "max_requests", "max_tool_calls"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise InputError(
                    f"expected an integer >= 0 or null, got {value!r}", path=f"options.{name}"
                )
        budget = self.context_budget
        if budget is not None and (
            not isinstance(budget, int) or isinstance(budget, bool) or budget < 1
        ):
            raise InputError(
                f"expected an integer >= 1 or null, got {budget!r}", path="options.context_budget"
            )
        if self.context_strategy not in ("truncate", "summarize"):
            raise InputError(
                f"expected 'truncate' or 'summarize', got {self.context_strategy!r}",
                path="options.context_strategy",
            )
        _check_number("deadline", self.deadline, minimum=0)
        _check_number("idle_timeout", self.idle_timeout, minimum=0, allow_none=True)
        if self.idle_timeout == 0:
            raise InputError("expected a number > 0 or null, got 0", path="options.idle_timeout")
        _check_number("backoff_initial", self.backoff_initial, minimum=0)
        _check_number("backoff_factor", self.backoff_factor, minimum=1)
        _check_number("backoff_max", self.backoff_max, minimum=0)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): exponential, capped at backoff_max."""
        return float(
            min(self.backoff_initial * self.backoff_factor ** (attempt - 1), self.backoff_max)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """What a run starts from: the history so far (system, user ...), options and a cancel token."""

    messages: tuple[Message, ...]
    options: LoopOptions = field(default_factory=LoopOptions)
    cancel: CancelToken = field(default_factory=CancelToken)


@runtime_checkable
class AgentRun(Protocol):
    """A running loop: iterate it for events; read `history` after it ended."""

    def __aiter__(self) -> AsyncIterator[AgentEvent]: ...

    @property
    def history(self) -> Sequence[Message]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AgentLoop(Protocol):
    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun: ...
