"""SSE dialects: official schemas, S1 round trips, S2 rules, decoding garbage, resumption."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import BaseEvent, Event
from ag_ui.encoder import EventEncoder
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from agentsim import (
    FAILURE_KINDS,
    AgentEvent,
    PhaseChanged,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunResult,
    RunStarted,
    StepFinished,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
    Trace,
    Usage,
    check_trace,
    run_scenario,
)
from agentsim.sse import decode_sse, encode_native
from agentsim.sse._agui import TYPES as AGUI_TYPES
from agentsim.sse._common import TranscriptError, json_frame
from agentsim.sse._dialects import (
    DIALECT_NAMES,
    DIALECTS,
    check_transcript,
    decode_dialect,
    detect_dialect,
    dialect_rules,
    encode_dialect,
    project_dialect,
)
from agentsim.sse._native import events_after
from agentsim.sse._vercel import TYPES as VERCEL_TYPES

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
IDS = [p.stem for p in SCENARIOS]
EV = ("EV1", "EV2", "EV3", "EV4", "EV5", "EV6", "EV7")
AGUI_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


@functools.cache
def _run(path: Path) -> RunResult:
    return run_scenario(path)


def _agui_conforms(transcript: bytes) -> None:
    """Every frame parses as an ag-ui-protocol event with no unknown field, and our bytes are the
    official encoder's bytes for that event."""
    for sse in decode_sse(transcript):
        model = AGUI_EVENT.validate_json(sse.data)
        assert isinstance(model, BaseEvent)
        assert not model.model_extra, model.model_extra
        assert EventEncoder().encode(model) == f"data: {sse.data}\n\n"


# The v5 UI message chunks agentsim writes: (required keys, optional keys), from the AI SDK's
# strict zod schema (ai@5.0, packages/ai/src/ui-message-stream/ui-message-chunks.ts).
_V5: dict[str, tuple[set[str], set[str]]] = {
    "start": (set(), {"messageId", "messageMetadata"}),
    "finish": (set(), {"messageMetadata"}),
    "abort": (set(), set()),
    "start-step": (set(), set()),
    "finish-step": (set(), set()),
    "error": ({"errorText"}, set()),
    "tool-input-start": ({"toolCallId", "toolName"}, {"providerExecuted", "dynamic"}),
    "tool-input-delta": ({"toolCallId", "inputTextDelta"}, set()),
    "tool-input-available": ({"toolCallId", "toolName", "input"}, {"providerExecuted", "dynamic"}),
    "tool-input-error": ({"toolCallId", "toolName", "input", "errorText"}, {"dynamic"}),
    "tool-output-available": ({"toolCallId", "output"}, {"providerExecuted", "dynamic"}),
    "tool-output-error": ({"toolCallId", "errorText"}, {"providerExecuted", "dynamic"}),
    **{
        f"{p}-{s}": ({"id"}, {"providerMetadata"})
        for p in ("text", "reasoning")
        for s in ("start", "end")
    },
    **{f"{p}-delta": ({"id", "delta"}, {"providerMetadata"}) for p in ("text", "reasoning")},
}


def _vercel_conforms(transcript: bytes) -> None:
    events = decode_sse(transcript)
    for sse in events[:-1]:
        chunk = json.loads(sse.data)
        required, optional = _V5[chunk.pop("type")]
        assert required <= set(chunk) <= required | optional, chunk
        for key in required & {"id", "delta", "toolCallId", "toolName", "errorText"}:
            assert isinstance(chunk[key], str), chunk
    if events and events[-1].data != "[DONE]":
        json.loads(events[-1].data)  # a cut stream: no [DONE] yet


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_agui_is_what_the_official_package_writes(path: Path) -> None:
    _agui_conforms(encode_dialect(_run(path).events, "agui"))


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_vercel_chunks_fit_the_v5_schema(path: Path) -> None:
    _vercel_conforms(encode_dialect(_run(path).events, "vercel"))


