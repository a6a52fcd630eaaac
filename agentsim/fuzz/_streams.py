"""One provider response as scenario chunk items, every shape a provider sends (DESIGN §2, §5).

The half of generation that `agentsim.fuzz._strategies` expands from a detail word: given a word,
the loop's declared features and the tools it offers, `build_response` writes one response in
the scenario file's chunk items (`agentsim.fuzz._faults.response` then adds its fault).
Everything here is plain Python over a seeded `random.Random`, so a word always means the same
response (the determinism rule) and costs no hypothesis draw.

Shapes. A provider can send more than "text, then finish", and each shape below has its own
probability (DESIGN §5 and issue #12 part 2; `agentsim.fuzz._coverage` names and counts them):

- content: an answer; reasoning then an answer, interleaved at times; tool calls, after some
  reasoning or text at times; everything interleaved with text after the calls; a response of
  only reasoning; an empty response (a finish and nothing else);
- calls: one after the other, several with interleaved argument fragments, several sharing
  index 0 with only the id changing (some compatible servers), a call with no argument chunk
  at all, an empty first fragment (Anthropic's first ``input_json_delta``), arguments cut
  anywhere (inside escapes and multibyte characters), invalid JSON or not an object, an
  explicit end or none, unknown tool names;
- reasoning: signatures on the last delta, or in a chunk of their own after the reasoning;
- usage: none, at the end, a running total (partial, then the total), before any content, after
  the finish (OpenAI's ``include_usage`` chunk);
- finish: the expected reason, an odd one (length, content_filter, other, a tool_calls finish
  without calls), two finish chunks;
- timing: no delays, a first-chunk delay, scattered delays, a gap just under or just over the
  idle timeout, a chunk arriving just under or just over the deadline;
- faults: an error at any position (first, mid-stream, after the finish; retryable or not,
  with an HTTP status at times), a truncation at any position, a stall, a duplicated or swapped
  chunk.

Features gate shapes (`agentsim.loop._features`): nothing a loop does not claim is generated.
No reasoning chunks without ``reasoning``; no calls without ``tools`` (or with no tool
offered), one call a response without ``parallel_tools``; no errors or truncations without
``provider_errors``; an error before any output is retryable only with ``retries`` (a loop
without retries is right to fail on it, so it gets non-retryable ones); no stall unless a
``deadline`` or ``idle_timeout`` bounds it; gaps near a timeout only for the timeout declared.
Unknown tool names are generated only for a loop with ``tools`` and at a low rate: a correct
loop answers one with an error result and goes on (§3 rule 3), and providers rarely invent
names, so they must not crowd out the tools the loop offers.

Word 0 is the simplest response of its kind: no cuts, no delays, no usage, no fault. Faults,
and `response` (a response with its fault), are in `agentsim.fuzz._faults`.
"""

from __future__ import annotations

import _random
import functools
import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentsim.loop._features import ALL_FEATURES, Feature

