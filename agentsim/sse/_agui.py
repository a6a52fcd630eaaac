"""The AG-UI dialect (``ag-ui-protocol`` 1.0): ``data: <event JSON, camelCase>``, one event a frame.

Encoding (agent event -> AG-UI events), with ids derived from the run id, step and position so the
bytes are the same on every run:

- run_started -> RUN_STARTED (``threadId`` = ``runId`` = the run id; agentsim has no threads).
- step_started / step_finished -> STEP_STARTED / STEP_FINISHED, ``stepName`` ``"step N"``; the
  finish reason and the step's usage ride in STEP_FINISHED's ``metadata``.
- thinking / text deltas -> one reasoning span (REASONING_START, REASONING_MESSAGE_START ...
  REASONING_MESSAGE_END, REASONING_END) or text message (TEXT_MESSAGE_START ... END) per run of
  same-kind deltas, ids ``<run>-s<step>-m<k>`` (span ``-r<k>``); empty deltas are not sent.
- tool calls -> TOOL_CALL_START at once; the argument deltas are held back and sent at
  completion, followed by TOOL_CALL_END, and only if they form valid JSON: AG-UI clients parse
  the arguments at END, so a call whose arguments are not JSON (the model's mistake, or a call
  cut short by cancellation) is ended without arguments. Its TOOL_CALL_RESULT still says why.
- tool_executed -> TOOL_CALL_RESULT (message id ``<run>-result-<call>``); an error result has
  ``metadata: {"isError": true}``.
- run_completed -> RUN_FINISHED with ``result`` = output and ``usage`` (TokenUsage);
  run_cancelled -> RUN_FINISHED ``outcome: {"type": "cancelled"}``; both first close whatever is
  open (text, reasoning, tool calls, step). run_failed -> RUN_ERROR (``code`` = failure kind),
  which may come with items open.
- sub_run_started -> SUBAGENT_STARTED (``subagentRunId``, ``name`` = the agent,
  ``parentToolCallId``, ``parentSubagentRunId`` when nested, ``metadata.mode``);
  sub_run_finished -> SUBAGENT_FINISHED (``result`` = output; a cancelled one has
  ``metadata.outcome: "cancelled"``) or, failed, SUBAGENT_ERROR (``message``).
- ``timestamp`` is the event's virtual time in whole milliseconds.

Decoding loses: phases and retries (not sent; phases are re-derived), ``seq``, sub-millisecond
``t`` (``t`` is relative to the first timestamp, carried forward where absent), tool durations,
the cancel reason (always ``cancelled``); ``output``, ``steps`` and the partials are derived, not
read (``result`` may be any value); a RUN_FINISHED with an ``interrupt`` outcome counts as
completed. Steps without usage metadata (other producers) get the run's usage on their last
step. The ``*_CHUNK`` shorthands are not supported (a `TranscriptError`); state, activity,
custom and raw events are skipped; a SUBAGENT_STARTED without ``metadata.mode`` (other
producers) is a ``call`` sub-run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from agentsim.core._events import (
    FAILURE_KINDS,
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepFinished,
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
from agentsim.sse._common import (
    Fields,
    Frame,
    args_are_json,
    json_frame,
    typed_frame,
    usage_from_camel,
    usage_to_camel,
)
from agentsim.sse._fill import Carries, Decoded, Item, complete

__all__ = ["AGUIEncoder", "agui_frames", "decode_agui", "project_agui"]

NAME = "agui"
_DECODED = frozenset(
    {
        "RUN_STARTED",
        "RUN_FINISHED",
        "RUN_ERROR",
        "STEP_STARTED",
        "STEP_FINISHED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "SUBAGENT_STARTED",
        "SUBAGENT_FINISHED",
        "SUBAGENT_ERROR",
    }
)
_SKIPPED = frozenset(
    {
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "MESSAGES_SNAPSHOT",
        "ACTIVITY_SNAPSHOT",
        "ACTIVITY_DELTA",
        "RAW",
        "CUSTOM",
        "REASONING_ENCRYPTED_VALUE",
    }
)
_UNSUPPORTED = frozenset({"TEXT_MESSAGE_CHUNK", "TOOL_CALL_CHUNK", "REASONING_MESSAGE_CHUNK"})
TYPES = _DECODED | _SKIPPED | _UNSUPPORTED
_STEP_NAME = re.compile(r"step (\d{1,9})")


def _ms(t: float) -> int:
    return round(t * 1000)


class AGUIEncoder:
    """Incremental AG-UI encoder for one run."""

    def __init__(self) -> None:
        self._run = ""
        self._step = 0
        self._k = 0  # messages opened in the current step
        self._text: str | None = None  # open text message id
        self._reasoning: tuple[str, str] | None = None  # open (span id, message id)
        self._calls: dict[str, list[str]] = {}  # open tool calls -> held-back argument deltas
        self._steps: list[str] = []  # open step names
        self._subs: list[str] = []  # open sub-runs, innermost last

    def feed(self, event: AgentEvent) -> bytes:
        out: list[dict[str, Any]] = []
        ts = _ms(event.t)

        def put(kind: str, metadata: dict[str, Any] | None = None, **fields: Any) -> None:
            frame: dict[str, Any] = {"type": kind, "timestamp": ts}
            if metadata is not None:
                frame["metadata"] = metadata
            frame.update(fields)
            out.append(frame)

        if isinstance(event, RunStarted):
            self._run = event.run_id
            put("RUN_STARTED", threadId=event.run_id, runId=event.run_id)
        elif isinstance(event, StepStarted):
            self._step, self._k = event.step, 0
            self._steps.append(f"step {event.step}")
            put("STEP_STARTED", stepName=self._steps[-1])
        elif isinstance(event, StepFinished):
            self._close_segment(put)
            name = f"step {event.step}"
            if name in self._steps:
                self._steps.remove(name)
            meta = {"finishReason": event.finish_reason, "usage": usage_to_camel(event.usage)}
            put("STEP_FINISHED", meta, stepName=name)
        elif isinstance(event, ThinkingDelta) and event.text:
            if self._text is not None:
                self._close_segment(put)
            if self._reasoning is None:
                self._k += 1
                base = f"{self._run}-s{self._step}"
                self._reasoning = (f"{base}-r{self._k}", f"{base}-m{self._k}")
                put("REASONING_START", messageId=self._reasoning[0])
                put("REASONING_MESSAGE_START", messageId=self._reasoning[1], role="reasoning")
            put("REASONING_MESSAGE_CONTENT", messageId=self._reasoning[1], delta=event.text)
        elif isinstance(event, TextDelta) and event.text:
            if self._reasoning is not None:
                self._close_segment(put)
            if self._text is None:
                self._k += 1
                self._text = f"{self._run}-s{self._step}-m{self._k}"
                put("TEXT_MESSAGE_START", messageId=self._text, role="assistant")
            put("TEXT_MESSAGE_CONTENT", messageId=self._text, delta=event.text)
        elif isinstance(event, ToolCallStarted):
            self._close_segment(put)
            self._calls[event.call_id] = []
            put("TOOL_CALL_START", toolCallId=event.call_id, toolCallName=event.name)
        elif isinstance(event, ToolCallDelta):
            if event.delta and event.call_id in self._calls:
                self._calls[event.call_id].append(event.delta)
        elif isinstance(event, ToolCallCompleted):
            if event.call_id in self._calls:
                deltas = self._calls.pop(event.call_id)
                if args_are_json("".join(deltas)):
                    for delta in deltas:
                        put("TOOL_CALL_ARGS", toolCallId=event.call_id, delta=delta)
                put("TOOL_CALL_END", toolCallId=event.call_id)
        elif isinstance(event, ToolExecuted):
            self._close_segment(put)
            content = (event.output if event.ok else event.error) or ""
            put(
                "TOOL_CALL_RESULT",
                None if event.ok else {"isError": True},
                messageId=f"{self._run}-result-{event.call_id}",
                toolCallId=event.call_id,
                content=content,
                role="tool",
            )
        elif isinstance(event, SubRunStarted | SubRunFinished):
            self._close_segment(put)
            self._sub_run(event, put)
        elif isinstance(event, RunCompleted | RunCancelled):
            cancelled = isinstance(event, RunCancelled)
            self._close_segment(put)
            for call_id in self._calls:
                put("TOOL_CALL_END", toolCallId=call_id)
            self._calls.clear()
            reason = "cancelled" if cancelled else "stop"
            for name in reversed(self._steps):
                meta = {"finishReason": reason, "usage": usage_to_camel(Usage())}
                put("STEP_FINISHED", meta, stepName=name)
            self._steps.clear()
            if isinstance(event, RunCancelled):
                outcome = {"type": "cancelled"}
                put("RUN_FINISHED", threadId=self._run, runId=self._run, outcome=outcome)
            else:
                usage = [usage_to_camel(event.usage)]
                result = event.output
                put("RUN_FINISHED", threadId=self._run, runId=self._run, result=result, usage=usage)
        elif isinstance(event, RunFailed):
            put("RUN_ERROR", message=event.message, code=event.kind)
        return b"".join(json_frame(frame) for frame in out)

    def _sub_run(self, event: SubRunStarted | SubRunFinished, put: Any) -> None:
        subs = self._subs
        if isinstance(event, SubRunStarted):
            fields: dict[str, Any] = {"subagentRunId": event.sub_run_id, "name": event.agent}
            if event.parent_call_id:
                fields["parentToolCallId"] = event.parent_call_id
            if subs:
                fields["parentSubagentRunId"] = subs[-1]
            subs.append(event.sub_run_id)
            put("SUBAGENT_STARTED", {"mode": event.mode}, **fields)
            return
        if event.sub_run_id in subs:
            subs.remove(event.sub_run_id)
        if event.outcome == "failed":
            put("SUBAGENT_ERROR", subagentRunId=event.sub_run_id, message=event.output)
        else:
            meta = {"outcome": "cancelled"} if event.outcome == "cancelled" else None
            put("SUBAGENT_FINISHED", meta, subagentRunId=event.sub_run_id, result=event.output)

    def _close_segment(self, put: Any) -> None:
        if self._text is not None:
            put("TEXT_MESSAGE_END", messageId=self._text)
            self._text = None
        if self._reasoning is not None:
            put("REASONING_MESSAGE_END", messageId=self._reasoning[1])
            put("REASONING_END", messageId=self._reasoning[0])
            self._reasoning = None


# -- reading ----------------------------------------------------------------------------------

_REQUIRED: dict[str, tuple[str, ...]] = {
    "RUN_STARTED": ("threadId", "runId"),
    "RUN_FINISHED": ("threadId", "runId"),
    "RUN_ERROR": ("message",),
    "STEP_STARTED": ("stepName",),
    "STEP_FINISHED": ("stepName",),
    "TEXT_MESSAGE_START": ("messageId",),
    "TEXT_MESSAGE_CONTENT": ("messageId", "delta"),
    "TEXT_MESSAGE_END": ("messageId",),
    "REASONING_START": ("messageId",),
    "REASONING_MESSAGE_START": ("messageId",),
    "REASONING_MESSAGE_CONTENT": ("messageId", "delta"),
    "REASONING_MESSAGE_END": ("messageId",),
    "REASONING_END": ("messageId",),
    "TOOL_CALL_START": ("toolCallId", "toolCallName"),
    "TOOL_CALL_ARGS": ("toolCallId", "delta"),
    "TOOL_CALL_END": ("toolCallId",),
    "TOOL_CALL_RESULT": ("messageId", "toolCallId"),
    "SUBAGENT_STARTED": ("subagentRunId", "name"),
    "SUBAGENT_FINISHED": ("subagentRunId",),
    "SUBAGENT_ERROR": ("subagentRunId", "message"),
}


def agui_frames(events: Sequence[ServerSentEvent]) -> list[Frame]:
    """Check every SSE event is an AG-UI event with the fields agentsim reads."""
    frames = []
    for index, sse in enumerate(events):
        frame = typed_frame(sse, index, NAME, "type", TYPES, "AG-UI event type")
        kind, fields = frame.kind, Fields(frame, NAME)
        if kind in _UNSUPPORTED:
            raise fields.error("the *_CHUNK shorthands are not supported; send START/CONTENT/END")
        for key in _REQUIRED.get(kind, ()):
            fields.string(key)
        fields.opt_int("timestamp")
        fields.opt_obj("metadata")
        if kind == "RUN_ERROR":
            fields.opt_str("code")
        elif kind == "RUN_FINISHED":
            outcome = fields.opt_obj("outcome")
            if outcome is not None and not isinstance(outcome.get("type"), str):
                raise fields.error("outcome must have a string 'type'")
            usage = fields.opt_list("usage")
            if usage is not None and not all(isinstance(u, dict) for u in usage):
                raise fields.error("usage must be a list of TokenUsage objects")
        elif kind == "TOOL_CALL_RESULT":
            content = frame.body.get("content")
            if not isinstance(content, str | list):
                raise fields.error("content must be a string or a list of parts")
        frames.append(frame)
    return frames


def _content_text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))


def decode_agui(frames: Sequence[Frame]) -> Decoded:
    items: list[Item] = []
    run_id = ""
    steps: dict[str, int] = {}
    names: dict[str, str] = {}
    args: dict[str, list[str]] = {}
    ts0: int | None = None
    t = 0.0
    step_usage = run_usage = False
    for frame in frames:
        body, kind, i = frame.body, frame.kind, frame.index
        ts = body.get("timestamp")
        if isinstance(ts, int):
            ts0 = ts if ts0 is None else ts0
            t = (ts - ts0) / 1000
        meta = body.get("metadata") or {}
        event: AgentEvent | None = None
        if kind == "RUN_STARTED":
            run_id = body["runId"]
            event = RunStarted(0, t, run_id)
        elif kind == "STEP_STARTED":
            name = body["stepName"]
            match = _STEP_NAME.fullmatch(name)
            steps[name] = int(match.group(1)) if match else len(steps) + 1
            event = StepStarted(0, t, run_id, steps[name])
        elif kind == "STEP_FINISHED":
            name = body["stepName"]
            match = _STEP_NAME.fullmatch(name)
            usage = meta.get("usage")
            step_usage = step_usage or isinstance(usage, dict)
            reason = meta.get("finishReason")
            event = StepFinished(
                0,
                t,
                run_id,
                int(match.group(1)) if match else steps.get(name, 0),
                reason if isinstance(reason, str) else "unknown",
                usage_from_camel([usage]) if isinstance(usage, dict) else Usage(),
            )
        elif kind == "TEXT_MESSAGE_CONTENT":
            event = TextDelta(0, t, run_id, body["delta"])
        elif kind == "REASONING_MESSAGE_CONTENT":
            event = ThinkingDelta(0, t, run_id, body["delta"])
        elif kind == "TOOL_CALL_START":
            call = body["toolCallId"]
            names[call], args[call] = body["toolCallName"], []
            event = ToolCallStarted(0, t, run_id, call, names[call])
        elif kind == "TOOL_CALL_ARGS":
            call = body["toolCallId"]
            args.setdefault(call, []).append(body["delta"])
            event = ToolCallDelta(0, t, run_id, call, body["delta"])
        elif kind == "TOOL_CALL_END":
            call = body["toolCallId"]
            text = "".join(args.get(call, []))
            event = ToolCallCompleted(0, t, run_id, call, names.get(call, ""), text)
        elif kind == "TOOL_CALL_RESULT":
            call, content = body["toolCallId"], _content_text(body["content"])
            ok = meta.get("isError") is not True
            event = ToolExecuted(
                0,
                t,
                run_id,
                call,
                names.get(call, ""),
                ok,
                content if ok else None,
                None if ok else content,
                0.0,
            )
        elif kind.startswith("SUBAGENT_"):
            event = _decode_sub_run(kind, body, meta, t, run_id)
        elif kind == "RUN_FINISHED":
            outcome = body.get("outcome") or {}
            if outcome.get("type") == "cancelled":
                event = RunCancelled(0, t, run_id, "cancelled", "", "", ())
            else:
                usage_list = body.get("usage")
                run_usage = run_usage or usage_list is not None
                event = RunCompleted(0, t, run_id, "", usage_from_camel(usage_list or []), 0)
        elif kind == "RUN_ERROR":
            code = body.get("code")
            failure = code if code in FAILURE_KINDS else "provider"
            event = RunFailed(0, t, run_id, failure, body["message"], "", "", ())  # type: ignore[arg-type]
        if event is not None:
            items.append((event, i))
    return complete(items, Carries(step_usage=step_usage, run_usage=run_usage))


def _decode_sub_run(
    kind: str, body: Mapping[str, Any], meta: Mapping[str, Any], t: float, run_id: str
) -> AgentEvent:
    sub = body["subagentRunId"]
    if kind == "SUBAGENT_STARTED":
        mode: SubRunMode = "handoff" if meta.get("mode") == "handoff" else "call"
        parent = body.get("parentToolCallId")
        return SubRunStarted(
            0, t, run_id, sub, parent if isinstance(parent, str) else "", body["name"], mode
        )
    if kind == "SUBAGENT_ERROR":
        return SubRunFinished(0, t, run_id, sub, "failed", body["message"])
    result = body.get("result")
    text = result if isinstance(result, str) else "" if result is None else json.dumps(result)
    outcome: SubRunOutcome = "cancelled" if meta.get("outcome") == "cancelled" else "completed"
    return SubRunFinished(0, t, run_id, sub, outcome, text)


def project_agui(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    """What `decode_agui` gives back for `AGUIEncoder`'s transcript of `events`."""
    items: list[Item] = []
    first: list[int] = []
    names: dict[str, str] = {}
    held: dict[str, list[ToolCallDelta]] = {}
    open_steps: list[int] = []
    step_usage = run_usage = False

    def emit(event: AgentEvent, ms: int) -> None:
        if not first:
            first.append(ms)
        items.append((replace(event, t=(ms - first[0]) / 1000), None))

    for event in events:
        ms = _ms(event.t)
        if isinstance(event, RunStarted):
            emit(event, ms)
        elif isinstance(event, StepStarted):
            open_steps.append(event.step)
            emit(event, ms)
        elif isinstance(event, StepFinished):
            if event.step in open_steps:
                open_steps.remove(event.step)
            step_usage = True
            emit(event, ms)
        elif isinstance(event, TextDelta | ThinkingDelta):
            if event.text:
                emit(event, ms)
        elif isinstance(event, ToolCallStarted):
            names[event.call_id], held[event.call_id] = event.name, []
            emit(event, ms)
        elif isinstance(event, ToolCallDelta):
            if event.delta and event.call_id in held:
                held[event.call_id].append(event)
        elif isinstance(event, ToolCallCompleted):
            if event.call_id in held:
                deltas = held.pop(event.call_id)
                text = "".join(d.delta for d in deltas)
                if not args_are_json(text):
                    deltas, text = [], ""
                for delta in deltas:
                    emit(delta, ms)
                emit(replace(event, name=names[event.call_id], arguments=text), ms)
        elif isinstance(event, ToolExecuted):
            text = (event.output if event.ok else event.error) or ""
            emit(
                replace(
                    event,
                    name=names.get(event.call_id, ""),
                    output=text if event.ok else None,
                    error=None if event.ok else text,
                    duration=0.0,
                ),
                ms,
            )
        elif isinstance(event, RunCompleted | RunCancelled):
            for call_id in held:
                emit(ToolCallCompleted(0, 0.0, event.run_id, call_id, names[call_id], ""), ms)
            held.clear()
            reason = "cancelled" if isinstance(event, RunCancelled) else "stop"
            for step in reversed(open_steps):
                emit(StepFinished(0, 0.0, event.run_id, step, reason, Usage()), ms)
                step_usage = True
            open_steps.clear()
            if isinstance(event, RunCancelled):
                emit(replace(event, reason="cancelled"), ms)
            else:
                run_usage = True
                emit(event, ms)
        elif isinstance(event, RunFailed | SubRunStarted | SubRunFinished):
            emit(event, ms)
    return list(complete(items, Carries(step_usage=step_usage, run_usage=run_usage)).events)