def test_vercel_names_its_protocol_in_a_header() -> None:
    assert DIALECTS["vercel"].headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert all(d.headers["content-type"] == "text/event-stream" for d in DIALECTS.values())


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_every_scenario_round_trips_and_checks_clean(path: Path, dialect: str) -> None:
    """S1 and S2 for the reference loop, and no false positive of EV1-EV8 after decoding."""
    result = _run(path)
    data = encode_dialect(result.events, dialect)
    assert b"\r" not in data
    assert detect_dialect(data) == dialect
    decoded = decode_dialect(data, dialect)
    if dialect == "native":
        assert decoded == list(result.events)
    assert decoded == project_dialect(result.events, dialect)
    report = check_transcript(data, options=result.options, dropped=result.dropped)
    assert not report.invariant_violations, report.render()
    expected = ["S2.vercel.done"] if result.dropped and dialect == "vercel" else []
    assert [v.invariant for v in report.rule_violations] == expected, report.render()


# -- generated traces ----------------------------------------------------------------------------

_TEXT = st.text(max_size=6) | st.sampled_from(["", "line\nbreak", "é 🙂", "\r\n", '"}'])
_ARGS = st.dictionaries(st.sampled_from(["city", "q", "n"]), st.integers() | st.text(max_size=4))


@st.composite
def traces(draw: st.DrawFn) -> tuple[list[AgentEvent], bool]:
    """A trace that keeps EV1-EV7: steps of reasoning, text and tool calls, cut anywhere and
    ended by completion, failure, cancellation or a consumer drop (the bool)."""
    run = draw(st.sampled_from(["run_a1", "run-b2"]))
    events: list[AgentEvent] = []
    now = [0.0]
    phase: list[str | None] = [None]

    def add(cls: Any, *fields: Any, wants: str | None = None) -> None:
        now[0] += draw(st.sampled_from([0.0, 0.001, 0.25, 1.5]))
        if wants is not None and wants != phase[0]:
            events.append(PhaseChanged(len(events) + 1, now[0], run, wants))  # type: ignore[arg-type]
            phase[0] = wants
        events.append(cls(len(events) + 1, now[0], run, *fields))

    steps = draw(st.integers(0, 3))
    asked_tools = False
    add(RunStarted)
    for step in range(1, steps + 1):
        add(StepStarted, step)
        if draw(st.integers(0, 4)) == 0:
            add(RetryScheduled, step, 1, 1.0, "rate_limit", "slow down")
        for kind, pieces in draw(
            st.lists(st.tuples(st.booleans(), st.lists(_TEXT, min_size=1, max_size=3)), max_size=3)
        ):
            for piece in pieces:
                add(
                    ThinkingDelta if kind else TextDelta, piece, wants="think" if kind else "answer"
                )
        calls = []
        for j in range(draw(st.integers(0 if step == steps else 1, 2))):
            call, name = f"call_{step}_{j}", draw(st.sampled_from(["search", "get_weather"]))
            args = draw(_ARGS.map(json.dumps) | st.sampled_from(['{"q": ', "", "nope"]))
            cuts = sorted(draw(st.lists(st.integers(0, len(args)), max_size=3)))
            add(ToolCallStarted, call, name, wants="act")
            for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True):
                add(ToolCallDelta, call, args[a:b], wants="act")
            add(ToolCallCompleted, call, name, args, wants="act")
            calls.append((call, name))
        for call, name in calls:
            ok = draw(st.booleans())
            add(ToolExecuted, call, name, ok, "out" if ok else None, None if ok else "boom", 0.5)
        usage = Usage(draw(st.integers(0, 50)), draw(st.integers(0, 50)), 0, 0)
        add(StepFinished, step, "tool_calls" if calls else "stop", usage)
        asked_tools = bool(calls)
    ending = draw(st.sampled_from(["complete", "fail", "cancel", "drop"]))
    if ending == "complete" and (steps == 0 or asked_tools):
        ending = "fail"
    if ending != "complete":
        del events[draw(st.integers(1, len(events))) :]
    before = list(events)
    executed = {e.call_id for e in before if isinstance(e, ToolExecuted)}
    pending = tuple(
        e.call_id for e in before if isinstance(e, ToolCallStarted) and e.call_id not in executed
    )
    text = "".join(e.text for e in before if isinstance(e, TextDelta))
    thinking = "".join(e.text for e in before if isinstance(e, ThinkingDelta))
    if ending == "complete":
        last = max(i for i, e in enumerate(before) if isinstance(e, StepStarted))
        output = "".join(e.text for e in before[last:] if isinstance(e, TextDelta))
        usage = sum((e.usage for e in before if isinstance(e, StepFinished)), Usage())
        add(RunCompleted, output, usage, steps, wants="summarize")
    elif ending == "fail":
        failure = draw(st.sampled_from(FAILURE_KINDS))
        add(RunFailed, failure, draw(_TEXT), text, thinking, pending)
    elif ending == "cancel":
        reason = draw(st.sampled_from(["cancelled", "consumer_dropped"]))
        add(RunCancelled, reason, text, thinking, pending)
    return events, ending == "drop"


