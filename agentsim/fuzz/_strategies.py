"""Hypothesis strategies for provider streams and whole scenarios (DESIGN §4, issue 4).

What they generate is scenario data: the dict a scenario file holds (`parse_scenario` turns it
into a `Scenario`). So any example, and any failure, can be written out as a reproducer file
that `agentsim run` replays exactly. Streams are written one chunk per item (``text``,
``reasoning``, ``tool_call_start`` / ``tool_call_args`` / ``tool_call_end``, ``usage``,
``finish``, ``error``, ``stall``, ``truncate``), so every chunk boundary is explicit.

Design choice - few draws, each rich. Hypothesis costs about 13-25 µs per primitive draw plus
about 250 µs per example (measured in bench/bench_fuzz.py), so a strategy drawing every letter
and cut point would spend milliseconds per example. Instead:

- hypothesis draws the *structure*: how many requests, each response's kind (answer, reasoning
  then answer, tool calls, everything interleaved), each response's fault (none, an error before
  or after the first chunk, retryable or not, truncation, a stall, a duplicated or swapped
  chunk), the options, the timing, the hooks and guardrails, the cancellation point;
- each response's *details* (which text, where it is cut, which tools with which arguments,
  usage, finish reason, delays) come from one 32-bit word drawn by hypothesis and expanded by
  a fixed, deterministic decoder (`build_stream`); word 0 is the simplest response of its kind.

A typical scenario costs about 22 primitive draws and 0.7 ms to generate, about as much as
validating, running and checking it (bench/bench_fuzz.py measures both). Every draw shrinks
towards "off" (no fault, default options, no hooks, no cancellation, fewer requests); what
hypothesis cannot shrink inside a detail word, the delta-debugging pass of `agentsim.fuzz._shrink`
removes from the reproducer.

Text comes from a palette that stresses splitting: multibyte characters, emoji ZWJ sequences,
flags, combining accents, quotes, backslashes, newlines. Argument JSON is written with and
without ASCII escapes (so ``\\u00e9`` and surrogate pairs appear) and cut anywhere, inside
escapes included; some arguments are not JSON at all, or not an object. Tool-call ids are
``call_<request>_<k>``, unique in a run, and a fault never duplicates a tool-call start (a
reused id is the provider's bug, not the loop's).
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

from agentsim.core._chunks import ERROR_KINDS, ErrorKind
from agentsim.scenario._schema import RequestScript, Scenario, parse_scenario
from agentsim.scenario._script import StreamItem, compile_request

__all__ = [
    "ARGUMENT_TEXTS",
    "TEXT_PIECES",
    "TOOL_NAMES",
    "Fault",
    "apply_fault",
    "build_stream",
    "cancellation_point",
    "cancellation_points",
    "chunk_streams",
    "faults",
    "scenario_models",
    "scenarios",
    "stream_items",
    "timings",
]

Item = dict[str, Any]
FaultKind = Literal[
    "none", "error_before", "error_after", "truncate", "stall", "duplicate", "reorder"
]

TEXT_PIECES: tuple[str, ...] = (
    "Hello",
    " world",
    "ok",
    "héllo",
    "日本語",
    "😀",
    "👩‍👩‍👧",
    "🇫🇷",
    "e\u0301",
    "\n",
    'say "hi"',
    "back\\slash",
    "tab\t",
    "Ünïcödé ",
)
_OBJECTS: tuple[dict[str, Any], ...] = (
    {},
    {"q": "Paris"},
    {"city": "São Paulo", "units": "°C"},
    {"text": 'say "hi"\n', "path": "C:\\tmp"},
    {"emoji": "😀👩‍👩‍👧", "n": 3, "ok": True, "none": None},
    {"nested": {"list": [1, 2.5, "x"]}},
)
ARGUMENT_TEXTS: tuple[str, ...] = (
    *(json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in _OBJECTS),
    *(json.dumps(o) for o in _OBJECTS[1:]),
    "",
    "{",
    '{"q": }',
    "[1, 2]",
)
# `lookup` answers, `fail` answers with an error, `boom` raises, `slow` takes time, `ghost` is
# not defined at all (an unknown tool).
TOOL_NAMES: tuple[str, ...] = ("lookup", "lookup", "lookup", "fail", "boom", "slow", "ghost")
_DELAYS = (0.1, 0.5, 1.0, 2.5, 4.0)
# Built once: building a strategy costs more than drawing from it.
_WORD32 = st.integers(0, 2**32 - 1)
_KIND = st.integers(0, 3)
_BYTE = st.integers(0, 255)
_REASONS = ("stop", "length", "content_filter", "other")


def _cut(text: str, rng: random.Random) -> list[str]:
    """`text` cut into 1-4 non-empty pieces at any code point (inside escapes too)."""
    pieces = min(rng.choice((1, 1, 2, 2, 3, 4)), len(text))
    if pieces <= 1:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), pieces - 1))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _words(rng: random.Random) -> str:
    return "".join(rng.choice(TEXT_PIECES) for _ in range(rng.choice((1, 1, 2, 3))))


def _deltas(key: str, rng: random.Random) -> list[Item]:
    items: list[Item] = [{key: piece} for piece in _cut(_words(rng), rng)]
    if key == "reasoning" and rng.random() < 0.2:
        items[-1]["signature"] = "sig-" + str(rng.randrange(100))
    return items


def _calls(request: int, rng: random.Random, tools: Sequence[str]) -> list[Item]:
    """1-3 calls: one after the other, interleaved, or all on index 0 (no explicit ends)."""
    count = rng.choice((1, 1, 2, 3))
    layout = rng.choice(("sequential", "sequential", "interleaved", "index0"))
    calls = []
    for k in range(count):
        index = 0 if layout == "index0" else k
        start = {"index": index, "id": f"call_{request}_{k}", "name": rng.choice(tools)}
        fragments = [f for f in _cut(rng.choice(ARGUMENT_TEXTS), rng) if f]
        ends = layout != "index0" and rng.random() < 0.6
        calls.append((start, fragments, ends))
    items: list[Item] = []
    if layout == "interleaved":
        items += [{"tool_call_start": start} for start, _, _ in calls]
        longest = max(len(fragments) for _, fragments, _ in calls)
        for i in range(longest):
            items += [
                {"tool_call_args": {"index": start["index"], "delta": fragments[i]}}
                for start, fragments, _ in calls
                if i < len(fragments)
            ]
        items += [{"tool_call_end": {"index": s["index"]}} for s, _, ends in calls if ends]
        return items
    for start, fragments, ends in calls:
        items.append({"tool_call_start": start})
        items += [{"tool_call_args": {"index": start["index"], "delta": f}} for f in fragments]
        if ends:
            items.append({"tool_call_end": {"index": start["index"]}})
    return items


def build_stream(
    request: int, kind: int, word: int, *, tools: Sequence[str] = TOOL_NAMES
) -> list[Item]:
    """One response as scenario chunk items, from its kind (0-3) and a detail word.

    Kinds: 0 an answer; 1 reasoning then an answer (interleaved at times); 2 tool calls (after
    some reasoning or text at times); 3 everything interleaved, text after the calls included.
    Word 0 is the simplest response of each kind: no cuts, no delays, no usage.
    """
    if word == 0:
        call: Item = {"tool_call_start": {"index": 0, "id": f"call_{request}_0", "name": tools[0]}}
        simplest: tuple[list[Item], ...] = (
            [{"text": "ok"}, {"finish": "stop"}],
            [{"reasoning": "hm"}, {"text": "ok"}, {"finish": "stop"}],
            [call, {"finish": "tool_calls"}],
            [{"reasoning": "hm"}, call, {"text": "ok"}, {"finish": "tool_calls"}],
        )
        return simplest[kind]
    rng = random.Random(word)
    items: list[Item] = []
    if kind == 0:
        items = _deltas("text", rng)
    elif kind == 1:
        items = _deltas("reasoning", rng) + _deltas("text", rng)
        if rng.random() < 0.3:
            items += _deltas("reasoning", rng) + _deltas("text", rng)
    else:
        if kind == 3 or rng.random() < 0.4:
            items += _deltas(rng.choice(("reasoning", "text")), rng)
        items += _calls(request, rng, tools)
        if kind == 3:
            items += _deltas("text", rng) + _deltas(rng.choice(("reasoning", "text")), rng)
    if rng.random() < 0.6:
        tokens = {"input_tokens": rng.randrange(1, 50), "output_tokens": rng.randrange(1, 50)}
        if rng.random() < 0.3:
            items.append({"usage": {"input_tokens": tokens["input_tokens"]}})  # a running total
        items.append({"usage": tokens})
    calls = kind >= 2
    reason = "tool_calls" if calls else "stop"
    if rng.random() < 0.15:
        reason = rng.choice(_REASONS)
    items.append({"finish": reason})
    timing = rng.random()
    if timing > 0.9:
        for item in items:
            if rng.random() < 0.5:
                item["delay"] = rng.choice(_DELAYS[:3])
    elif timing > 0.7:
        items[0]["delay"] = rng.choice(_DELAYS)
    return items


@st.composite
def chunk_streams(
    draw: st.DrawFn,
    request: int = 1,
    *,
    tools: Sequence[str] = TOOL_NAMES,
    kinds: Sequence[int] = (0, 1, 2, 3),
) -> list[Item]:
    """One provider response as scenario chunk items (see `build_stream`); two draws."""
    kind = draw(st.sampled_from(kinds)) if len(kinds) < 4 else draw(_KIND)
    word = draw(_WORD32)
    return build_stream(request, kind, word, tools=tools)


def stream_items(items: Sequence[Mapping[str, Any]], request: int = 1) -> list[StreamItem]:
    """Chunk items as the stream a provider plays: `Chunk`s, `Delay`s and a `Stall`."""
    return compile_request(RequestScript.model_validate({"chunks": list(items)}), request)


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong with one response; `at` picks the position (modulo the stream length)."""

    kind: FaultKind = "none"
    at: int = 0
    retryable: bool = True
    error: ErrorKind = "rate_limit"


