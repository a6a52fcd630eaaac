"""Hypothesis strategies for provider streams and whole scenarios (DESIGN §4, §9; issues 4, 12, 16).

What they generate is scenario data: the dict a scenario file holds (`parse_scenario` turns it
into a `Scenario`). So any example, and any failure, can be written out as a reproducer file
that `agentsim run` replays exactly. Streams are written one chunk per item (``text``,
``reasoning``, ``tool_call_start`` / ``tool_call_args`` / ``tool_call_end``, ``usage``,
``finish``, ``error``, ``stall``, ``truncate``), so every chunk boundary is explicit; the
shapes a response can take are listed in `agentsim.fuzz._streams`.

Design choice - very few draws, each rich. Hypothesis costs about 280 µs per example plus
15-25 µs per draw (bench/bench_fuzz.py), so every draw counts. A scenario is two draws: how
many requests (so shrinking drops requests), then one fixed-size byte string read as
little-endian 32-bit words - the *head* word for everything around the requests (options,
timing, limits, tool delays, hooks, guardrails, the cancellation point), then one word per
possible response (its kind, details and fault, expanded by `agentsim.fuzz._faults.response`;
the words past the count are unused). A word seeds a `random.Random`, so every field has the
frequency it is given here however hypothesis distributes bytes, and the same word always
means the same thing: same seed, same cases. Word 0 switches everything off - the head word
0 is no options, hooks or cancellation, a response word 0 the simplest answer - so hypothesis
shrinks towards "off" by zeroing bytes, and the delta debugging of `agentsim.fuzz._shrink`
removes what is left (an item nobody needs, an option, a hook).

Cost (issue #12 part 8, callgrind): a 32-bit integer draw is hypothesis' dearest kind (a
bounded range wider than 128 values gets edge weights sampled through an alias table, and each
draw opens a span); one byte string for all the words costs 0.42M instructions an example
less than a draw per word did (4.68M to 4.26M, bench_fuzz's default property). Expanding the
words (`_build_scenario`, `response`) is about 0.37M, kept exact: `WordRandom` and
`sample_cuts` draw what `random.Random` draws.

Features (`agentsim.loop._features`): ``features=`` (default: all, as for a loop that declares
none) restricts generation to what a loop claims; see `agentsim.fuzz._streams` for the stream
side. Around the streams: no ``max_steps`` option below the default without ``max_steps`` (a
script never has more requests than the default ten steps, so a loop without it can run every
one), no retry options without ``retries``, no ``concurrent_tools`` without it, no short
deadline or idle timeout without ``deadline`` / ``idle_timeout`` (and, without ``deadline``,
no delays adding up to anything near the default one), no cancellation or consumer drop
without ``cancellation`` / ``consumer_drop``, no hooks, guardrails or limits without them.
``tool_names=`` names the tools the loop offers, so generated calls exercise them; each is
defined in the scenario (the first answers, the next fail, raise or take time).
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from agentsim.core._errors import InputError
from agentsim.fuzz._faults import Fault, apply_fault, fault_from_word, response
from agentsim.fuzz._streams import (
    ARGUMENT_TEXTS,
    READ_STALL,
    TEXT_PIECES,
    TOOL_NAMES,
    Plan,
    Timing,
    WordRandom,
    build_stream,
    chunk_count,
    kinds_for,
    plan_for,
)
from agentsim.loop._features import ALL_FEATURES, Feature, parse_features
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
    "resolve_features",
    "scenario_models",
    "scenarios",
    "stream_items",
    "timings",
]

Item = dict[str, Any]
# Built once: building a strategy costs more than drawing from it.
_WORD32 = st.integers(0, 2**32 - 1)
_WORD16 = st.integers(0, 2**16 - 1)


def resolve_features(
    features: Iterable[str] | str | None, *, path: str = "features"
) -> frozenset[Feature]:
    """`features` validated (`InputError` names an unknown one); None means every feature."""
    return ALL_FEATURES if features is None else parse_features(features, path=path)


def _tool_names(names: Sequence[str] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise InputError(f"expected a list of tool names, got {names!r}", path="tool_names")
    return tuple(dict.fromkeys(names))


@functools.cache
def _plan(features: frozenset[Feature], tool_names: tuple[str, ...] | None) -> Plan:
    return plan_for(features, tool_names)


def _make_plan(features: Iterable[str] | str | None, tool_names: Sequence[str] | None) -> Plan:
    return _plan(resolve_features(features), _tool_names(tool_names))


def stream_items(items: Sequence[Mapping[str, Any]], request: int = 1) -> list[StreamItem]:
    """Chunk items as the stream a provider plays: `Chunk`s, `Delay`s and a `Stall`."""
    return compile_request(RequestScript.model_validate({"chunks": list(items)}), request)


@st.composite
def _chunk_streams(
    draw: st.DrawFn, request: int, tools: Sequence[str], plan: Plan | None, allowed: Sequence[int]
) -> list[Item]:
    kind = allowed[draw(st.integers(0, len(allowed) - 1))] if len(allowed) > 1 else allowed[0]
    return build_stream(request, kind, draw(_WORD32), tools=tools, plan=plan)


def chunk_streams(
    request: int = 1,
    *,
    tools: Sequence[str] = TOOL_NAMES,
    kinds: Sequence[int] | None = None,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
) -> st.SearchStrategy[list[Item]]:
    """One provider response as scenario chunk items (see `build_stream`); two draws.

    `kinds` (default: every kind the features allow) picks the response kinds; `features`
    and `tool_names` restrict them as for `scenarios` (`tools` is the older way to name
    tools, unknown ones included, for every feature)."""
    if features is None and tool_names is None:
        plan = None
        allowed: Sequence[int] = tuple(kinds) if kinds is not None else (0, 1, 2, 3, 4, 5)
    else:
        plan = _make_plan(features, tool_names)
        possible = set(kinds_for(plan, last=False))
        wanted = kinds if kinds is not None else sorted(possible)
        allowed = tuple(k for k in wanted if k in possible)
        if not allowed:
            raise InputError(f"no kind of {kinds} is possible with these features", path="kinds")
    return _chunk_streams(request, tuple(tools), plan, allowed)


def faults(*, features: Iterable[str] | str | None = None) -> st.SearchStrategy[Fault]:
    """A fault for one response (none about half of the time), of the kinds `features`
    allow: errors and truncation need ``provider_errors``, a stall ``deadline``; one draw."""
    plan = _make_plan(features, None)
    return _WORD16.map(lambda word: fault_from_word(plan, Timing(), word))


# -- options, timing, tools, hooks, cancellation --------------------------------------------------

_LIMITS: tuple[dict[str, int], ...] = (
    {"max_response_bytes": 40},
    {"max_total_tokens": 30},
    {"max_requests": 2},
    {"max_tool_calls": 1},
)
_SLOW_DELAYS = (0.5, 3.0, 30.0, 0.5)
_CANCEL_TIMES = (0.0, 0.05, 0.1, 0.15, 0.3, 1.0, 2.5, 6.0)


def _pick(rng: random.Random, values: Sequence[Any]) -> Any:
    return values[int(rng.random() * len(values))]


def _timing_options(plan: Plan, rng: random.Random) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "deadline" in plan.features and rng.random() < 0.5:
        options["deadline"] = _pick(rng, (20.0, 4.0))
    if "idle_timeout" in plan.features and rng.random() < 0.3:
        options["idle_timeout"] = _pick(rng, (1.5, 1.5, 5.0))
    if "retries" in plan.features and rng.random() < 0.5:
        options["backoff_initial"] = _pick(rng, (0.25, 5.0))
    return options


def timings(*, features: Iterable[str] | str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Timing options (deadline, idle timeout, backoff) that differ from the defaults, as far
    as `features` declare them; one draw."""
    plan = _make_plan(features, None)
    return _WORD32.map(lambda word: _timing_options(plan, WordRandom(word)) if word else {})


