"""pydantic-ai's run, node by node, as agentsim events.

`Mapper` is fed what ``Agent.iter`` yields (pydantic-ai docs, "Agents > Iterating over an agent's
graph"; source ``pydantic_ai/agent/__init__.py``, ``_agent_graph.py``): a ``ModelRequestNode``
per model request, whose ``stream()`` gives the response's part events (``PartStartEvent`` /
``PartDeltaEvent`` / ``PartEndEvent`` of ``TextPart``, ``ThinkingPart``, ``ToolCallPart``); a
``CallToolsNode``, whose ``stream()`` gives ``FunctionToolCallEvent`` / ``FunctionToolResultEvent``
and, for output tools, ``OutputToolCallEvent`` / ``OutputToolResultEvent``; and the ``End`` node
with the validated output. It returns agentsim events with placeholder ``seq``/``t``/``run_id``
(the run stamps them as they are delivered).

Choices:

- **A step is a model request and the tool calls it asked for**: ``step_started`` at the
  request node, ``step_finished`` (the response's finish reason and usage) after its tool
  results, as the reference loop orders them (DESIGN §3.1).
- **Tool results.** A result part's ``outcome`` (``messages.BaseToolReturnPart.outcome``) says
  whether the call succeeded; a ``retried`` or ``failed`` one is an error result whose text is
  what the model is sent (``model_response_str``).
- **Output retries.** A ``retried`` output-tool result, or a ``RetryFeedbackPart`` in the next
  request (the text path: an output validator's ``ModelRetry``, output that failed validation,
  or a response with nothing usable; see ``RetryFeedbackPart``'s docstring), is an
  ``output_retry`` numbered from 1, with the run's output budget
  (``GraphAgentDeps.max_output_retries``); the error is the first validation message (or the
  ``ModelRetry`` text), which the next request must carry.
- **The final output** is an ``output_ready`` (its JSON, via pydantic-core) right before
  ``run_completed``, whose ``output`` is the final step's text, which is what EV7 asks of any
  loop; a structured output reaches the model's user only through ``output_ready``.
"""

from __future__ import annotations

import json
from typing import Any

