"""The seed applications' own SSE frames: ``phase`` (seed 000) and ``chat`` (seed 001).

Both are ``data: <JSON>`` frames only (no ``event:`` or ``id:`` lines), as the seeds send them, so
apps built like them can snapshot and check their streams.

**phase** (seed 000's ``format_chunk_sse``, ``phase_sse``, ``done_sse_with_phase``,
``stream_error``): ``{"type": "phase_change", "phase", "label"}`` on every phase change;
``thinking`` / ``delta`` with ``index`` (the 0-based step) and ``content``; ``tool_call_started``
when a call is complete (``tool_call_id``, ``tool_name``, ``arguments``: the seed announces calls
only once their arguments are known); ``tool_call_finished`` (``output``, ``error``: null on
success, ``output`` empty on error); ``done`` (``message_id`` = the run id, ``status``
``completed``, ``phase`` ``summarize``, ``label``, ``output``); ``error`` (``message``). The seed
has no cancellation; agentsim sends ``done`` with status ``cancelled`` and the partial text.

**chat** (seed 001's ``create_chat_sse_stream``): ``{"event": E, "data": D}`` with ``thinking``
and ``token`` (text), ``tool_call`` (``{id, name, arguments}``), ``tool_result``
(``{id, name, ok, content}``), ``done`` (``ok`` / ``stopped``), ``error`` (message). Seed 001's
chunk sequence numbers go to its other viewers, not into the SSE, so they are not here; resuming a
stream is the native dialect's ``Last-Event-ID`` (`events_after`).

Decoding loses: the run id, ``t``, ``seq``, steps (re-derived), retries, usage (all 0), failure
kinds (``provider``; chat's ``billing_error`` is ``usage_limit``), the cancel reason, argument
deltas (one delta per call), tool durations; chat also loses phases (re-derived) and the output
(derived). Known frames without an agent event (``title_updated``, ``title``, ``recovery``,
``done: recovery`` / ``billing_error``) are skipped.

Sub-runs (phase only): ``subagent_started`` (``subagent_id``, ``role`` = the agent, ``task``
empty, plus ``parent_call_id`` and ``mode``, which the seed lacks), ``subagent_completed``
(``output``; ``status: cancelled`` for a cancelled one) and ``subagent_failed`` (``error``, plus
``subagent_id``; without one, as the seed sends it, the innermost open sub-run failed). The
chat dialect has no sub-run frames and drops them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agentsim.core._events import (
    AgentEvent,
    PhaseChanged,
    RunCancelled,
    RunCompleted,
    RunFailed,
    StepStarted,
    SubRunFinished,
    SubRunMode,
    SubRunOutcome,
    SubRunStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._sse_framing import ServerSentEvent
from agentsim.core._usage import Usage
from agentsim.sse._common import Fields, Frame, TranscriptError, as_text, json_frame, typed_frame
from agentsim.sse._fill import Carries, Decoded, Item, complete

__all__ = [
    "ChatEncoder",
    "PhaseEncoder",
    "chat_frames",
    "decode_chat",
    "decode_phase",
    "phase_frames",
    "project_chat",
    "project_phase",
]

LABELS = {"think": "Thinking", "answer": "Answering", "act": "Acting", "summarize": "Summarizing"}
PHASE_TYPES = frozenset(
    {
        "phase_change",
        "thinking",
        "delta",
        "tool_call_started",
        "tool_call_finished",
        "done",
        "error",
        "title_updated",
        "subagent_started",
        "subagent_completed",
        "subagent_failed",
    }
)
CHAT_EVENTS = frozenset(
    {"thinking", "token", "tool_call", "tool_result", "done", "error", "title", "recovery"}
    | {"billing_error"}
)


class PhaseEncoder:
    """Seed 000's frames for one run."""

    def __init__(self) -> None:
        self._run = ""
        self._index = 0
        self._phase: str | None = None
        self._roles: dict[str, str] = {}

    def feed(self, event: AgentEvent) -> bytes:
        frame: dict[str, Any] | None = None
        if isinstance(event, SubRunStarted | SubRunFinished):
            frame = self._sub_run(event)
        elif event.type == "run_started":
            self._run = event.run_id
        elif isinstance(event, StepStarted):
            self._index = event.step - 1
        elif isinstance(event, PhaseChanged):
            self._phase = event.phase
            frame = {"type": "phase_change", "phase": event.phase, "label": LABELS[event.phase]}
        elif isinstance(event, ThinkingDelta | TextDelta) and event.text:
            kind = "thinking" if isinstance(event, ThinkingDelta) else "delta"
            frame = {"type": kind, "index": self._index, "content": event.text}
        elif isinstance(event, ToolCallCompleted):
            frame = {
                "type": "tool_call_started",
                "tool_call_id": event.call_id,
                "tool_name": event.name,
                "arguments": event.arguments,
            }
        elif isinstance(event, ToolExecuted):
            frame = {
                "type": "tool_call_finished",
                "tool_call_id": event.call_id,
                "tool_name": event.name,
                "output": (event.output or "") if event.ok else "",
                "error": None if event.ok else (event.error or ""),
            }
        elif isinstance(event, RunCompleted | RunCancelled):
            done = isinstance(event, RunCompleted)
            phase = "summarize" if done else self._phase
            frame = {
                "type": "done",
                "message_id": self._run,
                "status": "completed" if done else "cancelled",
                "phase": phase,
                "label": LABELS.get(phase or ""),
                "output": event.output if isinstance(event, RunCompleted) else event.partial_text,
            }
        elif isinstance(event, RunFailed):
            frame = {"type": "error", "message": event.message}
        return b"" if frame is None else json_frame(frame)

    def _sub_run(self, event: SubRunStarted | SubRunFinished) -> dict[str, Any]:
        if isinstance(event, SubRunStarted):
            self._roles[event.sub_run_id] = event.agent
            return {
                "type": "subagent_started",
                "subagent_id": event.sub_run_id,
                "role": event.agent,
                "task": "",
                "parent_call_id": event.parent_call_id,
                "mode": event.mode,
            }
        if event.outcome == "failed":
            return {
                "type": "subagent_failed",
                "error": event.output,
                "subagent_id": event.sub_run_id,
            }
        frame = {
            "type": "subagent_completed",
            "subagent_id": event.sub_run_id,
            "role": self._roles.get(event.sub_run_id, ""),
            "task": "",
            "output": event.output,
        }
        if event.outcome == "cancelled":
            frame["status"] = "cancelled"
        return frame