_FAULT_KINDS: tuple[FaultKind, ...] = (
    *(("none",) * 9),
    "error_before",
    "error_after",
    "truncate",
    "stall",
    "duplicate",
    "reorder",
    "error_after",
)


_FAULT_KIND = st.integers(0, len(_FAULT_KINDS) - 1)


@st.composite
def _faults(draw: st.DrawFn) -> Fault:
    kind = _FAULT_KINDS[draw(_FAULT_KIND)]
    if kind == "none":
        return Fault()
    word = draw(_BYTE)
    return Fault(kind, word & 15, not word & 16, ERROR_KINDS[(word >> 5) % len(ERROR_KINDS)])


_FAULTS = _faults()


def faults() -> st.SearchStrategy[Fault]:
    """A fault for one response: none about half of the time; one or two draws."""
    return _FAULTS


def apply_fault(items: Sequence[Item], fault: Fault) -> list[Item]:
    """`items` with `fault` applied; the original is not changed."""
    out = list(items)
    n = len(out)
    error: Item = {"error": {"kind": fault.error, "retryable": fault.retryable}}
    if fault.kind == "error_before" or (n == 0 and fault.kind != "none"):
        return [error]
    at = fault.at % n
    if fault.kind == "error_after":
        return [*out[: at + 1], error]
    if fault.kind == "truncate":
        return [*out[:at], {"truncate": True}]
    if fault.kind == "stall":
        return [*out[:at], {"stall": True}]
    if fault.kind == "duplicate" and "tool_call_start" not in out[at]:
        return [*out[: at + 1], dict(out[at]), *out[at + 1 :]]
    if fault.kind == "reorder" and n >= 2:
        at = fault.at % (n - 1)
        return [*out[:at], out[at + 1], out[at], *out[at + 2 :]]
    return out