def _options(plan: Plan, rng: random.Random, *, limits: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "max_steps" in plan.features and rng.random() < 0.4:
        options["max_steps"] = _pick(rng, (1, 2, 3, 0, 4))
    if "retries" in plan.features and rng.random() < 0.5:
        options["max_retries"] = _pick(rng, (0, 1, 3))
    if "concurrent_tools" in plan.features and plan.calls and rng.random() < 0.3:
        options["concurrent_tools"] = True
    if limits and "limits" in plan.features and rng.random() < 0.4:
        options.update(_pick(rng, _LIMITS))
    return options


def _tools(plan: Plan, rng: random.Random) -> dict[str, Any]:
    """The scenario's tools: the offered names answer, fail, raise and take time in turn."""
    slow = _pick(rng, _SLOW_DELAYS if "deadline" in plan.features else _SLOW_DELAYS[:2])
    roles: tuple[dict[str, Any], ...] = (
        {"result": {"hits": 3}},
        {"error": "no such record"},
        {"raises": "connection reset"},
        {"result": "done", "delay": slow},
    )
    names = _names(plan)
    if len(names) <= len(roles):  # each role once: the fresh dicts themselves, no copies
        tools = dict(zip(names, roles, strict=False))
    else:
        tools = {name: dict(roles[i % 4]) for i, name in enumerate(names)}
    if rng.random() < 0.5:
        tools[names[0]]["delay"] = 0.25
    return tools


@functools.cache
def _names(plan: Plan) -> tuple[str, ...]:
    """The names of the tools `plan` offers, each once, in order."""
    return tuple(dict.fromkeys(plan.known))


def _hook(plan: Plan, rng: random.Random, *, metamorphic: bool) -> dict[str, Any] | None:
    names = _names(plan)
    answer, fail, slow = names[0], names[min(1, len(names) - 1)], names[min(3, len(names) - 1)]
    hooks: list[dict[str, Any]] = [
        {"before_step": [{"step": 2, "action": "terminate"}]},
        {"after_step": [{"step": 1, "action": "terminate"}]},
    ]
    if not metamorphic:
        hooks.append({"on_text_delta": [{"contains": "o", "action": "terminate"}]})
    if plan.calls:
        hooks += [
            {"on_tool_call": [{"tool": answer, "action": "skip", "reason": "needs approval"}]},
            {"on_tool_call": [{"tool": answer, "action": "terminate"}]},
            {"on_tool_call": [{"tool": slow, "action": "terminate"}]},
            {"on_tool_result": [{"tool": answer, "action": "terminate"}]},
            {"on_tool_call": [{"tool": fail, "action": "skip"}]},
        ]
    hook: dict[str, Any] = _pick(rng, hooks)
    return hook


_GUARDRAILS: tuple[dict[str, Any], ...] = (
    {"request": [{"step": 2}]},
    {"response": [{"contains": "😀"}]},
)


def cancellation_point(
    data: Mapping[str, Any], word: int, *, features: Iterable[str] | str | None = None
) -> dict[str, Any]:
    """The cancellation point numbered `word` of `data` (see `cancellation_points`)."""
    return _point(_make_plan(features, None), data, word)


def _point(plan: Plan, data: Mapping[str, Any], word: int) -> dict[str, Any]:
    mode, word = word % 8, word >> 3
    if mode == 5 and "cancellation" in plan.features:
        requests = data["requests"]
        r = word % len(requests)
        chunks = max(1, chunk_count(requests[r]["chunks"]))
        return {"cancel": {"request": r + 1, "before_chunk": 1 + (word >> 2) % chunks}}
    if mode == 6 and "cancellation" in plan.features:
        return {"cancel": {"at_time": _CANCEL_TIMES[word % len(_CANCEL_TIMES)]}}
    if mode == 7 and "consumer_drop" in plan.features:
        return {"drop": {"after_event": 1 + word % 20}}
    return {}


def cancellation_points(
    data: Mapping[str, Any], *, features: Iterable[str] | str | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Where `data`'s run is interrupted: ``{}`` (mostly), a cancel while the loop waits for a
    chunk or at a virtual time (``cancellation``), or a consumer drop after some event
    (``consumer_drop``); one draw."""
    plan = _make_plan(features, None)
    return _WORD16.map(lambda word: _point(plan, data, word))


@functools.cache
def _requests(most: int) -> st.SearchStrategy[int]:
    return st.integers(1, most)


def _total_delay(requests: Sequence[Mapping[str, Any]]) -> float:
    """The scripted delays, read stalls left out (a client's read timeout ends those)."""
    return float(
        sum(
            delay
            for r in requests
            for item in r["chunks"]
            if (delay := item.get("delay", 0.0)) != READ_STALL
        )
    )


def _undelayed(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        request["chunks"] = [
            {k: v for k, v in item.items() if k != "delay" or v == READ_STALL}
            for item in request["chunks"]
        ]


_TIMINGS: dict[tuple[float | None, float | None, bool], Timing] = {}  # (a frozen dataclass)


def _build_scenario(
    plan: Plan,
    count: int,
    head: int,
    words: Sequence[int],
    *,
    inject_faults: bool,
    cancellation: bool,
    hooks: bool,
    limits: bool,
    timing: bool,
    metamorphic: bool,
) -> dict[str, Any]:
    rng = WordRandom(head)
    options: dict[str, Any] = {}
    if head:
        options = _options(plan, rng, limits=limits and not metamorphic)
        if timing:
            options.update(_timing_options(plan, rng))
    key = (options.get("idle_timeout"), options.get("deadline"), not metamorphic)
    clock = _TIMINGS.get(key)
    if clock is None:
        clock = _TIMINGS[key] = Timing(*key)
    requests = [
        {
            "chunks": response(
                plan, r, words[r - 1], last=r == count, faults=inject_faults, timing=clock
            )
        }
        for r in range(1, count + 1)
    ]
    if "deadline" not in plan.features and _total_delay(requests) > 150.0:
        _undelayed(requests)  # a loop without a deadline must never come near the default one
    data: dict[str, Any] = {"input": "Plan my trip", "tools": _tools(plan, rng)}
    if plan.unknown is not None:
        data["undefined_tools"] = [plan.unknown]
    if options:
        data["options"] = options
    if head and hooks:
        if "hooks" in plan.features and rng.random() < 0.25:
            data["hooks"] = _hook(plan, rng, metamorphic=metamorphic)
        if "guardrails" in plan.features and rng.random() < 0.25:
            data["guardrails"] = _pick(rng, _GUARDRAILS)
    data["requests"] = requests
    if head and cancellation:
        data.update(_point(plan, data, int(rng.random() * 65536)))
    return data


@functools.cache
def _words(most: int) -> tuple[st.SearchStrategy[bytes], struct.Struct]:
    """The head word and one word per possible request, as one fixed-size byte string read as
    little-endian 32-bit words (see the module docstring)."""
    return st.binary(min_size=4 * (most + 1), max_size=4 * (most + 1)), struct.Struct(
        f"<{most + 1}I"
    )


@st.composite
def _scenarios(
    draw: st.DrawFn, plan: Plan, most: int, switches: tuple[bool, ...]
) -> dict[str, Any]:
    blob, layout = _words(most)
    count = draw(_requests(most))
    head, *words = layout.unpack(draw(blob))
    inject_faults, cancellation, hooks, limits, timing, metamorphic = switches
    return _build_scenario(
        plan,
        count,
        head,
        words,
        inject_faults=inject_faults,
        cancellation=cancellation,
        hooks=hooks,
        limits=limits,
        timing=timing,
        metamorphic=metamorphic,
    )


def scenarios(
    *,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
    max_requests: int = 4,
    inject_faults: bool = True,
    cancellation: bool = True,
    hooks: bool = True,
    limits: bool = True,
    timing: bool = True,
    metamorphic: bool = False,
) -> st.SearchStrategy[dict[str, Any]]:
    """Whole scenarios as the data of a scenario file; two draws (see the module docstring).

    Several requests (the last one answers, so a run can complete), tools that answer, fail,
    raise, take time or do not exist, options, timing, hooks, guardrails, faults and a
    cancellation point, each switched off by its flag and generated only for the `features`
    declared (default: all; validated at once, `InputError` for an unknown name); calls name
    `tool_names` (default: agentsim's own tools). `metamorphic=True` leaves out what would
    make M1/M3 undefined (cancellation, idle timeout, short deadlines, text hooks and
    response-size limits): see `agentsim.harness._metamorphic`.
    """
    plan = _make_plan(features, tool_names)
    if not isinstance(max_requests, int) or max_requests < 1 or max_requests > 10:
        raise InputError(f"expected 1 to 10, got {max_requests!r}", path="max_requests")
    if metamorphic:
        cancellation = timing = False
    switches = (inject_faults, cancellation, hooks, limits, timing, metamorphic)
    return _scenarios(plan, max_requests, tuple(bool(s) for s in switches))


def scenario_models(**kwargs: Any) -> st.SearchStrategy[Scenario]:
    """`scenarios(**kwargs)` validated into `Scenario` models."""
    return scenarios(**kwargs).map(lambda data: parse_scenario(data, file="<generated>"))
