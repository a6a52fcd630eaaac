"""The strategies generate valid scenarios that reach every feature the issue asks for, faults
do what they say, and the metamorphic transformations keep a scenario's meaning."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from agentsim import (
    Delay,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    load_scenario,
    parse_scenario,
)
from agentsim.cassettes._files import dump_yaml
from agentsim.fuzz._properties import run_guarded
from agentsim.invariants import (
    check_determinism,
    check_fragmentation,
    check_stretch,
    explode,
    metamorphic_blockers,
    rechunk,
    stretch,
)
from agentsim.strategies import (
    ARGUMENT_TEXTS,
    Fault,
    apply_fault,
    build_stream,
    cancellation_point,
    chunk_streams,
    faults,
    scenario_models,
    scenarios,
    stream_items,
    timings,
)

Data = dict[str, Any]
FIND = settings(max_examples=3_000, database=None, phases=[Phase.generate])


def items(data: Data) -> list[dict[str, Any]]:
    return [item for request in data["requests"] for item in request["chunks"]]


@given(scenarios())
def test_generated_scenarios_are_valid_and_survive_a_yaml_round_trip(data: Data) -> None:
    parse_scenario(data)
    assert yaml.safe_load(dump_yaml(data, sort_keys=False)) == data


def test_scenario_models_are_scenarios() -> None:
    model = find(scenario_models(max_requests=2), lambda s: len(s.requests) == 2, settings=FIND)
    assert model.input


REACHABLE: dict[str, Callable[[Data], bool]] = {
    "several requests": lambda d: len(d["requests"]) >= 3,
    "arguments cut inside an escape": lambda d: any(
        i.get("tool_call_args", {}).get("delta", "").endswith("\\") for i in items(d)
    ),
    "text cut inside a grapheme": lambda d: any(
        i.get("text", "").endswith(("\u200d", "e", "\U0001f1eb")) for i in items(d)
    ),
    "parallel interleaved calls": lambda d: any(
        "tool_call_start" in a and "tool_call_start" in b and a != b
        for r in d["requests"]
        for a, b in zip(r["chunks"], r["chunks"][1:], strict=False)
    ),
    "calls sharing index 0": lambda d: any(
        sum(1 for i in r["chunks"] if i.get("tool_call_start", {}).get("index") == 0) >= 2
        for r in d["requests"]
    ),
    "reasoning signature": lambda d: any("signature" in i for i in items(d)),
    "running usage": lambda d: any(
        sum("usage" in i for i in r["chunks"]) >= 2 for r in d["requests"]
    ),
    "odd finish reason": lambda d: any(i.get("finish") == "content_filter" for i in items(d)),
    "retryable error first": lambda d: (
        d["requests"][0]["chunks"][0].get("error", {}).get("retryable") is True
    ),
    "non-retryable error mid-stream": lambda d: any(
        len(r["chunks"]) > 1 and r["chunks"][-1].get("error", {}).get("retryable") is False
        for r in d["requests"]
    ),
    "truncation": lambda d: any("truncate" in i for i in items(d)),
    "stall": lambda d: any("stall" in i for i in items(d)),
    "delays": lambda d: any(i.get("delay") for i in items(d)),
    "idle timeout": lambda d: "idle_timeout" in d.get("options", {}),
    "concurrent tools": lambda d: d.get("options", {}).get("concurrent_tools") is True,
    "a limit": lambda d: "max_tool_calls" in d.get("options", {}),
    "a hook": lambda d: "on_tool_result" in d.get("hooks", {}),
    "a guardrail": lambda d: "response" in d.get("guardrails", {}),
    "cancel before a chunk": lambda d: "before_chunk" in d.get("cancel", {}),
    "cancel at a time": lambda d: "at_time" in d.get("cancel", {}),
    "consumer drop": lambda d: "drop" in d,
}


@pytest.mark.parametrize("feature", REACHABLE)
def test_every_feature_is_reachable(feature: str) -> None:
    find(scenarios(), REACHABLE[feature], settings=FIND)


def test_chunk_streams_of_one_kind() -> None:
    stream = find(chunk_streams(kinds=[2]), lambda s: len(s) > 4, settings=FIND)
    assert any("tool_call_start" in item for item in stream)
    assert any("finish" in item for item in stream[-2:])  # usage may follow the finish


def test_word_zero_is_the_simplest_response_of_each_kind() -> None:
    assert build_stream(1, 0, 0) == [{"text": "ok"}, {"finish": "stop"}]
    assert len(build_stream(1, 3, 0)) == 4
    assert next(type(c) for c in stream_items(build_stream(1, 0, 0))) is TextChunk


def test_arguments_include_escapes_multibyte_and_invalid_json() -> None:
    assert any("\\u00e3" in text for text in ARGUMENT_TEXTS)
    assert any("😀" in text for text in ARGUMENT_TEXTS)
    assert any(text and not text.startswith("{") for text in ARGUMENT_TEXTS)


STREAM: list[dict[str, Any]] = [{"text": "a"}, {"text": "b"}, {"finish": "stop"}]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(), STREAM),
        (Fault("error_before"), [{"error": {"kind": "rate_limit", "retryable": True}}]),
        (
            Fault("error_after", 0, False, "server"),
            [{"text": "a"}, {"error": {"kind": "server", "retryable": False}}],
        ),
        (Fault("truncate", 2), [{"text": "a"}, {"text": "b"}, {"truncate": True}]),
        (Fault("stall", 1), [{"text": "a"}, {"stall": True}]),
        (Fault("duplicate", 1), [{"text": "a"}, {"text": "b"}, {"text": "b"}, {"finish": "stop"}]),
        (Fault("reorder", 1), [{"text": "a"}, {"finish": "stop"}, {"text": "b"}]),
    ],
)
def test_faults(fault: Fault, expected: list[dict[str, Any]]) -> None:
    assert apply_fault(STREAM, fault) == expected


def test_a_tool_call_start_is_never_duplicated() -> None:
    stream = [{"tool_call_start": {"index": 0, "id": "c", "name": "x"}}]
    assert apply_fault(stream, Fault("duplicate")) == stream


@given(faults(), timings())
def test_faults_and_timings_draw_values(fault: Fault, timing: dict[str, Any]) -> None:
    assert fault.kind != "none" or fault == Fault()
    assert set(timing) <= {"deadline", "idle_timeout", "backoff_initial"}


def test_cancellation_points() -> None:
    data = {"requests": [{"chunks": [{"text": "a"}, {"finish": "stop"}]}]}
    modes = {json.dumps(cancellation_point(data, word)) for word in range(64)}
    assert '{"cancel": {"request": 1, "before_chunk": 2}}' in modes
    assert '{"drop": {"after_event": 1}}' in modes
    assert "{}" in modes


# -- metamorphic transformations ------------------------------------------------------------------

SCENARIO: Data = {
    "input": "hi",
    "tools": {"lookup": {"result": "ok", "delay": 1}},
    "requests": [
        {
            "chunks": [
                {"reasoning": "thinking hard", "split": 3, "signature": "s"},
                {"tool_call": {"name": "lookup", "arguments": {"q": "é\\"}, "split": 2}},
                {"finish": "tool_calls", "delay": 0.5},
            ]
        },
        {"chunks": [{"text": "Sunny 😀 today", "split": 4, "delay": 2}, {"finish": "stop"}]},
    ],
}


def test_explode_keeps_the_stream_exactly() -> None:
    exploded = explode(SCENARIO)
    for number, (a, b) in enumerate(
        zip(SCENARIO["requests"], exploded["requests"], strict=False), 1
    ):
        assert stream_items(a["chunks"], number) == stream_items(b["chunks"], number)
    assert all(len(item) <= 2 for item in items(exploded))


def _deltas(data: Data) -> list[tuple[type, str]]:
    out: list[tuple[type, str]] = []
    for number, request in enumerate(data["requests"], 1):
        for chunk in stream_items(request["chunks"], number):
            if isinstance(chunk, TextChunk | ReasoningChunk | ToolCallArgsChunk):
                text = chunk.delta if isinstance(chunk, ToolCallArgsChunk) else chunk.text
                if out and out[-1][0] is type(chunk):
                    out[-1] = (type(chunk), out[-1][1] + text)
                else:
                    out.append((type(chunk), text))
    return out


@given(st.integers(0, 2**16))
def test_rechunk_cuts_differently_and_keeps_text_and_timing(seed: int) -> None:
    again = rechunk(SCENARIO, seed)
    parse_scenario(again)
    assert _deltas(again) == _deltas(SCENARIO)

    def delays(data: Data) -> list[float]:
        return [
            piece.seconds
            for number, request in enumerate(data["requests"], 1)
            for piece in stream_items(request["chunks"], number)
            if isinstance(piece, Delay)
        ]

    assert delays(again) == delays(SCENARIO)


def test_stretch_multiplies_the_delays() -> None:
    stretched = stretch(SCENARIO, 3.0)
    assert stretched["requests"][1]["chunks"][0]["delay"] == 6.0
    assert SCENARIO["requests"][1]["chunks"][0]["delay"] == 2
    assert stretched["tools"] == SCENARIO["tools"]


def test_metamorphic_blockers() -> None:
    assert metamorphic_blockers(SCENARIO) == []
    assert metamorphic_blockers({**SCENARIO, "cancel": {"at_time": 1}})
    assert metamorphic_blockers({**SCENARIO, "options": {"idle_timeout": 5}})
    assert metamorphic_blockers({**SCENARIO, "options": {"deadline": 4}})
    assert metamorphic_blockers(SCENARIO, factor=200)


def test_the_relations_hold_and_their_checks_see_differences() -> None:
    a = run_guarded(SCENARIO)
    assert check_fragmentation(a, run_guarded(rechunk(SCENARIO, 7))) == []
    assert check_determinism(a, run_guarded(SCENARIO)) == []
    stretched = run_guarded(stretch(SCENARIO, 2.0))
    assert stretched.outcome is not None
    assert a.outcome is not None
    assert stretched.outcome.t > a.outcome.t
    assert check_stretch(a, stretched) == []
    assert check_determinism(a, stretched)[0].invariant == "M2"
    events = list(a.events)
    events[3] = dataclasses.replace(events[3], run_id="other")
    changed = dataclasses.replace(a, events=tuple(events))
    [violation] = check_fragmentation(a, changed)
    assert (violation.invariant, violation.index) == ("M1", 3)
    shorter = dataclasses.replace(a, history=a.history[:-1])
    assert "history message" in check_stretch(a, shorter)[0].expected


def test_a_relation_pair_is_saved_as_a_valid_file(tmp_path: Any) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(dump_yaml(rechunk(SCENARIO, 3), sort_keys=False))
    assert load_scenario(path).requests