class ChatEncoder:
    """Seed 001's frames for one run."""

    def feed(self, event: AgentEvent) -> bytes:
        name: str | None = None
        data: Any = None
        if isinstance(event, ThinkingDelta | TextDelta) and event.text:
            name = "thinking" if isinstance(event, ThinkingDelta) else "token"
            data = event.text
        elif isinstance(event, ToolCallCompleted):
            name = "tool_call"
            data = {"id": event.call_id, "name": event.name, "arguments": event.arguments}
        elif isinstance(event, ToolExecuted):
            name = "tool_result"
            content = (event.output if event.ok else event.error) or ""
            data = {"id": event.call_id, "name": event.name, "ok": event.ok, "content": content}
        elif isinstance(event, RunCompleted | RunCancelled):
            name, data = "done", "ok" if isinstance(event, RunCompleted) else "stopped"
        elif isinstance(event, RunFailed):
            name, data = "error", event.message
        return b"" if name is None else json_frame({"event": name, "data": data})


def phase_frames(events: Sequence[ServerSentEvent]) -> list[Frame]:
    frames = []
    for index, sse in enumerate(events):
        frame = typed_frame(sse, index, "phase", "type", PHASE_TYPES, "frame type")
        kind, fields = frame.kind, Fields(frame, "phase")
        if kind in ("thinking", "delta"):
            fields.string("content")
            fields.opt_int("index")
        elif kind == "phase_change":
            fields.string("phase")
        elif kind in ("tool_call_started", "tool_call_finished"):
            fields.string("tool_call_id")
            fields.string("tool_name")
            if kind == "tool_call_finished":
                fields.opt_str("error")
        elif kind == "done":
            fields.opt_str("status")
            fields.opt_str("output")
        elif kind in ("subagent_started", "subagent_completed"):
            fields.string("subagent_id")
            for key in ("role", "parent_call_id", "mode", "status"):
                fields.opt_str(key)
        elif kind == "subagent_failed":
            fields.opt_str("subagent_id")
        frames.append(frame)
    return frames


