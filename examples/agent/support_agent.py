"""A customer-support agent loop: the "your own loop" of the examples.

It speaks agentsim's loop protocol directly (docs/loop-protocol.md): `SupportAgentLoop().run(
request, provider=..., tools=..., runtime=...)` returns a run that streams agent events and keeps
the conversation. A step is one provider request: reasoning and text are forwarded as they
arrive, tool calls are collected, and when the stream finishes the calls are run one after the
other and their results appended in call order; a step without calls ends the run.

Deliberately small: no retries, deadlines, idle timeouts, cancellation, consumer drops, hooks,
guardrails or limits (the reference loop has them all). It says so in `SupportAgentLoop.features`
(docs/fuzzing.md, "Declared features"), so `agentsim fuzz --loop support_agent:SupportAgentLoop`
generates, and judges it on, only what it does: reasoning, tools (several a step, run one after
the other), provider errors and truncated streams (a failed run), and `max_steps`. The three
methods a subclass may change are `assistant_message`, `total_usage` and `execute`; the examples
use them to rebuild an old release and to plant a bug.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentsim import (
    AgentEvent,
    AssistantMessage,
    Block,
    ErrorChunk,
    FailureKind,
    FinishChunk,
    Message,
    Phase,
    PhaseChanged,
    Provider,
    ProviderError,
    ProviderRequest,
    ReasoningBlock,
    ReasoningChunk,
    RunCompleted,
    RunFailed,
    RunRequest,
    RunStarted,
    Runtime,
    StepFinished,
    StepStarted,
    TextBlock,
    TextChunk,
    TextDelta,
    ThinkingDelta,
    ToolCallArgsChunk,
    ToolCallBlock,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStartChunk,
    ToolCallStarted,
    ToolError,
    ToolExecuted,
    ToolResultMessage,
    Toolset,
    Usage,
    UsageChunk,
)

__all__ = ["Part", "SupportAgentLoop", "SupportAgentRun", "ToolCall"]


@dataclass
class ToolCall:
    call_id: str
    name: str
    arguments: str = ""


@dataclass
class Part:
    """One piece of an assistant message in stream order: reasoning, text or a tool call."""

    kind: str  # "reasoning", "text" or "call"
    text: str = ""
    signature: str | None = None
    call: ToolCall | None = None


@dataclass
class _Step:
    parts: list[Part] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish: str | None = None


class _Failed(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind


class SupportAgentRun:
    """One run: an async iterator of events, with the conversation in `history`."""

    def __init__(
        self, request: RunRequest, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> None:
        self._request, self._provider, self._tools = request, provider, tools
        self._runtime = runtime
        self._run_id = runtime.ids.new("run")
        self._history: list[Message] = list(request.messages)
        self._seq, self._start, self._phase = 0, 0.0, ""
        self._text: list[str] = []  # every text delta of the run
        self._thinking: list[str] = []
        self._events = self._drive()

    @property
    def history(self) -> Sequence[Message]:
        return self._history

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events

    async def aclose(self) -> None:
        await self._events.aclose()

    # -- what a subclass may change ---------------------------------------------------------------

    def assistant_message(self, parts: Sequence[Part]) -> AssistantMessage | None:
        """The history message of a step: its parts in stream order, same-kind runs merged."""
        blocks: list[Block] = []
        for part in parts:
            if part.call is not None:
                blocks.append(ToolCallBlock(part.call.call_id, part.call.name, part.call.arguments))
            elif blocks and isinstance(blocks[-1], TextBlock) and part.kind == "text":
                blocks[-1] = TextBlock(blocks[-1].text + part.text)
            elif blocks and isinstance(blocks[-1], ReasoningBlock) and part.kind == "reasoning":
                previous = blocks[-1]
                signature = part.signature or previous.signature
                blocks[-1] = ReasoningBlock(previous.text + part.text, signature)
            elif part.kind == "text":
                blocks.append(TextBlock(part.text))
            else:
                blocks.append(ReasoningBlock(part.text, part.signature))
        return AssistantMessage(tuple(blocks)) if blocks else None

    def total_usage(self, steps: Sequence[Usage]) -> Usage:
        """The run's usage: the sum of its steps'."""
        return sum(steps, Usage())

    async def execute(self, call: ToolCall) -> tuple[bool, str]:
        """Run one tool call: (ok, output or error text). Never raises."""
        tool = self._tools.get(call.name)
        if tool is None:
            return False, f"unknown tool {call.name!r}"
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return False, f"the arguments are not JSON: {exc}"
        if not isinstance(arguments, dict):
            return False, "the arguments are not a JSON object"
        try:
            value: Any = tool.call(arguments)
            if inspect.isawaitable(value):
                value = await value
        except ToolError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"the tool raised {type(exc).__name__}: {exc}"
        if isinstance(value, str):
            return True, value
        return True, json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    # -- the loop ---------------------------------------------------------------------------------

    def _event(self, kind: type[Any], *fields: Any) -> Any:
        self._seq += 1
        return kind(self._seq, self._runtime.now() - self._start, self._run_id, *fields)

    def _enter(self, phase: Phase) -> list[AgentEvent]:
        if phase == self._phase:
            return []
        self._phase = phase
        event: AgentEvent = self._event(PhaseChanged, phase)
        return [event]

    async def _drive(self) -> AsyncGenerator[AgentEvent, None]:
        self._start = self._runtime.now()
        yield self._event(RunStarted)
        usages: list[Usage] = []
        steps = self._request.options.max_steps
        for number in range(1, steps + 1):
            yield self._event(StepStarted, number)
            step = _Step()
            try:
                async for event in self._stream(number, step):
                    yield event
            except _Failed as failure:
                self._keep(step, completed=False)
                yield self._failed(failure.kind, str(failure), step)
                return
            for call in step.calls:
                for event in self._enter("act"):
                    yield event
                yield self._event(ToolCallCompleted, call.call_id, call.name, call.arguments)
            self._keep(step, completed=True)
            for call in step.calls:
                began = self._runtime.now()
                ok, text = await self.execute(call)
                took = self._runtime.now() - began
                output, error = (text, None) if ok else (None, text)
                yield self._event(ToolExecuted, call.call_id, call.name, ok, output, error, took)
                self._history.append(ToolResultMessage(call.call_id, text, is_error=not ok))
            yield self._event(StepFinished, number, step.finish, step.usage)
            usages.append(step.usage)
            if not step.calls:
                for event in self._enter("summarize"):
                    yield event
                output = "".join(p.text for p in step.parts if p.kind == "text")
                yield self._event(RunCompleted, output, self.total_usage(usages), number)
                return
        yield self._failed("max_steps", f"no answer after {steps} step(s)", None)

    async def _stream(self, number: int, step: _Step) -> AsyncGenerator[AgentEvent, None]:
        messages = tuple(self._history)
        request = ProviderRequest(number, 1, messages, self._tools.specs())
        by_index: dict[int, ToolCall] = {}
        try:
            async for chunk in self._provider.stream(request):
                if isinstance(chunk, ReasoningChunk) and not chunk.text:
                    self._sign(step, chunk.signature)
                elif isinstance(chunk, ReasoningChunk | TextChunk) and chunk.text:
                    thinking = isinstance(chunk, ReasoningChunk)
                    for event in self._enter("think" if thinking else "answer"):
                        yield event
                    signature = chunk.signature if isinstance(chunk, ReasoningChunk) else None
                    kind = "reasoning" if thinking else "text"
                    step.parts.append(Part(kind, chunk.text, signature))
                    (self._thinking if thinking else self._text).append(chunk.text)
                    yield self._event(ThinkingDelta if thinking else TextDelta, chunk.text)
                elif isinstance(chunk, ToolCallStartChunk):
                    call = by_index[chunk.index] = ToolCall(chunk.call_id, chunk.name)
                    step.calls.append(call)
                    step.parts.append(Part("call", call=call))
                    for event in self._enter("act"):
                        yield event
                    yield self._event(ToolCallStarted, call.call_id, call.name)
                elif isinstance(chunk, ToolCallArgsChunk) and chunk.index in by_index:
                    call = by_index[chunk.index]
                    call.arguments += chunk.delta
                    for event in self._enter("act"):
                        yield event
                    yield self._event(ToolCallDelta, call.call_id, chunk.delta)
                elif isinstance(chunk, UsageChunk):
                    step.usage = chunk.usage  # a running total: the last one counts
                elif isinstance(chunk, FinishChunk):
                    step.finish = chunk.reason
                elif isinstance(chunk, ErrorChunk):
                    raise _Failed("provider", f"{chunk.kind}: {chunk.message}")
        except ProviderError as exc:
            raise _Failed("provider", f"{exc.kind}: {exc}") from exc
        if step.finish is None:
            raise _Failed("stream_truncated", "the stream ended without a finish reason")

    @staticmethod
    def _sign(step: _Step, signature: str | None) -> None:
        """A signature arriving after its reasoning (Anthropic sends it last) joins that part."""
        if signature and step.parts and step.parts[-1].kind == "reasoning":
            step.parts[-1].signature = signature

    def _keep(self, step: _Step, *, completed: bool) -> None:
        """Append the step's assistant message; calls that never completed are left out."""
        parts = step.parts if completed else [p for p in step.parts if p.call is None]
        message = self.assistant_message(parts)
        if message is not None:
            self._history.append(message)

    def _failed(self, kind: FailureKind, message: str, step: _Step | None) -> AgentEvent:
        pending = tuple(call.call_id for call in step.calls) if step is not None else ()
        text, thinking = "".join(self._text), "".join(self._thinking)
        event: AgentEvent = self._event(RunFailed, kind, message, text, thinking, pending)
        return event


class SupportAgentLoop:
    """The loop: a factory of runs (no state is shared between runs)."""

    run_class: type[SupportAgentRun] = SupportAgentRun
    # What it implements of DESIGN §3 (agentsim.loop._features): no `retries` (a retryable
    # error fails the run like any other), no `deadline` / `idle_timeout` (it never times out),
    # no `cancellation` / `consumer_drop` (it ignores the cancel token, and its history keeps the
    # calls of a step whose tools were not run yet), no `concurrent_tools`, `hooks`,
    # `guardrails` or `limits`.
    features = frozenset({"reasoning", "tools", "parallel_tools", "provider_errors", "max_steps"})

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> SupportAgentRun:
        return self.run_class(request, provider, tools, runtime)
