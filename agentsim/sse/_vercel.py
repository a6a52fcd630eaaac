"""The Vercel AI SDK UI message stream (v5, header ``x-vercel-ai-ui-message-stream: v1``).

``data: <chunk JSON>`` frames ending in ``data: [DONE]``; only fields the v5 schema has (its
objects are strict, so ``finish`` carries no reason and ``abort`` no reason). Encoding:

- run_started -> ``start`` (``messageId`` = the run id); steps -> ``start-step`` / ``finish-step``.
- thinking / text deltas -> ``reasoning-*`` / ``text-*`` parts, one per run of same-kind deltas,
  ids ``reasoning-<step>-<k>`` / ``text-<step>-<k>``, closed before anything else is sent in the
  step (so always before ``finish-step``); empty deltas are not sent.
- tool calls -> ``tool-input-start``, ``tool-input-delta``, then ``tool-input-available`` with the
  parsed input, or ``tool-input-error`` (raw text as ``input``) when the arguments are not JSON.
- tool_executed -> ``tool-output-available`` (``output`` = the result text) or
  ``tool-output-error`` (``errorText``).
- run_completed -> ``finish`` with ``messageMetadata: {"usage": ...}`` (the AI SDK's usage
  names); run_failed -> ``error``; run_cancelled -> ``abort`` and no ``finish``; each is followed
  by ``[DONE]``.

Decoding loses: ``t`` (all 0), phases and retries (phases re-derived), step finish reasons
(``unknown``) and per-step usage (the run's usage lands on the last step), failure kinds (always
``provider``), the cancel reason, tool durations; the step numbers are the order of
``start-step``. ``tool-output-denied`` decodes as an error result; sources, files, ``data-*``,
approvals and message metadata are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agentsim.core._events import (
    AgentEvent,
    RunCancelled,
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
from agentsim.core._sse_framing import ServerSentEvent, encode_sse
from agentsim.core._usage import Usage
from agentsim.sse._common import (
    Fields,
    Frame,
    args_are_json,
    as_text,
    json_frame,
    strict_loads,
    typed_frame,
    usage_from_camel,
    usage_to_camel,
)
from agentsim.sse._fill import Carries, Decoded, Item, complete

__all__ = ["HEADERS", "VercelEncoder", "decode_vercel", "project_vercel", "vercel_frames"]

NAME = "vercel"
HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
DONE = "[DONE]"
_REQUIRED: dict[str, tuple[str, ...]] = {
    "start": (),
    "finish": (),
    "abort": (),
    "start-step": (),
    "finish-step": (),
    "message-metadata": (),
    "text-start": ("id",),
    "text-delta": ("id", "delta"),
    "text-end": ("id",),
    "reasoning-start": ("id",),
    "reasoning-delta": ("id", "delta"),
    "reasoning-end": ("id",),
    "error": ("errorText",),
    "tool-input-start": ("toolCallId", "toolName"),
    "tool-input-delta": ("toolCallId", "inputTextDelta"),
    "tool-input-available": ("toolCallId", "toolName"),
    "tool-input-error": ("toolCallId", "toolName", "errorText"),
    "tool-output-available": ("toolCallId",),
    "tool-output-error": ("toolCallId", "errorText"),
    "tool-output-denied": ("toolCallId",),
    "tool-approval-request": ("approvalId", "toolCallId"),
    "source-url": (),
    "source-document": (),
    "file": (),
}
TYPES = frozenset(_REQUIRED)


class _Kinds:
    """The chunk types: the schema's, and any ``data-<name>``."""

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and (kind in TYPES or kind.startswith("data-"))


_KINDS = _Kinds()
_DONE_FRAME = encode_sse(data=DONE)


