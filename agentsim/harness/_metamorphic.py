"""Metamorphic invariants M1-M3 (DESIGN §4): change a scenario in a way that must not change
what the run means, run both, compare.

- **M1 fragmentation**: `rechunk` cuts the same response at other chunk boundaries (merging and
  splitting runs of text, reasoning and argument deltas); `check_fragmentation` then demands the
  same events once consecutive deltas of one kind are merged, and the same history.
- **M2 determinism**: the same scenario and seed, run twice; `check_determinism` demands
  byte-identical native SSE and the same history.
- **M3 time stretching**: `stretch` multiplies every scripted inter-chunk delay; `check_stretch`
  demands the same events but for `t`, and the same history.

The transformations work on scenario data (the dict a scenario file holds) and return new data,
so a violation can be saved as a pair of files. They apply only where the relation is defined:
`metamorphic_blockers` names what stops them (a cancellation or drop at a chunk or an event
number shifts when the chunks do; an idle timeout or a deadline reachable by the scripted
delays makes timing matter; an ``on_text_delta`` hook or ``max_response_bytes`` sees the cut
points). A violation is a `Violation` with id ``M1``/``M2``/``M3`` and the index of the first
event that differs, in the second run.
"""

from __future__ import annotations

import copy
import math
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentsim.check._invariants import Violation
from agentsim.core._events import AgentEvent, event_to_dict
from agentsim.core._history import message_to_dict
from agentsim.harness._result import RunResult
from agentsim.loop._protocol import LoopOptions
from agentsim.scenario._schema import RequestScript
from agentsim.scenario._script import (
    Delay,
    Malformed,
    Reset,
    RetryAfter,
    Stall,
    StreamItem,
    chunk_item,
    compile_request,
)
from agentsim.sse._encode_native import encode_native_event

__all__ = [
    "METAMORPHIC",
    "check_determinism",
    "check_fragmentation",
    "check_stretch",
    "explode",
    "metamorphic_blockers",
    "rechunk",
    "stretch",
]

Item = dict[str, Any]


# -- transformations ------------------------------------------------------------------------------


def _items(stream: Sequence[StreamItem]) -> list[Item]:
    items: list[Item] = []
    delay = 0.0
    retry_after: float | None = None
    for piece in stream:
        if isinstance(piece, Delay):
            delay += piece.seconds
            continue
        if isinstance(piece, RetryAfter):
            retry_after = piece.seconds  # a header of the error that follows
            continue
        if isinstance(piece, Stall | Reset):
            item: Item = {"stall" if isinstance(piece, Stall) else "reset": True}
        elif isinstance(piece, Malformed):
            item = {"malformed": piece.data}
        else:
            item = chunk_item(piece)
            if retry_after is not None and "error" in item:
                item["error"]["retry_after"] = retry_after
            retry_after = None
        items.append({**item, "delay": delay} if delay else item)
        delay = 0.0
    if delay:
        items.append({"truncate": True, "delay": delay})  # a delay, then the stream just ends
    return items


def explode(data: Mapping[str, Any]) -> dict[str, Any]:
    """The same scenario with one chunk per item (``split``, ``tool_call`` written out)."""
    out = copy.deepcopy(dict(data))
    for number, request in enumerate(out["requests"], start=1):
        stream = compile_request(RequestScript.model_validate(request), number)
        request["chunks"] = _items(stream)
    return out


def _delta_key(item: Mapping[str, Any]) -> tuple[str, int] | None:
    """Which run of same-kind deltas an item belongs to, or None if it is not a delta."""
    if item.get("text"):
        return ("text", 0)
    if item.get("reasoning"):
        return ("reasoning", 0)
    args = item.get("tool_call_args")
    if args and args["delta"]:
        return ("args", args["index"])
    return None


def _delta_text(item: Mapping[str, Any]) -> str:
    args = item.get("tool_call_args")
    return str(args["delta"] if args else item.get("text") or item.get("reasoning"))


def _pieces(text: str, rng: random.Random) -> list[str]:
    count = min(rng.randint(1, 5), len(text))
    cuts = sorted(rng.sample(range(1, len(text)), count - 1))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _recut(run: Sequence[Item], key: tuple[str, int], rng: random.Random) -> list[Item]:
    pieces = _pieces("".join(_delta_text(item) for item in run), rng)
    signatures = [item["signature"] for item in run if item.get("signature") is not None]
    out: list[Item] = []
    for piece in pieces:
        if key[0] == "args":
            out.append({"tool_call_args": {"index": key[1], "delta": piece}})
        else:
            out.append({key[0]: piece})
    if signatures:
        out[-1]["signature"] = signatures[-1]  # the last signature of a reasoning run counts
    if run[0].get("delay"):
        out[0]["delay"] = run[0]["delay"]
    return out