@given(traces())
def test_generated_traces_round_trip_in_every_dialect(trace: tuple[list[AgentEvent], bool]) -> None:
    events, dropped = trace
    assert not check_trace(Trace(events=events, dropped=dropped), only=EV)
    assert decode_dialect(encode_native(events), "native") == events
    for dialect in DIALECT_NAMES:
        data = encode_dialect(events, dialect)
        assert encode_dialect(events, dialect) == data
        if not data:  # phase and chat send nothing for a run that showed nothing yet
            assert dialect in ("phase", "chat")
            continue
        assert detect_dialect(data) == dialect
        assert decode_dialect(data, dialect) == project_dialect(events, dialect)
        report = check_transcript(data, dialect=dialect, dropped=dropped)
        assert not report.invariant_violations, (dialect, report.render())
        expected = ["S2.vercel.done"] if dropped and dialect == "vercel" else []
        assert [v.invariant for v in report.rule_violations] == expected, report.render()
        if dialect == "agui":
            _agui_conforms(data)
        elif dialect == "vercel":
            _vercel_conforms(data)


# -- S2: each rule catches a broken transcript ----------------------------------------------------


def _sse(*frames: Any) -> bytes:
    return b"".join(
        b"data: [DONE]\n\n" if frame == "[DONE]" else json_frame(frame) for frame in frames
    )