from agentsim.core._events import (
    AgentEvent,
    OutputReady,
    OutputRetry,
    PhaseChanged,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepFinished,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._usage import Usage

__all__ = ["Mapper", "partials"]

_PHASE_OF: dict[type, str] = {
    ThinkingDelta: "think",
    TextDelta: "answer",
    ToolCallStarted: "act",
    ToolCallDelta: "act",
    ToolCallCompleted: "act",
    ToolExecuted: "act",
}
_FINISH = {"tool_call": "tool_calls", None: "stop"}


def partials(events: list[AgentEvent]) -> tuple[str, str, tuple[str, ...]]:
    """A terminal event's partial text, thinking and pending calls (EV7's definitions)."""
    executed = {e.call_id for e in events if isinstance(e, ToolExecuted)}
    return (
        "".join(e.text for e in events if isinstance(e, TextDelta)),
        "".join(e.text for e in events if isinstance(e, ThinkingDelta)),
        tuple(
            e.call_id
            for e in events
            if isinstance(e, ToolCallStarted) and e.call_id not in executed
        ),
    )


def _feedback(content: Any) -> str:
    """What validation said, short: the first error's message, or the ModelRetry text."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("msg", ""))
    return str(content)


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()
    details = getattr(usage, "details", None) or {}
    return Usage(
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        reasoning_tokens=int(details.get("reasoning_tokens", 0) or 0),
        cached_tokens=int(getattr(usage, "cache_read_tokens", 0) or 0),
    )


class Mapper:
    """Turns one pydantic-ai run into agentsim events; `events` is everything emitted so far."""

    def __init__(self, *, output_limit: int, now: Any) -> None:
        self.events: list[AgentEvent] = []
        self.output_limit = output_limit
        self._now = now  # () -> virtual seconds, for tool durations
        self._phase: str | None = None
        self._step = 0
        self._open = False
        self._finish = "stop"
        self._usage = Usage()
        self._parts: dict[int, tuple[str, str]] = {}  # part index -> (kind, call id)
        self._args: dict[str, list[str]] = {}
        self._called_at: dict[str, float] = {}
        self._retries = 0

    def _emit(self, event: AgentEvent) -> list[AgentEvent]:
        out: list[AgentEvent] = []
        phase = _PHASE_OF.get(type(event))
        if phase is not None and phase != self._phase:
            self._phase = phase
            out.append(PhaseChanged(0, 0.0, "", phase))  # type: ignore[arg-type]
        out.append(event)
        self.events.extend(out)
        return out

    def sub_run(self, events: list[AgentEvent]) -> list[AgentEvent]:
        """A delegating call's sub-run events (`_delegation`), as they happen."""
        return [out for event in events for out in self._emit(event)]

    def start(self) -> list[AgentEvent]:
        return self._emit(RunStarted(0, 0.0, ""))

    # -- model requests --------------------------------------------------------------------------

    def request(self, request: Any) -> list[AgentEvent]:
        """A model request node: close the last step (with an output retry if this request
        carries feedback on its output), open the next."""
        from pydantic_ai.messages import RetryFeedbackPart

        out: list[AgentEvent] = []
        for part in getattr(request, "parts", ()):
            if isinstance(part, RetryFeedbackPart) and self._step:
                out += self._retry("", _feedback(part.content))
        out += self.close_step()
        self._step += 1
        self._open = True
        self._finish, self._usage = "stop", Usage()
        self._parts.clear()
        out += self._emit(StepStarted(0, 0.0, "", self._step))
        return out

    def response_event(self, event: Any) -> list[AgentEvent]:
        from pydantic_ai.messages import (
            PartDeltaEvent,
            PartEndEvent,
            PartStartEvent,
            TextPart,
            TextPartDelta,
            ThinkingPart,
            ThinkingPartDelta,
            ToolCallPart,
            ToolCallPartDelta,
        )

        out: list[AgentEvent] = []
        if isinstance(event, PartStartEvent):
            part = event.part
            if isinstance(part, TextPart):
                self._parts[event.index] = ("text", "")
                if part.content:
                    out += self._emit(TextDelta(0, 0.0, "", part.content))
            elif isinstance(part, ThinkingPart):
                self._parts[event.index] = ("thinking", "")
                if part.content:
                    out += self._emit(ThinkingDelta(0, 0.0, "", part.content))
            elif isinstance(part, ToolCallPart):
                call_id = part.tool_call_id
                self._parts[event.index] = ("call", call_id)
                self._args[call_id] = []
                out += self._emit(ToolCallStarted(0, 0.0, "", call_id, part.tool_name))
                out += self._delta(call_id, part.args)
        elif isinstance(event, PartDeltaEvent):
            kind, call_id = self._parts.get(event.index, ("", ""))
            delta = event.delta
            if isinstance(delta, TextPartDelta) and kind == "text" and delta.content_delta:
                out += self._emit(TextDelta(0, 0.0, "", delta.content_delta))
            elif isinstance(delta, ThinkingPartDelta) and kind == "thinking":
                if delta.content_delta:
                    out += self._emit(ThinkingDelta(0, 0.0, "", delta.content_delta))
            elif isinstance(delta, ToolCallPartDelta) and kind == "call":
                out += self._delta(call_id, delta.args_delta)
        elif isinstance(event, PartEndEvent) and isinstance(event.part, ToolCallPart):
            kind, call_id = self._parts.get(event.index, ("", ""))
            if kind == "call":
                arguments = "".join(self._args[call_id])
                out += self._emit(
                    ToolCallCompleted(0, 0.0, "", call_id, event.part.tool_name, arguments)
                )
                self._called_at[call_id] = self._now()
        return out

    def _delta(self, call_id: str, args: Any) -> list[AgentEvent]:
        if not args:
            return []
        text = args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))
        self._args[call_id].append(text)
        return self._emit(ToolCallDelta(0, 0.0, "", call_id, text))

    def response(self, response: Any) -> None:
        """The model response a request node ended with (its finish reason and usage)."""
        reason = getattr(response, "finish_reason", None)
        self._finish = _FINISH.get(reason, str(reason))
        self._usage = _usage(response)
        # pydantic-ai runs the calls (CallToolsNode) once the whole response is in: a call's
        # duration starts now, not at its part's end (the provider's delays are not the tool's).
        now = self._now()
        for call_id in self._called_at:
            self._called_at[call_id] = now

    # -- tool calls -------------------------------------------------------------------------------

    def tool_event(self, event: Any) -> list[AgentEvent]:
        from pydantic_ai.messages import OutputToolResultEvent, ToolResultEvent

        if not isinstance(event, ToolResultEvent):
            return []
        part = event.part
        call_id = part.tool_call_id
        if call_id not in self._called_at:
            return []  # a call this run never showed (e.g. one resumed from history)
        ok = getattr(part, "outcome", "success") == "success"
        text = part.model_response_str()
        duration = max(0.0, self._now() - self._called_at.pop(call_id))
        out = self._emit(
            ToolExecuted(
                0,
                0.0,
                "",
                call_id,
                part.tool_name,
                ok,
                text if ok else None,
                None if ok else text,
                duration,
            )
        )
        if isinstance(event, OutputToolResultEvent) and getattr(part, "outcome", "") == "retried":
            out += self._retry(call_id, _feedback(part.content))
        return out

    def _retry(self, call_id: str, error: str) -> list[AgentEvent]:
        self._retries += 1
        return self._emit(
            OutputRetry(0, 0.0, "", self._step, self._retries, self.output_limit, call_id, error)
        )

    # -- the end ----------------------------------------------------------------------------------

    def close_step(self) -> list[AgentEvent]:
        if not self._open:
            return []
        self._open = False
        return self._emit(StepFinished(0, 0.0, "", self._step, self._finish, self._usage))

    def completed(self, output: Any) -> list[AgentEvent]:
        import pydantic_core

        out = self.close_step()
        self._phase = "summarize"
        out += self._emit(PhaseChanged(0, 0.0, "", "summarize"))
        out += self._emit(OutputReady(0, 0.0, "", pydantic_core.to_json(output).decode()))
        last = max((i for i, e in enumerate(self.events) if isinstance(e, StepStarted)), default=0)
        text = "".join(e.text for e in self.events[last:] if isinstance(e, TextDelta))
        usage = sum((e.usage for e in self.events if isinstance(e, StepFinished)), Usage())
        out += self._emit(RunCompleted(0, 0.0, "", text, usage, self._step))
        return out

    def failed(self, kind: str, message: str) -> list[AgentEvent]:
        text, thinking, pending = partials(self.events)
        return self._emit(RunFailed(0, 0.0, "", kind, message, text, thinking, pending))  # type: ignore[arg-type]