# -- timing, options, hooks, cancellation ---------------------------------------------------------


def _timing(word: int) -> dict[str, Any]:
    options: dict[str, Any] = {}
    deadline = (300.0, 300.0, 20.0, 4.0)[word & 3]
    idle = (None, None, None, 1.5)[(word >> 2) & 3]
    backoff = (1.0, 1.0, 0.25, 5.0)[(word >> 4) & 3]
    if deadline != 300.0:
        options["deadline"] = deadline
    if idle is not None:
        options["idle_timeout"] = idle
    if backoff != 1.0:
        options["backoff_initial"] = backoff
    return options


_TIMINGS = st.integers(0, 63).map(_timing)


def timings() -> st.SearchStrategy[dict[str, Any]]:
    """Timing options (deadline, idle timeout, backoff) that differ from the defaults; one draw."""
    return _TIMINGS


_LIMITS: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {},
    {"max_response_bytes": 40},
    {"max_total_tokens": 30},
    {"max_requests": 2},
    {"max_tool_calls": 1},
)


def _options(word: int, *, limits: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    max_steps = (10, 10, 10, 1, 2, 3, 0, 4)[word & 7]
    retries = (2, 0, 1, 3)[(word >> 3) & 3]
    if max_steps != 10:
        options["max_steps"] = max_steps
    if retries != 2:
        options["max_retries"] = retries
    if word & 32:
        options["concurrent_tools"] = True
    if limits:
        options.update(_LIMITS[(word >> 6) & 7])
    return options


_HOOKS: tuple[dict[str, Any], ...] = (
    {"on_tool_call": [{"tool": "lookup", "action": "skip", "reason": "needs approval"}]},
    {"on_tool_call": [{"tool": "lookup", "action": "terminate"}]},
    {"on_tool_call": [{"tool": "slow", "action": "terminate"}]},
    {"on_tool_result": [{"tool": "lookup", "action": "terminate"}]},
    {"before_step": [{"step": 2, "action": "terminate"}]},
    {"after_step": [{"step": 1, "action": "terminate"}]},
    {"on_text_delta": [{"contains": "o", "action": "terminate"}]},
    {"on_tool_call": [{"tool": "fail", "action": "skip"}]},
)
_GUARDRAILS: tuple[dict[str, Any], ...] = (
    {"request": [{"step": 2}]},
    {"response": [{"contains": "😀"}]},
)
_TOOLS: dict[str, Any] = {
    "lookup": {"result": {"hits": 3}},
    "fail": {"error": "no such record"},
    "boom": {"raises": "connection reset"},
}
_SLOW_DELAYS = (0.5, 3.0, 30.0, 0.5)
_OPTIONS = st.integers(0, 2**12 - 1)
_CANCEL_TIMES = (0.0, 0.05, 0.1, 0.15, 0.3, 1.0, 2.5, 6.0)


def _chunk_count(items: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for item in items if "stall" not in item and "truncate" not in item)


_POINT = st.integers(0, 2**12 - 1)


def cancellation_point(data: Mapping[str, Any], word: int) -> dict[str, Any]:
    """The cancellation point numbered `word` of `data` (see `cancellation_points`)."""
    mode, word = word % 8, word >> 3
    if mode == 5:
        requests = data["requests"]
        r = word % len(requests)
        chunks = max(1, _chunk_count(requests[r]["chunks"]))
        return {"cancel": {"request": r + 1, "before_chunk": 1 + (word >> 2) % chunks}}
    if mode == 6:
        return {"cancel": {"at_time": _CANCEL_TIMES[word % len(_CANCEL_TIMES)]}}
    if mode == 7:
        return {"drop": {"after_event": 1 + word % 20}}
    return {}


def cancellation_points(data: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Where `data`'s run is interrupted: ``{}`` (mostly), a cancel while the loop waits for a
    chunk or at a virtual time, or a consumer drop after some event; one draw."""
    return _POINT.map(lambda word: cancellation_point(data, word))


@functools.cache
def _requests(most: int) -> st.SearchStrategy[int]:
    return st.integers(1, most)


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    max_requests: int = 4,
    inject_faults: bool = True,
    cancellation: bool = True,
    hooks: bool = True,
    limits: bool = True,
    timing: bool = True,
    metamorphic: bool = False,
) -> dict[str, Any]:
    """Whole scenarios as the data of a scenario file; about 22 draws for a typical one.

    Several requests (the last one answers, so a run can complete), tools that answer, fail,
    raise, take time or do not exist, options, timing, hooks, guardrails, faults and a
    cancellation point, each switched off by its flag. `metamorphic=True` leaves out what
    would make M1/M3 undefined (cancellation, idle timeout, short deadlines, text hooks and
    response-size limits): see `agentsim.harness._metamorphic`.
    """
    if metamorphic:
        cancellation = timing = False
    count = draw(_requests(max_requests))
    word = draw(_OPTIONS)
    options = _options(word, limits=limits and not metamorphic)
    if timing:
        options.update(draw(_TIMINGS))
    tools = {**_TOOLS, "slow": {"result": "done", "delay": _SLOW_DELAYS[(word >> 9) & 3]}}
    if word & 2048:
        tools["lookup"] = {**tools["lookup"], "delay": 0.25}
    requests = []
    for r in range(1, count + 1):
        kind = draw(_KIND)
        if r == count:
            kind %= 2
        items = build_stream(r, kind, draw(_WORD32))
        if inject_faults:
            items = apply_fault(items, draw(_FAULTS))
        requests.append({"chunks": items})
    data: dict[str, Any] = {"input": "Plan my trip", "tools": tools}
    data["undefined_tools"] = ["ghost"]
    if options:
        data["options"] = options
    if hooks:
        extras = draw(_BYTE)
        hook = _HOOKS[extras & 31] if (extras & 31) < len(_HOOKS) else None
        if hook is not None and not (metamorphic and "on_text_delta" in hook):
            data["hooks"] = hook
        if (extras >> 5) < len(_GUARDRAILS):
            data["guardrails"] = _GUARDRAILS[extras >> 5]
    data["requests"] = requests
    if cancellation:
        data.update(cancellation_point(data, draw(_POINT)))
    return data


def scenario_models(**kwargs: Any) -> st.SearchStrategy[Scenario]:
    """`scenarios(**kwargs)` validated into `Scenario` models."""
    return scenarios(**kwargs).map(lambda data: parse_scenario(data, file="<generated>"))