class VercelEncoder:
    """Incremental UI-message-stream encoder for one run."""

    def __init__(self) -> None:
        self._step = 0
        self._k = 0
        self._part: tuple[str, str] | None = None  # open ("text" | "reasoning", id)

    def feed(self, event: AgentEvent) -> bytes:
        out: list[dict[str, Any]] = []
        done = False
        if isinstance(event, RunStarted):
            out.append({"type": "start", "messageId": event.run_id})
        elif isinstance(event, StepStarted):
            self._step, self._k = event.step, 0
            out.append({"type": "start-step"})
        elif isinstance(event, TextDelta | ThinkingDelta):
            if event.text:
                kind = "text" if isinstance(event, TextDelta) else "reasoning"
                if self._part is not None and self._part[0] != kind:
                    self._close(out)
                if self._part is None:
                    self._k += 1
                    self._part = (kind, f"{kind}-{self._step}-{self._k}")
                    out.append({"type": f"{kind}-start", "id": self._part[1]})
                out.append({"type": f"{kind}-delta", "id": self._part[1], "delta": event.text})
        elif isinstance(event, ToolCallDelta):
            if event.delta:
                self._close(out)
                out.append(
                    {
                        "type": "tool-input-delta",
                        "toolCallId": event.call_id,
                        "inputTextDelta": event.delta,
                    }
                )
        elif isinstance(event, RunFailed | RunCancelled):
            if isinstance(event, RunFailed):
                out.append({"type": "error", "errorText": event.message})
            else:
                out.append({"type": "abort"})
            done = True
        elif isinstance(event, StepFinished | ToolCallStarted | ToolCallCompleted | ToolExecuted):
            self._close(out)
            self._structural(event, out)
        elif isinstance(event, RunCompleted):
            self._close(out)
            out.append(
                {"type": "finish", "messageMetadata": {"usage": usage_to_camel(event.usage)}}
            )
            done = True
        return b"".join(json_frame(chunk) for chunk in out) + (_DONE_FRAME if done else b"")

    def _structural(self, event: AgentEvent, out: list[dict[str, Any]]) -> None:
        if isinstance(event, StepFinished):
            out.append({"type": "finish-step"})
        elif isinstance(event, ToolCallStarted):
            out.append(
                {"type": "tool-input-start", "toolCallId": event.call_id, "toolName": event.name}
            )
        elif isinstance(event, ToolCallCompleted):
            call = {"toolCallId": event.call_id, "toolName": event.name}
            if args_are_json(event.arguments):
                parsed = strict_loads(event.arguments) if event.arguments else {}
                out.append({"type": "tool-input-available", **call, "input": parsed})
            else:
                error = "the arguments are not valid JSON"
                out.append(
                    {
                        "type": "tool-input-error",
                        **call,
                        "input": event.arguments,
                        "errorText": error,
                    }
                )
        elif isinstance(event, ToolExecuted):
            if event.ok:
                out.append(
                    {
                        "type": "tool-output-available",
                        "toolCallId": event.call_id,
                        "output": event.output,
                    }
                )
            else:
                out.append(
                    {
                        "type": "tool-output-error",
                        "toolCallId": event.call_id,
                        "errorText": event.error or "",
                    }
                )

    def _close(self, out: list[dict[str, Any]]) -> None:
        if self._part is not None:
            out.append({"type": f"{self._part[0]}-end", "id": self._part[1]})
            self._part = None


def vercel_frames(events: Sequence[ServerSentEvent]) -> list[Frame]:
    """Check every SSE event is a v5 UI message chunk (or ``[DONE]``) with the fields read."""
    frames = []
    for index, sse in enumerate(events):
        if sse.data == DONE:
            frames.append(Frame(index, DONE, {}, sse))
            continue
        frame = typed_frame(sse, index, NAME, "type", _KINDS, "UI message chunk type")
        kind, fields = frame.kind, Fields(frame, NAME)
        for key in _REQUIRED.get(kind, ()):
            fields.string(key)
        if kind == "start":
            fields.opt_str("messageId")
        frames.append(frame)
    return frames