def _tool_call(call: str, name: str, arguments: str, t: float, index: int) -> list[Item]:
    items: list[Item] = [(ToolCallStarted(0, t, "", call, name), index)]
    if arguments:
        items.append((ToolCallDelta(0, t, "", call, arguments), index))
    items.append((ToolCallCompleted(0, t, "", call, name, arguments), index))
    return items


def _result(call: str, name: str, ok: bool, output: str | None, error: str | None) -> ToolExecuted:
    return ToolExecuted(0, 0.0, "", call, name, ok, output if ok else None, error, 0.0)


def _decode_sub_run(kind: str, body: Any, open_subs: list[str]) -> AgentEvent:
    """A ``subagent_*`` frame; seed 000's ``subagent_failed`` names no subagent, so it is the
    innermost one open."""
    if kind == "subagent_started":
        sub = body["subagent_id"]
        open_subs.append(sub)
        parent = body.get("parent_call_id") or ""
        mode: SubRunMode = "handoff" if body.get("mode") == "handoff" else "call"
        return SubRunStarted(0, 0.0, "", sub, parent, body.get("role") or "", mode)
    sub = body.get("subagent_id") or (open_subs[-1] if open_subs else "")
    if sub in open_subs:
        open_subs.remove(sub)
    if kind == "subagent_failed":
        return SubRunFinished(0, 0.0, "", sub, "failed", as_text(body.get("error", "")))
    outcome: SubRunOutcome = "cancelled" if body.get("status") == "cancelled" else "completed"
    return SubRunFinished(0, 0.0, "", sub, outcome, as_text(body.get("output", "")))


def decode_phase(frames: Sequence[Frame]) -> Decoded:
    items: list[Item] = []
    open_subs: list[str] = []
    for frame in frames:
        body, kind, i = frame.body, frame.kind, frame.index
        if kind.startswith("subagent_"):
            items.append((_decode_sub_run(kind, body, open_subs), i))
        elif kind == "phase_change":
            items.append((PhaseChanged(0, 0.0, "", body["phase"]), i))
        elif kind in ("thinking", "delta"):
            cls = ThinkingDelta if kind == "thinking" else TextDelta
            items.append((cls(0, 0.0, "", body["content"]), i))
        elif kind == "tool_call_started":
            arguments = as_text(body.get("arguments", ""))
            items += _tool_call(body["tool_call_id"], body["tool_name"], arguments, 0.0, i)
        elif kind == "tool_call_finished":
            error = body.get("error")
            output = body.get("output")
            ok = error is None
            text = None if output is None else as_text(output)
            items.append((_result(body["tool_call_id"], body["tool_name"], ok, text, error), i))
        elif kind == "done":
            if body.get("status") in ("cancelled", "stopped"):
                items.append((RunCancelled(0, 0.0, "", "cancelled", "", "", ()), i))
            else:
                output = body.get("output") or ""
                items.append((RunCompleted(0, 0.0, "", output, Usage(), 0), i))
        elif kind == "error":
            message = body.get("message", body.get("error", ""))
            items.append((RunFailed(0, 0.0, "", "provider", as_text(message), "", "", ()), i))
    return complete(items, Carries(phases=True, output=True))