__all__ = [
    "ARGUMENT_TEXTS",
    "NO_TIMING",
    "READ_STALL",
    "TEXT_PIECES",
    "TOOL_NAMES",
    "FaultKind",
    "Item",
    "Plan",
    "Timing",
    "WordRandom",
    "build_response",
    "build_stream",
    "chunk_count",
    "kinds_for",
    "plan_for",
    "sample_cuts",
    "simplest_response",
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
UNKNOWN_NAMES = ("ghost", "no_such_tool", "ghost_2")
_DELAYS = (0.1, 0.5, 1.0, 2.5, 4.0)
# Not `pause`: a paused response asks for another step, so it needs a scripted continuation (and
# only Anthropic can say it); generating it would change the shape of every generated run.
_REASONS = ("length", "content_filter", "other")
# Longer than the SDKs' default read timeout (openai and anthropic: 600 s): a read stall.
READ_STALL = 660.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What may be generated for one loop: its features and the tool names calls may use."""

    features: frozenset[Feature]
    known: tuple[str, ...]  # names of tools the loop offers (repeated = more likely)
    unknown: str | None  # a name it does not offer, for the unknown-tool path (rule 3)

    def has(self, feature: Feature) -> bool:
        return feature in self.features

    @property
    def calls(self) -> bool:
        return "tools" in self.features and bool(self.known)


def plan_for(
    features: Collection[Feature] = ALL_FEATURES, tool_names: Sequence[str] | None = None
) -> Plan:
    """The `Plan` for `features` and the tools offered (None: agentsim's own tool set)."""
    chosen = frozenset(features)
    if tool_names is None:
        known = tuple(name for name in TOOL_NAMES if name != "ghost")
        unknown: str | None = "ghost"
    else:
        known = tuple(tool_names)
        unknown = next(n for n in UNKNOWN_NAMES if n not in known)
    return Plan(chosen, known, unknown if "tools" in chosen else None)


@dataclass(frozen=True, slots=True)
class Timing:
    """The timeouts a response's gaps are placed around (None: not set in the scenario).
    `read_stalls`: a gap past the SDKs' read timeouts may be generated (not for M1/M3)."""

    idle: float | None = None
    deadline: float | None = None  # only when short enough to matter
    read_stalls: bool = True


NO_TIMING = Timing()


class WordRandom(random.Random):
    """`random.Random(word)` seeded by the C seed directly, without the Python-level
    `Random.__init__` and `Random.seed` around it (which do nothing else for an int): the
    same state, so the same numbers, for a fifth less. Several are built an example."""

    gauss_next = None  # what `Random.seed` sets; `gauss` is never called here
    __init__ = _random.Random.seed


# What `random.Random.sample` draws each position with (a private method, typed here).
_randbelow: Callable[[random.Random, int], int] = random.Random._randbelow  # type: ignore[attr-defined]


def _cut(text: str, rng: random.Random, *, least: int = 1) -> list[str]:
    """`text` cut into 1-4 (at least `least`) non-empty pieces at any code point (inside
    escapes too)."""
    n = len(text)
    pieces = min(max(least, (1, 1, 2, 2, 3, 4)[int(rng.random() * 6)]), n)
    if pieces <= 1:
        return [text]
    if pieces == 2:  # the common case: one cut, `sample_cuts` for one position
        cut = _randbelow(rng, n - 1) + 1
        return [text[:cut], text[cut:]]
    cuts = sorted(sample_cuts(rng, n - 1, pieces - 1))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]


def sample_cuts(rng: random.Random, m: int, k: int) -> list[int]:
    """``rng.sample(range(1, m + 1), k)`` for k <= 5, drawn the way `random.Random.sample`
    draws it (the same numbers: tests/fuzz/test_generation.py compares them) without its
    generality, which costs more than the drawing: cuts are drawn several times an example."""
    out: list[int] = []
    if m <= 21:  # `sample`'s pool for a small population (its setsize for k <= 5)
        pool = list(range(1, m + 1))
        for i in range(k):
            j = _randbelow(rng, m - i)
            out.append(pool[j])
            pool[j] = pool[m - i - 1]
        return out
    selected: set[int] = set()
    for _ in range(k):
        j = _randbelow(rng, m)
        while j in selected:
            j = _randbelow(rng, m)
        selected.add(j)
        out.append(j + 1)
    return out


def _words(rng: random.Random) -> str:
    draw, pieces, count = rng.random, TEXT_PIECES, len(TEXT_PIECES)
    n = (1, 1, 2, 3)[int(draw() * 4)]
    text = pieces[int(draw() * count)]
    for _ in range(n - 1):
        text += pieces[int(draw() * count)]
    return text


def _deltas(key: str, rng: random.Random) -> list[Item]:
    items: list[Item] = [{key: piece} for piece in _cut(_words(rng), rng)]
    if key == "reasoning":
        roll = rng.random()
        if roll < 0.15:
            items[-1]["signature"] = "sig-" + str(int(rng.random() * 100))
        elif roll < 0.25:  # Anthropic: the signature arrives last, in a chunk of its own
            items.append({"reasoning": "", "signature": "sig-" + str(int(rng.random() * 100))})
    return items


def _name(plan: Plan, rng: random.Random) -> str:
    if plan.unknown is not None and rng.random() < 0.1:
        return plan.unknown
    return plan.known[int(rng.random() * len(plan.known))]


def _calls(plan: Plan, request: int, rng: random.Random) -> list[Item]:
    """1-3 calls: one after the other, interleaved, or all on index 0 (no explicit ends)."""
    if "parallel_tools" in plan.features:
        count = (1, 1, 2, 3)[int(rng.random() * 4)]
        layout = ("sequential", "sequential", "interleaved", "index0")[int(rng.random() * 4)]
    else:
        count, layout = 1, "sequential"
    calls = []
    for k in range(count):
        index = 0 if layout == "index0" else k
        start = {"index": index, "id": f"call_{request}_{k}", "name": _name(plan, rng)}
        roll = rng.random()
        if roll < 0.1:
            fragments: list[str] = []  # no argument chunk at all: an empty buffer means {}
        else:
            text = ARGUMENT_TEXTS[int(rng.random() * len(ARGUMENT_TEXTS))]
            least = 2 if layout == "interleaved" else 1
            fragments = _cut(text, rng, least=least) if text else []
            if roll > 0.9:
                fragments.insert(0, "")  # Anthropic's first input_json_delta is often empty
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


def simplest_response(plan: Plan, request: int, kind: int) -> list[Item]:
    call: Item = {"tool_call_start": {"index": 0, "id": f"call_{request}_0", "name": plan.known[0]}}
    simplest: tuple[list[Item], ...] = (
        [{"text": "ok"}, {"finish": "stop"}],
        [{"reasoning": "hm"}, {"text": "ok"}, {"finish": "stop"}],
        [call, {"finish": "tool_calls"}],
        [{"reasoning": "hm"}, call, {"text": "ok"}, {"finish": "tool_calls"}],
        [{"reasoning": "hm"}, {"finish": "stop"}],
        [{"finish": "stop"}],
    )
    return [dict(item) for item in simplest[kind]]


# Kinds: 0 an answer; 1 reasoning then an answer; 2 tool calls; 3 everything interleaved, text
# after the calls included; 4 only reasoning; 5 an empty response.
_KINDS = (0, 1, 2, 3, 4, 5)


@functools.cache
def kinds_for(plan: Plan, *, last: bool) -> tuple[int, ...]:
    """The kinds of response `plan` allows, with repeats for weight (the last one answers)."""
    reasoning = "reasoning" in plan.features
    answers = (0, 0, 0, 1, 1, 4, 5) if reasoning else (0, 0, 0, 0, 0, 5)
    if last or not plan.calls:
        return answers
    return (*answers, 2, 2, 2, 2, 2, 3, 3) if reasoning else (*answers, 2, 2, 2, 2, 2, 2)


def _content(plan: Plan, request: int, kind: int, rng: random.Random) -> list[Item]:
    reasoning = "reasoning" in plan.features
    lead = ("reasoning", "text") if reasoning else ("text",)
    if kind == 0:
        return _deltas("text", rng)
    if kind == 1:
        items = _deltas("reasoning", rng) + _deltas("text", rng)
        if rng.random() < 0.3:
            items += _deltas("reasoning", rng) + _deltas("text", rng)
        return items
    if kind == 4:
        return _deltas("reasoning", rng)
    if kind == 5:
        return []
    items = []
    if kind == 3 or rng.random() < 0.4:
        items += _deltas(lead[int(rng.random() * len(lead))], rng)
    items += _calls(plan, request, rng)
    if kind == 3:
        items += _deltas("text", rng) + _deltas(lead[int(rng.random() * len(lead))], rng)
    return items


def _usage(items: list[Item], rng: random.Random) -> list[Item]:
    """Usage none, at the end, running, before any content or after the finish."""
    roll = rng.random()
    if roll < 0.35:
        return items
    tokens = {
        "input_tokens": 1 + int(rng.random() * 49),
        "output_tokens": 1 + int(rng.random() * 49),
    }
    finish = items.pop()
    if roll < 0.65:
        items.append({"usage": tokens})
    elif roll < 0.77:
        items += [{"usage": {"input_tokens": tokens["input_tokens"]}}, {"usage": tokens}]
    elif roll < 0.89:
        items.insert(0, {"usage": {"input_tokens": tokens["input_tokens"]}})
        items.append({"usage": tokens})
    else:
        return [*items, finish, {"usage": tokens}]
    items.append(finish)
    return items


def _finish(plan: Plan, items: list[Item], rng: random.Random) -> None:
    calls = False
    for item in items:  # (a loop: `any` over a generator costs twice as much here)
        if "tool_call_start" in item:
            calls = True
            break
    reason = "tool_calls" if calls else "stop"
    roll = rng.random()
    if roll < 0.1:
        reason = _REASONS[int(rng.random() * len(_REASONS))]
    elif roll < 0.13 and plan.calls:
        reason = "stop" if calls else "tool_calls"  # the reason disagrees with the content
    items.append({"finish": reason})
    if 0.13 <= roll < 0.18:
        items.append({"finish": reason})  # two finish chunks


def _timing(plan: Plan, items: list[Item], timing: Timing, rng: random.Random) -> None:
    roll = rng.random()
    if timing.idle is not None and roll < 0.25:
        # A gap just under or just over the idle timeout. Over it is a provider error (so only
        # with `provider_errors`), and one to retry before any output (so only with `retries`).
        over = rng.random() < 0.5 and "provider_errors" in plan.features
        at = int(rng.random() * len(items))
        if over and at == 0 and "retries" not in plan.features:
            at = min(1, len(items) - 1)
        items[at]["delay"] = round(timing.idle * (1.02 if over else 0.98), 6)
    elif timing.deadline is not None and roll < 0.45:
        # A chunk arriving just under or just over the deadline (from the run's start, as
        # this response is the first to be placed so: see `response`).
        at = int(rng.random() * len(items))
        before = sum(item.get("delay", 0.0) for item in items[:at])
        gap = timing.deadline * (1.01 if rng.random() < 0.5 else 0.99) - before
        if gap > 0:
            items[at]["delay"] = round(gap, 6)
    elif roll > 0.9:
        for item in items:
            if rng.random() < 0.5:
                item["delay"] = _DELAYS[int(rng.random() * 3)]
    elif roll > 0.72:
        items[0]["delay"] = _DELAYS[int(rng.random() * len(_DELAYS))]
    else:
        return
    if timing.idle is not None:
        # An ordinary delay over the idle timeout is an idle timeout too: keep it under unless
        # the loop claims what that needs (provider errors; retries, before any output).
        for at, item in enumerate(items):
            if item.get("delay", 0.0) > timing.idle and not (
                "provider_errors" in plan.features and (at > 0 or "retries" in plan.features)
            ):
                item["delay"] = round(timing.idle * 0.98, 6)


def build_stream(
    request: int,
    kind: int,
    word: int,
    *,
    tools: Sequence[str] = TOOL_NAMES,
    plan: Plan | None = None,
    timing: Timing = NO_TIMING,
) -> list[Item]:
    """One response as scenario chunk items, from its kind and a detail word.

    Kinds: 0 an answer; 1 reasoning then an answer (interleaved at times); 2 tool calls (after
    some reasoning or text at times); 3 everything interleaved, text after the calls included;
    4 only reasoning; 5 an empty response. Word 0 is the simplest response of each kind: no
    cuts, no delays, no usage. `plan` (default: every feature, `tools` as the names) gates
    what is generated.
    """
    if plan is None:
        plan = _default_plan(tuple(tools))
    if word == 0:
        return simplest_response(plan, request, kind)
    return build_response(plan, request, kind, WordRandom(word), timing)


def build_response(
    plan: Plan, request: int, kind: int, rng: random.Random, timing: Timing
) -> list[Item]:
    items = _content(plan, request, kind, rng)
    _finish(plan, items, rng)
    items = _usage(items, rng)
    _timing(plan, items, timing, rng)
    return items


_PLANS: dict[tuple[str, ...], Plan] = {}


def _default_plan(tools: tuple[str, ...]) -> Plan:
    plan = _PLANS.get(tools)
    if plan is None:
        known = tuple(t for t in tools if t not in UNKNOWN_NAMES) or tools
        unknown = next((t for t in tools if t in UNKNOWN_NAMES), None)
        plan = _PLANS[tools] = Plan(ALL_FEATURES, known, unknown)
    return plan


def chunk_count(items: Sequence[Mapping[str, Any]]) -> int:
    """Chunk items that deliver something (a stall or truncation delivers nothing)."""
    return sum(1 for item in items if "stall" not in item and "truncate" not in item)