def decode_vercel(frames: Sequence[Frame]) -> Decoded:
    items: list[Item] = []
    run_id = ""
    steps = 0
    open_step: int | None = None
    names: dict[str, str] = {}
    args: dict[str, list[str]] = {}
    run_usage = False

    def add(event: AgentEvent, index: int) -> None:
        items.append((event, index))

    for frame in frames:
        body, kind, i = frame.body, frame.kind, frame.index
        if kind == "start":
            run_id = body.get("messageId") or ""
            add(RunStarted(0, 0.0, run_id), i)
        elif kind == "start-step":
            steps += 1
            open_step = steps
            add(StepStarted(0, 0.0, run_id, steps), i)
        elif kind == "finish-step":
            step = open_step if open_step is not None else steps
            add(StepFinished(0, 0.0, run_id, step, "unknown", Usage()), i)
            open_step = None
        elif kind == "text-delta":
            add(TextDelta(0, 0.0, run_id, body["delta"]), i)
        elif kind == "reasoning-delta":
            add(ThinkingDelta(0, 0.0, run_id, body["delta"]), i)
        elif kind == "tool-input-start":
            call = body["toolCallId"]
            names[call], args[call] = body["toolName"], []
            add(ToolCallStarted(0, 0.0, run_id, call, names[call]), i)
        elif kind == "tool-input-delta":
            call = body["toolCallId"]
            args.setdefault(call, []).append(body["inputTextDelta"])
            add(ToolCallDelta(0, 0.0, run_id, call, body["inputTextDelta"]), i)
        elif kind in ("tool-input-available", "tool-input-error"):
            call = body["toolCallId"]
            if call in names:
                text = "".join(args.get(call, []))
            else:  # a self-contained call: no start, no deltas
                raw = body.get("input")
                text = raw if kind == "tool-input-error" and isinstance(raw, str) else as_text(raw)
                names[call] = body["toolName"]
                add(ToolCallStarted(0, 0.0, run_id, call, names[call]), i)
                if text:
                    add(ToolCallDelta(0, 0.0, run_id, call, text), i)
            add(ToolCallCompleted(0, 0.0, run_id, call, names[call], text), i)
        elif kind in ("tool-output-available", "tool-output-error", "tool-output-denied"):
            call = body["toolCallId"]
            name = names.get(call, "")
            if kind == "tool-output-available":
                output = body.get("output")
                result = None if output is None else as_text(output)
                add(ToolExecuted(0, 0.0, run_id, call, name, True, result, None, 0.0), i)
            else:
                error = body["errorText"] if kind == "tool-output-error" else "denied"
                add(ToolExecuted(0, 0.0, run_id, call, name, False, None, error, 0.0), i)
        elif kind == "finish":
            meta = body.get("messageMetadata")
            usage = meta.get("usage") if isinstance(meta, dict) else None
            run_usage = run_usage or isinstance(usage, dict)
            total = usage_from_camel([usage]) if isinstance(usage, dict) else Usage()
            add(RunCompleted(0, 0.0, run_id, "", total, 0), i)
        elif kind == "error":
            add(RunFailed(0, 0.0, run_id, "provider", body["errorText"], "", "", ()), i)
        elif kind == "abort":
            add(RunCancelled(0, 0.0, run_id, "cancelled", "", "", ()), i)
    return complete(items, Carries(run_usage=run_usage))


def project_vercel(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    """What `decode_vercel` gives back for `VercelEncoder`'s transcript of `events`."""
    items: list[Item] = []
    names: dict[str, str] = {}
    args: dict[str, list[str]] = {}
    steps = 0
    open_step: int | None = None
    run_usage = False
    for event in events:
        kept: AgentEvent | None = None
        if isinstance(event, RunStarted | TextDelta | ThinkingDelta | ToolCallDelta):
            text = getattr(event, "text", getattr(event, "delta", "x"))
            kept = event if text else None
            if isinstance(event, ToolCallDelta) and text:
                args.setdefault(event.call_id, []).append(text)
        elif isinstance(event, StepStarted):
            steps += 1
            open_step = steps
            kept = replace(event, step=steps)
        elif isinstance(event, StepFinished):
            step = open_step if open_step is not None else steps
            kept = replace(event, step=step, finish_reason="unknown", usage=Usage())
            open_step = None
        elif isinstance(event, ToolCallStarted):
            names[event.call_id] = event.name
            kept = event
        elif isinstance(event, ToolCallCompleted):
            arguments = "".join(args.get(event.call_id, []))
            kept = replace(event, name=names.get(event.call_id, event.name), arguments=arguments)
        elif isinstance(event, ToolExecuted):
            kept = replace(
                event,
                name=names.get(event.call_id, ""),
                output=event.output if event.ok else None,
                error=None if event.ok else (event.error or ""),
                duration=0.0,
            )
        elif isinstance(event, RunCompleted):
            run_usage = True
            kept = event
        elif isinstance(event, RunFailed):
            kept = replace(event, kind="provider")
        elif isinstance(event, RunCancelled):
            kept = replace(event, reason="cancelled")
        if kept is not None:
            items.append((replace(kept, t=0.0), None))
    return list(complete(items, Carries(run_usage=run_usage)).events)