def chat_frames(events: Sequence[ServerSentEvent]) -> list[Frame]:
    frames = []
    for index, sse in enumerate(events):
        frame = typed_frame(sse, index, "chat", "event", CHAT_EVENTS, "chat event")
        kind = frame.kind
        if "data" not in frame.body:
            raise TranscriptError(f"{kind}: no 'data'", index=index, dialect="chat")
        data = frame.body["data"]
        if kind in ("thinking", "token", "error", "done", "billing_error") and not isinstance(
            data, str
        ):
            raise Fields(frame, "chat").error(f"data must be a string, got {type(data).__name__}")
        if kind == "done" and data not in ("ok", "stopped", "recovery", "billing_error"):
            raise Fields(frame, "chat").error(
                f"data must be ok, stopped, recovery or billing_error, got {data!r}"
            )
        if kind in ("tool_call", "tool_result"):
            inner = Frame(index, kind, data if isinstance(data, dict) else {}, sse)
            fields = Fields(inner, "chat")
            if not isinstance(data, dict):
                raise fields.error("data must be an object with the call's id and name")
            fields.string("id")
            fields.opt_str("name")
            fields.opt_bool("ok")
        frames.append(frame)
    return frames


def decode_chat(frames: Sequence[Frame]) -> Decoded:
    items: list[Item] = []
    names: dict[str, str] = {}
    for frame in frames:
        kind, data, i = frame.kind, frame.body["data"], frame.index
        if kind in ("thinking", "token"):
            cls = ThinkingDelta if kind == "thinking" else TextDelta
            items.append((cls(0, 0.0, "", data), i))
        elif kind == "tool_call":
            call, name = data["id"], data.get("name") or ""
            names[call] = name
            items += _tool_call(call, name, as_text(data.get("arguments", "")), 0.0, i)
        elif kind == "tool_result":
            call = data["id"]
            ok = data.get("ok") is not False
            content = as_text(data.get("content", ""))
            name = data.get("name") or names.get(call, "")
            items.append((_result(call, name, ok, content, None if ok else content), i))
        elif kind == "done" and data in ("ok", "stopped"):
            event: AgentEvent = (
                RunCompleted(0, 0.0, "", "", Usage(), 0)
                if data == "ok"
                else RunCancelled(0, 0.0, "", "cancelled", "", "", ())
            )
            items.append((event, i))
        elif kind in ("error", "billing_error"):
            failure = "provider" if kind == "error" else "usage_limit"
            items.append((RunFailed(0, 0.0, "", failure, data, "", "", ()), i))  # type: ignore[arg-type]
    return complete(items, Carries())


def _project(events: Sequence[AgentEvent], *, phases: bool) -> list[Item]:
    items: list[Item] = []
    for event in events:
        if (isinstance(event, PhaseChanged) and phases) or (
            isinstance(event, ThinkingDelta | TextDelta) and event.text
        ):
            items.append((event, None))
        elif isinstance(event, ToolCallCompleted):
            items += _tool_call(event.call_id, event.name, event.arguments, 0.0, -1)
        elif isinstance(event, ToolExecuted):
            text = (event.output if event.ok else event.error) or ""
            items.append(
                (
                    _result(event.call_id, event.name, event.ok, text, None if event.ok else text),
                    None,
                )
            )
        elif isinstance(event, RunCompleted):
            items.append((event, None))
        elif isinstance(event, RunCancelled):
            items.append((replace(event, reason="cancelled"), None))
        elif isinstance(event, RunFailed):
            items.append((replace(event, kind="provider"), None))
        elif phases and isinstance(event, SubRunStarted | SubRunFinished):
            items.append((event, None))
    return [(replace(e, t=0.0, run_id=""), None) for e, _ in items]


def project_phase(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    """What `decode_phase` gives back for `PhaseEncoder`'s transcript of `events`."""
    return list(complete(_project(events, phases=True), Carries(phases=True, output=True)).events)


def project_chat(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    """What `decode_chat` gives back for `ChatEncoder`'s transcript of `events`."""
    return list(complete(_project(events, phases=False), Carries()).events)