def _ag(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


_RUN = _ag("RUN_STARTED", threadId="t", runId="r")
_END = _ag("RUN_FINISHED", threadId="t", runId="r")
_TMS, _TMC, _TME = "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"
_RESULT = {"messageId": "res", "toolCallId": "c1", "content": "ok"}

BROKEN: list[tuple[str, str, int, bytes]] = [
    ("agui", "first-event", 0, _sse(_ag(_TMS, messageId="m"), _ag(_TME, messageId="m"))),
    ("agui", "after-terminal", 2, _sse(_RUN, _END, _ag("STEP_STARTED", stepName="s"))),
    ("agui", "already-open", 2, _sse(_RUN, _ag(_TMS, messageId="m"), _ag(_TMS, messageId="m"))),
    ("agui", "not-open", 1, _sse(_RUN, _ag(_TMC, messageId="m", delta="x"))),
    ("agui", "not-open", 1, _sse(_RUN, _ag("TOOL_CALL_END", toolCallId="c1"))),
    ("agui", "not-open", 1, _sse(_RUN, _ag("STEP_FINISHED", stepName="s"))),
    (
        "agui",
        "unclosed",
        2,
        _sse(_RUN, _ag("TOOL_CALL_START", toolCallId="c1", toolCallName="f"), _END),
    ),
    (
        "agui",
        "reused-id",
        3,
        _sse(_RUN, _ag(_TMS, messageId="m"), _ag(_TME, messageId="m"), _ag(_TMS, messageId="m")),
    ),
    (
        "agui",
        "empty-delta",
        2,
        _sse(_RUN, _ag(_TMS, messageId="m"), _ag(_TMC, messageId="m", delta="")),
    ),
    (
        "agui",
        "args-not-json",
        3,
        _sse(
            _RUN,
            _ag("TOOL_CALL_START", toolCallId="c1", toolCallName="f"),
            _ag("TOOL_CALL_ARGS", toolCallId="c1", delta='{"a":'),
            _ag("TOOL_CALL_END", toolCallId="c1"),
        ),
    ),
    ("agui", "result-unknown-call", 1, _sse(_RUN, _ag("TOOL_CALL_RESULT", **_RESULT))),
    (
        "agui",
        "result-unknown-call",
        2,
        _sse(
            _RUN,
            _ag("TOOL_CALL_START", toolCallId="c1", toolCallName="f"),
            _ag("TOOL_CALL_RESULT", **_RESULT),
        ),
    ),
    (
        "vercel",
        "not-open",
        1,
        _sse({"type": "start"}, {"type": "text-delta", "id": "t", "delta": "x"}, "[DONE]"),
    ),
    (
        "vercel",
        "not-open",
        1,
        _sse({"type": "start"}, {"type": "reasoning-end", "id": "r"}, "[DONE]"),
    ),
    (
        "vercel",
        "already-open",
        1,
        _sse({"type": "text-start", "id": "t"}, {"type": "text-start", "id": "t"}, "[DONE]"),
    ),
    (
        "vercel",
        "tool-input-unknown",
        0,
        _sse({"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}, "[DONE]"),
    ),
    (
        "vercel",
        "tool-output-unknown",
        0,
        _sse({"type": "tool-output-available", "toolCallId": "c", "output": 1}, "[DONE]"),
    ),
    (
        "vercel",
        "unclosed",
        2,
        _sse(
            {"type": "start-step"},
            {"type": "text-start", "id": "t"},
            {"type": "finish-step"},
            "[DONE]",
        ),
    ),
    ("vercel", "abort-and-finish", 1, _sse({"type": "abort"}, {"type": "finish"}, "[DONE]")),
    ("vercel", "after-terminal", 1, _sse({"type": "finish"}, {"type": "start-step"}, "[DONE]")),
    ("vercel", "done", 0, _sse({"type": "start"})),
    ("vercel", "after-done", 1, _sse("[DONE]", {"type": "start"})),
    (
        "phase",
        "after-terminal",
        1,
        _sse({"type": "error", "message": "x"}, {"type": "delta", "content": "y"}),
    ),
    (
        "chat",
        "after-terminal",
        1,
        _sse({"event": "done", "data": "ok"}, {"event": "token", "data": "y"}),
    ),
]


def _native_broken() -> list[tuple[str, str, int, bytes]]:
    events = list(_run(SCENARIOS[0]).events)
    data = encode_native(events)
    swapped = data.replace(b"id: 2\n", b"id: 7\n", 1)
    renamed = data.replace(b"event: step_started", b"event: step", 1)
    return [("native", "ids", 1, swapped), ("native", "event-type", 1, renamed)]


@pytest.mark.parametrize(
    ("dialect", "rule", "index", "data"),
    BROKEN + _native_broken(),
    ids=[f"{d}-{r}-{i}" for d, r, i, _ in BROKEN + _native_broken()],
)
def test_each_rule_catches_a_broken_transcript(
    dialect: str, rule: str, index: int, data: bytes
) -> None:
    violations = dialect_rules(data, dialect)
    assert [(v.invariant, v.index) for v in violations] == [(f"S2.{dialect}.{rule}", index)]
    assert violations[0].expected
    assert violations[0].seen


# -- fill: what a dialect does not carry never makes an invariant fire --------------------------


def test_an_agui_stream_without_steps_or_step_usage_checks_clean() -> None:
    """Another producer's stream: no steps, usage only on RUN_FINISHED, no timestamps."""
    data = _sse(
        _RUN,
        _ag(_TMS, messageId="m", role="assistant"),
        _ag(_TMC, messageId="m", delta="hi"),
        _ag(_TME, messageId="m"),
        _ag("RUN_FINISHED", threadId="t", runId="r", usage=[{"inputTokens": 3, "outputTokens": 1}]),
    )
    report = check_transcript(data)
    assert report.passed, report.render()
    completed = report.events[-1]
    assert isinstance(completed, RunCompleted)
    assert (completed.output, completed.usage, completed.steps) == ("hi", Usage(3, 1), 1)


def test_a_phase_stream_is_checked_for_its_phases() -> None:
    data = _sse({"type": "delta", "index": 0, "content": "hi"}, {"type": "done", "output": "hi"})
    report = check_transcript(data)
    assert [v.invariant for v in report.invariant_violations] == ["EV6"]
    assert report.origins[report.invariant_violations[0].index or 0] == 0
    assert "from SSE event 0" in report.render()


def test_a_tool_result_before_its_call_is_reported_by_rule_and_invariant() -> None:
    data = _sse(_RUN, _ag("TOOL_CALL_RESULT", **_RESULT), _END)
    report = check_transcript(data)
    assert [v.invariant for v in report.rule_violations] == ["S2.agui.result-unknown-call"]
    assert "EV5" in [v.invariant for v in report.invariant_violations]


# -- decoding garbage -----------------------------------------------------------------------------

_KEYS = [
    "type", "event", "data", "seq", "t", "run_id", "step", "text", "delta", "call_id", "name",
    "arguments", "ok", "output", "error", "usage", "phase", "kind", "message", "reason",
    "partial_text", "partial_thinking", "pending_tool_calls", "finish_reason", "steps",
    "messageId", "toolCallId", "toolCallName", "stepName", "threadId", "runId", "timestamp",
    "metadata", "outcome", "content", "code", "id", "toolName", "inputTextDelta", "input",
    "errorText", "messageMetadata", "tool_call_id", "tool_name", "status", "index",
]  # fmt: skip
_KINDS = sorted(
    {"bogus", "TEXT_MESSAGE_CHUNK", "[DONE]", "data-x"}
    | AGUI_TYPES
    | VERCEL_TYPES
    | {"phase_change", "thinking", "delta", "tool_call_started", "tool_call_finished", "done"}
    | {"run_started", "step_finished", "tool_executed", "run_completed", "run_failed", "token"}
    | {"tool_call", "tool_result", "recovery", "billing_error", "title"}
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
    | st.sampled_from(["m", "c1", "step 1", "cancelled", "think", "ok", "stopped"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=8,
)  # fmt: skip


@st.composite
def plausible_transcripts(draw: st.DrawFn) -> bytes:
    """SSE whose frames look like every dialect's, with fields of any shape."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        body = draw(st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6))
        key = draw(st.sampled_from(["type", "event"]))
        body[key] = draw(st.sampled_from(_KINDS))
        head = draw(st.sampled_from(["", "id: 1\n", "event: run_started\n", "event: x\nid: 2\n"]))
        data = "[DONE]" if body[key] == "[DONE]" else json.dumps(body)
        out.append(f"{head}data: {data}\n\n".encode())
    return b"".join(out)


def _check_everything(data: bytes) -> None:
    """Check `data` in every dialect; only a `TranscriptError` (with a message) may come out."""
    for dialect in (None, *DIALECT_NAMES):
        message = "no error"
        try:
            check_transcript(data, dialect=dialect).render()
        except TranscriptError as exc:
            message = str(exc)
        assert message


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_decoders_raise_only_transcript_error_on_any_bytes(data: bytes) -> None:
    _check_everything(data)
    _check_everything(b"data: " + data + b"\n\n")


@given(plausible_transcripts())
def test_decoders_raise_only_transcript_error_on_plausible_frames(data: bytes) -> None:
    _check_everything(data)


@given(traces(), st.sampled_from(DIALECT_NAMES), st.data())
def test_checking_shuffled_transcripts_never_crashes(
    trace: tuple[list[AgentEvent], bool], dialect: str, data: st.DataObject
) -> None:
    """Well-formed frames in a broken order (dropped, repeated, swapped) reach the rules, the
    decoder and the filling-in: they report, they never raise anything but TranscriptError."""
    frames = [f + b"\n\n" for f in encode_dialect(trace[0], dialect).split(b"\n\n")[:-1]]
    for _ in range(data.draw(st.integers(1, 4))):
        if not frames:
            break
        i, j = (
            data.draw(st.integers(0, len(frames) - 1)),
            data.draw(st.integers(0, len(frames) - 1)),
        )
        move = data.draw(st.sampled_from(["drop", "repeat", "swap"]))
        if move == "drop":
            del frames[i]
        elif move == "repeat":
            frames.insert(j, frames[i])
        else:
            frames[i], frames[j] = frames[j], frames[i]
    _check_everything(b"".join(frames))


@pytest.mark.parametrize(
    ("data", "dialect", "message"),
    [
        (b"", None, "not an SSE transcript"),
        (b'{"type": "RUN_STARTED"}\n', None, "not an SSE transcript"),
        (b"data: {}\n\n", None, "cannot tell the dialect"),
        (b"data: nope\n\n", "agui", "agui, event 0: data is not JSON"),
        (b'data: {"type": "NOPE"}\n\n', "agui", "unknown AG-UI event type 'NOPE'"),
        (b'data: {"type": "RUN_STARTED", "runId": 3}\n\n', "agui", "field 'threadId'"),
        (b'data: {"type": "TEXT_MESSAGE_CHUNK"}\n\n', "agui", "not supported"),
        (b'data: {"type": "text-delta", "id": "t"}\n\n', "vercel", "field 'delta' must be"),
        (b'data: {"event": "done", "data": "maybe"}\n\n', "chat", "ok, stopped"),
        (b'event: run_started\ndata: {"type": "run_started"}\n\n', None, "missing field 'seq'"),
        (
            b'event: step_started\ndata: {"type": "step_started", "seq": 1, "t": 0, '
            b'"run_id": "r", "step": "2"}\n\n',
            None,
            "field 'step' must be int",
        ),
    ],
)  # fmt: skip
def test_unreadable_transcripts_say_where_and_what(
    data: bytes, dialect: str | None, message: str
) -> None:
    with pytest.raises(TranscriptError, match=None) as caught:
        check_transcript(data, dialect=dialect)
    assert message in str(caught.value)


# -- resumption ----------------------------------------------------------------------------------


def test_events_after_resumes_from_the_last_event_id() -> None:
    events = list(_run(SCENARIOS[0]).events)
    data = encode_native(events)
    assert events_after(data, "") == data
    assert events_after(data, "3") == encode_native(events[3:])
    assert events_after(data, str(len(events))) == b""
    resumed = decode_dialect(encode_native(events[:3]) + events_after(data, "3"), "native")
    assert resumed == events


def test_events_after_an_unknown_id_is_an_error() -> None:
    with pytest.raises(TranscriptError, match="Last-Event-ID '99'"):
        events_after(encode_native(_run(SCENARIOS[0]).events[:5]), "99")


def test_events_after_keeps_foreign_fields() -> None:
    data = b"retry: 500\nid: a\nevent: x\ndata: 1\n\nid: b\ndata: 2\ndata: 3\n\n"
    assert events_after(data, "a") == b"id: b\ndata: 2\ndata: 3\n\n"
    assert events_after(data, "") == b"id: a\nevent: x\nretry: 500\ndata: 1\n\n" + events_after(
        data, "a"
    )
