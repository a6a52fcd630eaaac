"""The SDK's stream as agentsim events: one `Mapper` per run.

Three sources, in the order they happen on the run's task (one queue keeps that order):

- **A provider request** (seen by the interception as it is made): the step it belongs to starts
  then (``step_started``, before anything of the response, as the reference loop does). A request
  while the step's previous attempt never completed (an HTTP error the ``openai`` client retries by
  itself) is a retry: ``retry_scheduled`` with the wait since the failed attempt's request (the
  client's backoff plus the error's arrival) and the error the failed response carried (``other``
  when an HTTP error's body decoded to none), so requests and events keep lining up for the
  checks. A request after a completed response closes that step
  (``step_finished``, after its tools ran: tools are inside their step, as in the reference loop).
- **Raw response events** (``RawResponsesStreamEvent``: the Responses API's stream events, which
  the SDK also makes from Chat Completions chunks, `agents/models/chatcmpl_stream_handler.py`):
  text and reasoning-summary deltas (calls are told apart by ``output_index``: the Chat
  Completions model gives every item the same ``item_id``, ``FAKE_RESPONSES_ID``), a function
  call's start (``response.output_item.added``), its
  argument deltas and its end (``response.output_item.done``), the response's end
  (``response.completed``, whose usage is the step's).
- **Run items** (``RunItemStreamEvent``): ``tool_output`` is a tool's result (``tool_executed``,
  ok: the SDK sends a tool's error text as an ordinary output, tool.py), ``handoff_occured`` the
  handoff call's result (its output names the new agent). ``tool_called`` and
  ``handoff_requested`` repeat what the raw events said and add nothing.

Phases follow DESIGN §3.9 (``phase_changed`` only on a change, ``summarize`` before completion).
Events are built with seq 0 and t 0; the run numbers and times them as it delivers them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentsim.core._chunks import Chunk, ErrorChunk
from agentsim.core._events import (
    AgentEvent,
    FailureKind,
    PhaseChanged,
    RetryScheduled,
    RunCompleted,
    RunFailed,
    StepFinished,
    StepStarted,
    SubRunFinished,
    SubRunOutcome,
    SubRunStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._usage import Usage

__all__ = ["Mapper"]

# Refusal deltas are not output text (the SDK makes one up for a ``content_filter`` finish and
# then raises ModelRefusalError); agentsim has no refusal event, so they are not shown.
_TEXT = ("response.output_text.delta",)
_THINKING = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


class Mapper:
    """Turns one run's requests, stream events and ending into agentsim event payloads."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.sub_runs: list[str] = []  # the open handoff sub-runs, innermost last
        self.sub_count = 0
        self.step = 0
        self.open = False  # a step is open
        self.answered = False  # the open step's latest attempt completed its response
        self.attempt = 1
        self.failed_at = 0.0  # when the latest request was made
        self.phase: str | None = None
        self.usage: Usage = Usage()
        self.total = Usage()
        self.step_text: list[str] = []
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.items: dict[int, str] = {}  # the response's output index -> call id
        self.names: dict[str, str] = {}  # call id -> tool name
        self.started: list[str] = []
        self.completed_at: dict[str, float] = {}
        self.answered_at = 0.0  # when the latest response completed
        self.executed: set[str] = set()
        self.finish = "stop"

    # -- sources ----------------------------------------------------------------------------------

    def request(
        self, chunks: Sequence[Chunk], previous: Sequence[Chunk] | None, now: float
    ) -> list[Any]:
        """A provider request was made (`previous`: the chunks the one before it got)."""
        out: list[Any] = []
        since, self.failed_at = now - self.failed_at, now
        if self.open and not self.answered:
            error = next((c for c in previous or () if isinstance(c, ErrorChunk)), None)
            self.attempt += 1
            out.append(
                RetryScheduled(
                    0,
                    0.0,
                    "",
                    self.step,
                    self.attempt,
                    max(0.0, since),
                    error.kind if error is not None else "other",
                    error.message if error is not None else "the attempt failed",
                )
            )
            return out
        if self.open:
            out.append(self._step_finished())
        self.step += 1
        self.open, self.answered, self.attempt = True, False, 1
        self.step_text, self.usage, self.finish = [], Usage(), "stop"
        self.items = {}
        out.append(StepStarted(0, 0.0, "", self.step))
        return out

    def stream_event(self, event: Any, now: float) -> list[Any]:
        kind = getattr(event, "type", "")
        if kind == "raw_response_event":
            return self._raw(event.data, now)
        if kind == "run_item_stream_event":
            return self._item(event.name, event.item, now)
        return []  # agent_updated_stream_event: the handoff's output said it

    # -- endings ----------------------------------------------------------------------------------

    def completed(self, output: str | None) -> list[Any]:
        out: list[Any] = []
        if self.open:
            out.append(self._step_finished())
        text = "".join(self.step_text) if output is None else output
        out += self.end_sub_runs("completed", text)
        out += self._enter("summarize")
        out.append(RunCompleted(0, 0.0, "", text, self.total, self.step))
        return out

    def failed(self, kind: FailureKind, message: str) -> list[Any]:
        pending = tuple(c for c in self.started if c not in self.executed)
        return [
            *self.end_sub_runs("failed", message),
            RunFailed(
                0, 0.0, "", kind, message, "".join(self.text), "".join(self.thinking), pending
            ),
        ]

    def end_sub_runs(self, outcome: SubRunOutcome, output: str) -> list[Any]:
        """The open handoff sub-runs end with the run, innermost first."""
        out = [SubRunFinished(0, 0.0, "", sub, outcome, output) for sub in self.sub_runs[::-1]]
        self.sub_runs.clear()
        return out

    # -- details ----------------------------------------------------------------------------------

    def _enter(self, phase: str) -> list[Any]:
        if phase == self.phase:
            return []
        self.phase = phase
        return [PhaseChanged(0, 0.0, "", phase)]  # type: ignore[arg-type]

    def _step_finished(self) -> StepFinished:
        self.open = False
        self.total = self.total + self.usage
        return StepFinished(0, 0.0, "", self.step, self.finish, self.usage)

    def _raw(self, data: Any, now: float) -> list[AgentEvent]:
        kind = getattr(data, "type", "")
        out: list[Any] = []
        if kind in _TEXT:
            out += self._enter("answer")
            self.text.append(data.delta)
            self.step_text.append(data.delta)
            out.append(TextDelta(0, 0.0, "", data.delta))
        elif kind in _THINKING:
            out += self._enter("think")
            self.thinking.append(data.delta)
            out.append(ThinkingDelta(0, 0.0, "", data.delta))
        elif kind == "response.output_item.added" and _is_call(data.item):
            call_id = data.item.call_id
            self.items[data.output_index] = call_id
            self.names[call_id] = data.item.name
            self.started.append(call_id)
            out += self._enter("act")
            out.append(ToolCallStarted(0, 0.0, "", call_id, data.item.name))
        elif kind == "response.function_call_arguments.delta":
            # by output index: the Chat Completions model gives all items one fake item_id
            call_id = self.items.get(data.output_index)
            if call_id is not None and data.delta:
                out += self._enter("act")
                out.append(ToolCallDelta(0, 0.0, "", call_id, data.delta))
        elif kind == "response.output_item.done" and _is_call(data.item):
            call_id = data.item.call_id
            self.completed_at[call_id] = now
            self.finish = "tool_calls"
            out += self._enter("act")
            out.append(ToolCallCompleted(0, 0.0, "", call_id, data.item.name, data.item.arguments))
        elif kind in ("response.completed", "response.incomplete"):
            self.answered, self.answered_at = True, now
            self.usage = _usage(getattr(data.response, "usage", None))
            if kind == "response.incomplete":
                self.finish = "length"
        return out

    def _item(self, name_: str, item: Any, now: float) -> list[AgentEvent]:
        if name_ not in ("tool_output", "handoff_occured"):
            return []
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
        if not isinstance(call_id, str) or call_id not in self.names or call_id in self.executed:
            return []
        self.executed.add(call_id)
        output = getattr(item, "output", None)
        if output is None and isinstance(raw, dict):  # a HandoffOutputItem keeps it in raw_item
            output = raw.get("output", "")
        text = output if isinstance(output, str) else json.dumps(output, default=str)
        # The SDK runs a response's tools once the whole response is in (turn_resolution.py), so
        # a call's duration starts then, not when its item completed: time the provider took
        # to finish the response is not the tool's (it would stretch under M3).
        began = max(self.completed_at.get(call_id, now), self.answered_at)
        out: list[Any] = self._enter("act")
        name = self.names[call_id]
        out.append(ToolExecuted(0, 0.0, "", call_id, name, True, text, None, max(0.0, now - began)))
        target = getattr(getattr(item, "target_agent", None), "name", None)
        if name_ == "handoff_occured" and isinstance(target, str):
            # The new agent carries on the run: a handoff sub-run, inside the one handing off.
            self.sub_count += 1
            sub = f"{self.run_id}-sub{self.sub_count}"
            self.sub_runs.append(sub)
            out.append(SubRunStarted(0, 0.0, "", sub, call_id, target, "handoff"))
        return out


def _is_call(item: Any) -> bool:
    return getattr(item, "type", None) == "function_call"


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "output_tokens_details", None)
    cached = getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", 0)
    return Usage(
        int(getattr(usage, "input_tokens", 0) or 0),
        int(getattr(usage, "output_tokens", 0) or 0),
        int(getattr(details, "reasoning_tokens", 0) or 0),
        int(cached or 0),
    )