def rechunk(data: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """M1: the same responses cut at other boundaries (chosen by `seed`), same timing.

    Each run of consecutive deltas of one kind (text, reasoning, one call's arguments) with no
    delay inside is joined and cut again into 1-5 pieces at any code point.
    """
    rng = random.Random(seed)
    out = explode(data)
    for request in out["requests"]:
        items: list[Item] = request["chunks"]
        chunks: list[Item] = []
        i = 0
        while i < len(items):
            key = _delta_key(items[i])
            j = i + 1
            while key is not None and j < len(items):
                if _delta_key(items[j]) != key or items[j].get("delay"):
                    break
                j += 1
            chunks += [items[i]] if key is None else _recut(items[i:j], key, rng)
            i = j
        request["chunks"] = chunks
    return out


def stretch(data: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """M3: every scripted inter-chunk delay multiplied by `factor` (tools and backoff unchanged)."""
    out = copy.deepcopy(dict(data))
    for request in out["requests"]:
        for item in request["chunks"]:
            if item.get("delay"):
                item["delay"] = item["delay"] * factor
    return out


def _busy_time(data: Mapping[str, Any], factor: float, options: LoopOptions) -> float:
    """An upper bound of the virtual time the scripted delays, tools and backoffs can take."""
    tools = data.get("tools") or {}
    total = 0.0
    for request in data["requests"]:
        for item in request["chunks"]:
            total += float(item.get("delay") or 0.0) * factor
            call = item.get("tool_call_start") or item.get("tool_call")
            if call is not None:
                total += float((tools.get(call["name"]) or {}).get("delay") or 0.0)
        total += options.backoff_max
    return total


def metamorphic_blockers(data: Mapping[str, Any], *, factor: float = 1.0) -> list[str]:
    """Why M1/M3 (with delays stretched by `factor`) are not defined for `data`; [] if they are."""
    options = LoopOptions(**(data.get("options") or {}))
    out = []
    if data.get("cancel") or data.get("drop"):
        out.append("a cancellation or consumer drop")
    if options.idle_timeout is not None:
        out.append("an idle timeout")
    if options.max_response_bytes is not None:
        out.append("max_response_bytes")
    if (data.get("hooks") or {}).get("on_text_delta"):
        out.append("an on_text_delta hook")
    if _busy_time(data, factor, options) >= options.deadline:
        out.append("scripted delays that can reach the deadline")
    return out


# -- comparisons ----------------------------------------------------------------------------------

_MERGED = {"text_delta": "text", "thinking_delta": "text", "tool_call_delta": "delta"}


def _merged_events(events: Sequence[AgentEvent]) -> list[tuple[int, dict[str, Any]]]:
    """(index of the first event, payload without seq) with consecutive same-kind deltas merged."""
    out: list[tuple[int, dict[str, Any]]] = []
    for i, event in enumerate(events):
        payload = event_to_dict(event)
        del payload["seq"]
        field = _MERGED.get(event.type)
        if field is not None and out:
            last = out[-1][1]
            if last["type"] == event.type and last.get("call_id") == payload.get("call_id"):
                last[field] += payload[field]
                continue
        out.append((i, payload))
    return out


def _history_violation(name: str, a: RunResult, b: RunResult) -> list[Violation]:
    for k in range(max(len(a.history), len(b.history))):
        want = message_to_dict(a.history[k]) if k < len(a.history) else "no message"
        got = message_to_dict(b.history[k]) if k < len(b.history) else "no message"
        if want != got:
            return [Violation(name, None, f"history message {k} = {want}", str(got))]
    return []


def _compare(
    name: str,
    a: Sequence[tuple[int, Any]],
    b: Sequence[tuple[int, Any]],
    equal: Callable[[Any, Any], bool] = operator.eq,
) -> list[Violation]:
    for (_, want), (index, got) in zip(a, b, strict=False):
        if not equal(want, got):
            return [Violation(name, index, str(want), str(got))]
    if len(a) != len(b):
        extra = b[len(a)][0] if len(b) > len(a) else None
        return [Violation(name, extra, f"{len(a)} events", f"{len(b)}")]
    return []


def check_fragmentation(a: RunResult, b: RunResult) -> list[Violation]:
    """M1: `b` (re-chunked) has `a`'s events once deltas are merged, and `a`'s history."""
    return _compare("M1", _merged_events(a.events), _merged_events(b.events)) or (
        _history_violation("M1", a, b)
    )


def check_determinism(a: RunResult, b: RunResult) -> list[Violation]:
    """M2: `b` (the same scenario and seed again) has byte-identical native SSE and history."""
    sse_a = [(i, encode_native_event(e)) for i, e in enumerate(a.events)]
    sse_b = [(i, encode_native_event(e)) for i, e in enumerate(b.events)]
    return _compare("M2", sse_a, sse_b) or _history_violation("M2", a, b)


def _untimed(events: Sequence[AgentEvent]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for i, event in enumerate(events):
        payload = event_to_dict(event)
        del payload["t"]
        out.append((i, payload))
    return out


# Virtual durations measured at other clock readings differ in the last bits (a tool that takes
# 0.5 s from t = 1.3 measures 0.49999999999999994): equal within a microsecond of virtual time
# (or a billionth of the value), far below any delay a loop's bug could add or drop.
_TIME_TOLERANCE = {"rel_tol": 1e-9, "abs_tol": 1e-6}


def _same_but_for_rounding(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(want, got, **_TIME_TOLERANCE)
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(
            _same_but_for_rounding(want[k], got[k]) for k in want
        )
    return bool(want == got)


def check_stretch(a: RunResult, b: RunResult) -> list[Violation]:
    """M3: `b` (delays stretched) has `a`'s events but for `t` (and virtual durations equal
    within float rounding), and `a`'s history."""
    return _compare("M3", _untimed(a.events), _untimed(b.events), _same_but_for_rounding) or (
        _history_violation("M3", a, b)
    )


METAMORPHIC: dict[str, Callable[[RunResult, RunResult], list[Violation]]] = {
    "M1": check_fragmentation,
    "M2": check_determinism,
    "M3": check_stretch,
}
