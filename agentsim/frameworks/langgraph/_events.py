"""LangGraph's `astream_events(version="v2")` stream, as agentsim events.

What each LangChain/LangGraph event becomes (the v2 event schema: langchain_core
`runnables/schema.py` `StreamEvent`, and the "astream_events" how-to of the LangChain docs):

- ``on_chain_start`` of the root runnable (``parent_ids`` empty) -> ``run_started``.
- ``on_chat_model_start`` -> ``step_started`` (one step per model call, as the reference loop
  counts steps: one provider request each).
- ``on_chat_model_stream``: the `AIMessageChunk`'s text content -> ``text_delta``; its
  ``tool_call_chunks`` -> ``tool_call_started`` (a chunk with an id opens a call, as ChatOpenAI
  sends the id and name once, langchain_openai `chat_models/base.py`
  `_convert_chunk_to_generation_chunk`) and ``tool_call_delta`` (the argument text, by index).
- ``on_chat_model_end``: each call of the final `AIMessage` (``tool_calls``, parsed; an
  ``invalid_tool_calls`` entry too, with its raw arguments) -> ``tool_call_completed`` with the
  argument text the stream showed, then ``step_finished`` with the response's
  ``finish_reason`` and ``usage_metadata``.
- ``on_tool_start`` / ``on_tool_end`` / ``on_tool_error`` -> ``tool_executed``, correlated to
  its call by the `ToolMessage`'s ``tool_call_id`` (ToolNode passes the id in the tool's input,
  langgraph `prebuilt/tool_node.py`), ``ok`` false for a ``status="error"`` message (ToolNode's
  ``handle_tool_errors`` turns an exception into one) or a raised error.
- ``on_chain_end`` of the root -> ``run_completed``, its output the last AI message's text.
- An exception out of the stream -> ``run_failed``: `GraphRecursionError` (the graph ran
  ``recursion_limit`` supersteps) is ``max_steps``; any other one (openai's `APIError` after
  ChatOpenAI's retries, a tool error ToolNode re-raises) is ``provider`` with its message.

Other events (chain starts and ends of the graph's nodes, ``on_chain_stream`` state updates,
custom events) say nothing an agentsim event carries and are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from agentsim.core._events import (
    AgentEvent,
    FailureKind,
    PhaseChanged,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepFinished,
    StepStarted,
    TextDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._usage import Usage

__all__ = ["EventMapper"]

# Which phase each content event belongs to (DESIGN §3.9; the rule EV6 checks).
_PHASE_OF: dict[type, str] = {
    TextDelta: "answer",
    ToolCallStarted: "act",
    ToolCallDelta: "act",
    ToolCallCompleted: "act",
    ToolExecuted: "act",
}


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _usage(message: Any) -> Usage:
    meta = getattr(message, "usage_metadata", None) or {}
    return Usage(int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)))


@dataclass
class EventMapper:
    """Turns one run's stream events into agentsim events, in order (`seq` from 1)."""

    seq: int = 0
    step: int = 0
    usage: Usage = field(default_factory=Usage)
    root: str | None = None
    output: str = ""
    ended: bool = False
    # per step: index -> call id, call id -> [name, argument text]
    _by_index: dict[int, str] = field(default_factory=dict)
    _calls: dict[str, list[str]] = field(default_factory=dict)
    _tool_started: dict[str, float] = field(default_factory=dict)
    _known_calls: dict[str, str] = field(default_factory=dict)  # every call id -> name
    _finished: StepFinished | None = None  # the current step's end, once its response ended
    phase: str | None = None
    _executed: set[str] = field(default_factory=set)

    def _n(self) -> int:
        self.seq += 1
        return self.seq

    def map(self, event: dict[str, Any], now: float) -> list[AgentEvent]:
        """The agentsim events one stream event makes, phases derived by DESIGN §3.9's rule
        (LangGraph has none: thinking, text, tool calls and the end are what the rule reads)."""
        out: list[AgentEvent] = []
        for item in self._map(event, now):
            wanted = "summarize" if isinstance(item, RunCompleted) else _PHASE_OF.get(type(item))
            if wanted is not None and wanted != self.phase:
                self.phase = wanted
                out.append(PhaseChanged(self._n(), now, "", wanted))  # type: ignore[arg-type]
            out.append(replace(item, seq=self._n()))
        return out

    def _map(self, event: dict[str, Any], now: float) -> list[AgentEvent]:
        kind = event.get("event", "")
        data = event.get("data") or {}
        if kind == "on_chain_start" and self.root is None and not event.get("parent_ids"):
            self.root = event.get("run_id")
            return [RunStarted(0, now, "")]
        if self.root is None or self.ended:
            return []
        if kind == "on_chat_model_start":
            # The previous step ends here, after its tools ran (the reference loop's order).
            out = self._close_step()
            self.step += 1
            self._by_index, self._calls = {}, {}
            return [*out, StepStarted(0, now, "", self.step)]
        if kind == "on_chat_model_stream":
            return self._stream(data.get("chunk"), now)
        if kind == "on_chat_model_end":
            return self._model_end(data.get("output"), now)
        if kind == "on_tool_start":
            self._tool_started[str(event.get("run_id"))] = now
            return []
        if kind in ("on_tool_end", "on_tool_error"):
            return self._tool_end(event, data, now)
        if kind == "on_chain_end" and event.get("run_id") != self.root:
            return self._results_without_tool_events(data.get("output"), now)
        if kind == "on_chain_end" and event.get("run_id") == self.root:
            self.ended = True
            messages = (
                (data.get("output") or {}).get("messages")
                if isinstance(data.get("output"), dict)
                else None
            )
            if messages:
                self.output = _text(getattr(messages[-1], "content", ""))
            end = RunCompleted(0, now, "", self.output, self.usage, self.step)
            return [*self._close_step(), end]
        return []

    def _stream(self, chunk: Any, now: float) -> list[AgentEvent]:
        out: list[AgentEvent] = []
        if chunk is None:
            return out
        text = _text(chunk.content)
        if text:
            out.append(TextDelta(0, now, "", text))
        for piece in getattr(chunk, "tool_call_chunks", None) or ():
            index = int(piece.get("index") or 0)
            call_id, name = piece.get("id"), piece.get("name")
            if call_id and (index not in self._by_index or self._by_index[index] != call_id):
                self._by_index[index] = call_id
                self._calls[call_id] = [name or "", ""]
                self._known_calls[call_id] = name or ""
                out.append(ToolCallStarted(0, now, "", call_id, name or ""))
            args = piece.get("args") or ""
            current = self._by_index.get(index)
            if args and current is not None:
                self._calls[current][1] += args
                out.append(ToolCallDelta(0, now, "", current, args))
        return out

    def _model_end(self, message: Any, now: float) -> list[AgentEvent]:
        out: list[AgentEvent] = []
        calls = [*(getattr(message, "tool_calls", None) or ())]
        calls += [*(getattr(message, "invalid_tool_calls", None) or ())]
        for call in calls:
            call_id = call.get("id") or ""
            seen = self._calls.get(call_id)
            if seen is None:  # a call the stream never opened (not from ChatOpenAI's stream)
                args = call.get("args")
                text = args if isinstance(args, str) else json.dumps(args or {})
                seen = [call.get("name") or "", text]
                self._known_calls[call_id] = seen[0]
                out.append(ToolCallStarted(0, now, "", call_id, seen[0]))
            out.append(ToolCallCompleted(0, now, "", call_id, seen[0], seen[1]))
        meta = getattr(message, "response_metadata", None) or {}
        reason = str(meta.get("finish_reason") or ("tool_calls" if calls else "stop"))
        usage = _usage(message)
        self.usage = self.usage + usage
        self._finished = StepFinished(0, now, "", self.step, reason, usage)
        return out

    def _close_step(self) -> list[AgentEvent]:
        finished, self._finished = self._finished, None
        return [] if finished is None else [finished]

    def _results_without_tool_events(self, output: Any, now: float) -> list[AgentEvent]:
        """ToolNode answers a call naming no tool of its own ("Error: x is not a valid tool")
        without running any tool, so no on_tool_* event says so: the ToolMessage in the node's
        output is the only trace of that result."""
        messages = output.get("messages") if isinstance(output, dict) else output
        if not isinstance(messages, list):
            return []
        out: list[AgentEvent] = []
        for message in messages:
            call_id = getattr(message, "tool_call_id", None)
            if getattr(message, "type", None) != "tool" or call_id is None:
                continue
            if call_id in self._executed or call_id not in self._known_calls:
                continue
            self._executed.add(call_id)
            name = self._known_calls[call_id]
            content = _text(getattr(message, "content", ""))
            ok = getattr(message, "status", "success") != "error"
            result, error = (content, None) if ok else (None, content)
            out.append(ToolExecuted(0, now, "", call_id, name, ok, result, error, 0.0))
        return out

    def _tool_end(
        self, event: dict[str, Any], data: dict[str, Any], now: float
    ) -> list[AgentEvent]:
        started = self._tool_started.pop(str(event.get("run_id")), now)
        result = data.get("output")
        call_id = getattr(result, "tool_call_id", None)
        if call_id is None:
            tool_input = data.get("input")
            call_id = tool_input.get("id") if isinstance(tool_input, dict) else None
        call_id = str(call_id or "")
        if not call_id or call_id in self._executed:
            # An error event carries the tool's kwargs, not its call id: ToolNode turns the error
            # into a ToolMessage (handle_tool_errors) that `_results_without_tool_events` reads,
            # or re-raises it and the run fails.
            return []
        self._executed.add(call_id)
        name = self._known_calls.get(call_id, str(event.get("name", "")))
        if event.get("event") == "on_tool_error":
            error = data.get("error")
            message = f"{type(error).__name__}: {error}" if error is not None else "error"
            return [ToolExecuted(0, now, "", call_id, name, False, None, message, now - started)]
        content = _text(getattr(result, "content", result))
        if getattr(result, "status", "success") == "error":
            return [ToolExecuted(0, now, "", call_id, name, False, None, content, now - started)]
        return [ToolExecuted(0, now, "", call_id, name, True, content, None, now - started)]

    def failed(self, error: BaseException, now: float, emitted: list[AgentEvent]) -> RunFailed:
        """The terminal event of a run whose stream raised `error`, after `emitted`."""
        self.ended = True
        kind: FailureKind = (
            "max_steps" if type(error).__name__ == "GraphRecursionError" else "provider"
        )
        executed = {e.call_id for e in emitted if isinstance(e, ToolExecuted)}
        pending = tuple(
            e.call_id
            for e in emitted
            if isinstance(e, ToolCallStarted) and e.call_id not in executed
        )
        text = "".join(e.text for e in emitted if isinstance(e, TextDelta))
        message = f"{type(error).__name__}: {error}"
        return RunFailed(self._n(), now, "", kind, message, text, "", pending)
