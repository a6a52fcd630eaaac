"""A run (or a checked transcript) as a timeline: rows of timed items, markers and pinned failures.

The model is what the HTML page draws and nothing else: plain data, built once, in a stable order,
so the page's bytes depend only on the run. Rows come in four groups:

- ``provider``: one row per provider request (each retry attempt is its own request), the stream
  open from the request to its end, each chunk a tick at the virtual time the loop got it; the
  retry backoffs (`RetryScheduled` event to the next attempt) in a row of their own;
- ``tools``: one row per execution of a tool function, a bar from its start to its end (or to the
  end of the run, marked as never ended);
- ``events``: the steps as bars split by phase, then every agent event as a tick;
- ``sse``: the frames of the chosen SSE dialect, each at the time of the event that produced it.

What the harness recorded (`RunResult.recording`) gives the provider and tool rows; a run without
one (a crashed run, a decoded transcript) gets tool bars from its `tool_executed` events
(``t - duration`` to ``t``) and no provider rows. Markers: the deadline and the idle timeouts
where they fell inside the run (a later deadline is only stated), the cancel request, a consumer
drop. Each invariant (or S2 rule) violation is pinned to the item of its event (or frame); one
without a position is pinned to the end of the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentsim.check._invariants import Violation
from agentsim.core._chunks import chunk_to_dict
from agentsim.core._events import (
    AgentEvent,
    PhaseChanged,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    StepFinished,
    StepStarted,
    ToolExecuted,
    event_to_dict,
)
from agentsim.core._sse_framing import decode_sse
from agentsim.harness._recording import Recording
from agentsim.harness._result import RunResult, describe_outcome
from agentsim.loop._protocol import LoopOptions
from agentsim.sse._dialects import TranscriptReport, get_dialect

__all__ = ["Item", "Marker", "Pin", "Row", "Timeline", "timeline_of_run", "timeline_of_transcript"]


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    group: str  # provider | tools | events | sse
    title: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """A tick (``end`` None) or a bar (``t`` to ``end``) in a row; `detail` is its payload."""

    id: str
    row: str
    kind: str
    t: float
    label: str
    detail: dict[str, Any]
    end: float | None = None
    open: bool = False  # a bar that never ended: drawn to the end of the run
    # a bar between two items (a step from its step_started to its step_finished): drawn from
    # one to the other within their instants' bursts, not across the whole bursts
    start_ref: str | None = None
    end_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Marker:
    kind: str  # deadline | idle | cancel | drop
    t: float
    label: str


@dataclass(frozen=True, slots=True)
class Pin:
    check: str
    message: str
    item: str | None  # the id of the item it is pinned to
    t: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    title: str
    summary: tuple[str, ...]
    verdict: str  # PASS | FAIL
    rows: tuple[Row, ...]
    items: tuple[Item, ...]
    markers: tuple[Marker, ...] = ()
    pins: tuple[Pin, ...] = ()
    notes: tuple[str, ...] = ()  # what the page should say that has no place on the axis
    end: float = 0.0
    dialect: str = "native"
    rows_by_key: dict[str, Row] = field(default_factory=dict, compare=False)


_PHASE_ENDS = (PhaseChanged, StepFinished, StepStarted, RunCompleted, RunFailed, RunCancelled)


def _num(t: float) -> float:
    return round(t, 9)


def _event_detail(event: AgentEvent) -> dict[str, Any]:
    return dict(event_to_dict(event))


def _event_label(event: AgentEvent) -> str:
    payload = event_to_dict(event)
    bits = [f"#{event.seq} {event.type} @ {_num(event.t):g}s"]
    for key in ("step", "phase", "name", "kind", "reason", "attempt", "delay"):
        if key in payload:
            bits.append(f"{key}={payload[key]}")
    for key in ("text", "delta", "arguments", "message", "output", "error_message"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            short = value if len(value) <= 60 else value[:57] + "..."
            bits.append(f"{key}={json.dumps(short, ensure_ascii=False)}")
            break
    return " ".join(bits)


def _event_rows(
    events: Sequence[AgentEvent], end: float, origins: Sequence[int | None] | None = None
) -> tuple[list[Row], list[Item]]:
    rows = [Row("steps", "events", "steps · phases"), Row("events", "events", "agent events")]
    items: list[Item] = []
    step: tuple[int, StepStarted] | None = None
    phase: tuple[int, PhaseChanged] | None = None
    for index, event in enumerate(events):
        detail = _event_detail(event)
        if origins is not None and index < len(origins) and origins[index] is not None:
            detail["from_sse_event"] = origins[index]
        items.append(
            Item(f"e{index}", "events", f"ev-{event.type}", event.t, _event_label(event), detail)
        )
        if phase is not None and isinstance(event, _PHASE_ENDS):
            items.append(_phase_bar(phase, event.t, index, len(items)))
            phase = None
        if isinstance(event, PhaseChanged):
            phase = (index, event)
        if isinstance(event, StepStarted):
            step = (index, event)
        elif isinstance(event, StepFinished | RunCompleted | RunFailed | RunCancelled) and step:
            items.append(_step_bar(step, event.t, index, len(items)))
            step = None
    if phase is not None:
        items.append(_phase_bar(phase, end, None, len(items)))
    if step is not None:
        items.append(_step_bar(step, end, None, len(items)))
    return rows, items


def _step_bar(started: tuple[int, StepStarted], end: float, closer: int | None, n: int) -> Item:
    index, step = started
    label = f"step {step.step}: {_num(step.t):g}s to {_num(end):g}s"
    detail = {"step": step.step, "start": step.t, "end": end, "ended": closer is not None}
    return Item(
        f"s{n}", "steps", "step", step.t, label, detail, end=end, open=closer is None,
        start_ref=f"e{index}", end_ref=f"e{closer}" if closer is not None else None,
    )  # fmt: skip


def _phase_bar(changed: tuple[int, PhaseChanged], end: float, closer: int | None, n: int) -> Item:
    index, phase = changed
    label = f"phase {phase.phase}: {_num(phase.t):g}s to {_num(end):g}s"
    detail = {"phase": phase.phase, "start": phase.t, "end": end}
    return Item(
        f"p{n}", "steps", f"phase-{phase.phase}", phase.t, label, detail, end=end,
        open=closer is None, start_ref=f"e{index}",
        end_ref=f"e{closer}" if closer is not None else None,
    )  # fmt: skip


def _provider_rows(
    recording: Recording, events: Sequence[AgentEvent], end: float
) -> tuple[list[Row], list[Item]]:
    rows: list[Row] = []
    items: list[Item] = []
    for r in recording.requests:
        key = f"req{r.number}"
        note = r.ended
        rows.append(
            Row(key, "provider", f"request {r.number} · step {r.step} · try {r.attempt}", note)
        )
        stop = r.end if r.end is not None else end
        detail: dict[str, Any] = {
            "request": r.number,
            "step": r.step,
            "attempt": r.attempt,
            "t": r.t,
            "end": r.end,
            "ended": r.ended,
            "chunks": len(r.chunks),
        }
        if r.error:
            detail["error"] = r.error
        label = f"request {r.number} (step {r.step}, attempt {r.attempt}): {_num(r.t):g}s to " + (
            f"{_num(stop):g}s, {r.ended}" if r.end is not None else "never ended"
        )
        kind = "stream" + (" stream-failed" if r.ended == "raised" else "")
        items.append(Item(f"{key}", key, kind, r.t, label, detail, end=stop, open=r.end is None))
        for k, c in enumerate(r.chunks):
            payload = chunk_to_dict(c.chunk)
            text = json.dumps(payload, ensure_ascii=False)
            short = text if len(text) <= 90 else text[:87] + "..."
            items.append(
                Item(
                    f"{key}c{k}",
                    key,
                    f"ch-{payload['type']}",
                    c.t,
                    f"chunk {k + 1} @ {_num(c.t):g}s {short}",
                    {"t": c.t, "chunk": payload},
                )
            )
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    if retries:
        rows.append(Row("backoff", "provider", "retries · backoff"))
        for n, e in enumerate(retries):
            label = (
                f"retry of step {e.step} as attempt {e.attempt} after {e.delay:g}s backoff "
                f"({e.error_kind}: {e.error_message})"
            )
            stop = e.t + e.delay
            if stop > end + 1e-9:  # the run ended during the wait (a cancel, the deadline)
                stop, label = end, label + f"; cut short at {_num(end):g}s"
            items.append(
                Item(f"b{n}", "backoff", "backoff", e.t, label, _event_detail(e), end=stop)
            )
    return rows, items


def _tool_rows(
    recording: Recording | None, events: Sequence[AgentEvent], end: float
) -> tuple[list[Row], list[Item]]:
    rows: list[Row] = []
    items: list[Item] = []
    if recording is not None:
        for n, tool in enumerate(recording.tools):
            key = f"tool{n}"
            rows.append(Row(key, "tools", f"{tool.name} #{n + 1}", tool.outcome))
            stop = tool.end if tool.end is not None else end
            label = f"tool {tool.name}: {_num(tool.start):g}s to " + (
                f"{_num(stop):g}s, {tool.outcome}" if tool.end is not None else "never ended"
            )
            detail: dict[str, Any] = {
                "tool": tool.name,
                "arguments": tool.arguments,
                "start": tool.start,
                "end": tool.end,
                "outcome": tool.outcome,
            }
            if tool.error:
                detail["error"] = tool.error
            kind = f"tool tool-{tool.outcome}"
            items.append(
                Item(key, key, kind, tool.start, label, detail, end=stop, open=tool.end is None)
            )
        return rows, items
    for n, e in enumerate(x for x in events if isinstance(x, ToolExecuted)):
        key = f"tool{n}"
        rows.append(Row(key, "tools", f"{e.name} #{n + 1}", "from tool_executed"))
        start = e.t - e.duration
        label = f"tool {e.name}: {_num(start):g}s to {_num(e.t):g}s, ok={e.ok}"
        kind = "tool tool-" + ("returned" if e.ok else "raised")
        items.append(Item(key, key, kind, start, label, _event_detail(e), end=e.t))
    return rows, items


def _sse_items(events: Sequence[AgentEvent], dialect: str) -> list[Item]:
    encoder = get_dialect(dialect).new_encoder()
    items: list[Item] = []
    for event in events:
        data = encoder.feed(event)
        for frame in decode_sse(data):
            n = len(items)
            label = f"SSE {n} ({frame.event}) @ {_num(event.t):g}s: {frame.data[:80]}"
            detail = {"event": frame.event, "id": frame.id, "data": frame.data, "t": event.t}
            items.append(Item(f"f{n}", "sse", "frame", event.t, label, detail))
    return items


def _pins(
    violations: Sequence[Violation],
    prefix: str,
    available: set[str],
    times: dict[str, float],
    end: float,
) -> list[Pin]:
    pins: list[Pin] = []
    for v in violations:
        target = f"{prefix}{v.index}" if v.index is not None else None
        if target not in available:
            target = None
        t = times[target] if target is not None else end
        pins.append(Pin(v.invariant, f"expected {v.expected}; saw {v.seen}", target, t))
    return pins


def _options_markers(
    options: LoopOptions, end: float, recording: Recording | None
) -> tuple[list[Marker], list[str]]:
    markers: list[Marker] = []
    notes: list[str] = []
    if options.deadline <= end + 1e-9:
        markers.append(Marker("deadline", options.deadline, f"deadline {options.deadline:g}s"))
    else:
        notes.append(f"deadline at {options.deadline:g}s, after the run ended")
    idle = options.idle_timeout
    if idle is not None and recording is not None:
        for r in recording.requests:
            if r.end is None or r.ended == "finished":
                continue
            last = r.chunks[-1].t if r.chunks else r.t
            if abs(last + idle - r.end) <= 1e-6:
                label = f"idle timeout {idle:g}s (request {r.number})"
                markers.append(Marker("idle", r.end, label))
    if idle is not None:
        notes.append(f"idle timeout {idle:g}s between chunks")
    return markers, notes


def _finish(
    *,
    title: str,
    summary: list[str],
    verdict: str,
    rows: list[Row],
    items: list[Item],
    markers: list[Marker],
    pins: list[Pin],
    notes: list[str],
    end: float,
    dialect: str,
) -> Timeline:
    return Timeline(
        title=title,
        summary=tuple(summary),
        verdict=verdict,
        rows=tuple(rows),
        items=tuple(items),
        markers=tuple(markers),
        pins=tuple(pins),
        notes=tuple(notes),
        end=end,
        dialect=dialect,
        rows_by_key={r.key: r for r in rows},
    )


def timeline_of_run(
    result: RunResult,
    *,
    title: str = "agentsim run",
    dialect: str = "native",
    extra: Sequence[Violation] = (),
    notes: Sequence[str] = (),
) -> Timeline:
    """The timeline of one run; `extra` pins more violations (a relation's, M1-M3) to its events."""
    get_dialect(dialect)  # an unknown dialect is an InputError before anything is built
    events = result.events
    recording = result.recording
    times = [e.t for e in events]
    if recording is not None:
        times += [r.end if r.end is not None else r.t for r in recording.requests]
        times += [c.t for r in recording.requests for c in r.chunks]
        times += [t.end if t.end is not None else t.start for t in recording.tools]
        times += [recording.cancel_at] if recording.cancel_at is not None else []
    end = max([*times, 0.0])
    rows: list[Row] = []
    items: list[Item] = []
    if recording is not None:
        r, i = _provider_rows(recording, events, end)
        rows += r
        items += i
    r, i = _tool_rows(recording, events, end)
    rows += r
    items += i
    r, i = _event_rows(events, end)
    rows += r
    items += i
    rows.append(Row("sse", "sse", f"SSE · {dialect}"))
    items += _sse_items(events, dialect)
    markers, option_notes = _options_markers(result.options, end, recording)
    if recording is not None and recording.cancel_at is not None:
        markers.append(
            Marker("cancel", recording.cancel_at, f"cancel requested {recording.cancel_at:g}s")
        )
    if result.dropped:
        markers.append(Marker("drop", end, "consumer dropped the stream"))
    found = [*result.violations, *extra]
    pins = _pins(found, "e", {i.id for i in items}, {i.id: i.t for i in items}, end)
    summary = [f"outcome: {describe_outcome(result.outcome)}"]
    if found:
        ids = ", ".join(dict.fromkeys(v.invariant for v in found))
        summary.append(f"invariants: {len(found)} violation(s): {ids} (pinned below)")
    else:
        summary.append("invariants: all hold")
    summary += [f"script: {p}" for p in result.problems]
    summary += [f"expectation: {m}" for m in result.mismatches]
    if recording is None:
        summary.append("no recording of provider requests or tool runs (the run broke off)")
    return _finish(
        title=title,
        summary=summary,
        verdict="PASS" if result.passed and not extra else "FAIL",
        rows=rows,
        items=items,
        markers=markers,
        pins=pins,
        notes=[*notes, *option_notes, f"seed {result.seed}"],
        end=end,
        dialect=dialect,
    )


def timeline_of_transcript(
    report: TranscriptReport, data: bytes, *, title: str = "agentsim check"
) -> Timeline:
    """The timeline of a checked transcript: its decoded events and its frames, with S2 and the
    invariants pinned. Frames are placed at the time of the last event decoded from them."""
    events = report.events
    end = max([e.t for e in events] + [0.0])
    rows, items = _event_rows(events, end, report.origins)
    tools_rows, tools_items = _tool_rows(None, events, end)
    rows = tools_rows + rows
    items = tools_items + items
    frames = get_dialect(report.dialect).frames(data)
    time_of: dict[int, float] = {}
    for event, origin in zip(events, report.origins, strict=False):
        if origin is not None:
            time_of[origin] = event.t
    rows.append(Row("sse", "sse", f"SSE · {report.dialect}"))
    t = 0.0
    for frame in frames:
        t = time_of.get(frame.index, t)
        body = json.dumps(dict(frame.body), ensure_ascii=False, sort_keys=True)
        label = f"SSE {frame.index} ({frame.kind}): {body[:80]}"
        detail: dict[str, Any] = {
            "index": frame.index,
            "kind": frame.kind,
            "body": dict(frame.body),
        }
        if frame.sse is not None:
            detail["data"] = frame.sse.data
        items.append(Item(f"f{frame.index}", "sse", "frame", t, label, detail))
    ids = {i.id for i in items}
    times = {i.id: i.t for i in items}
    pins = _pins(report.rule_violations, "f", ids, times, end)
    pins += _pins(report.invariant_violations, "e", ids, times, end)
    return _finish(
        title=title,
        summary=[report.render().splitlines()[0]],
        verdict="PASS" if report.passed else "FAIL",
        rows=rows,
        items=items,
        markers=[],
        pins=pins,
        notes=["times as the transcript carries them (some dialects carry none)"],
        end=end,
        dialect=report.dialect,
    )
