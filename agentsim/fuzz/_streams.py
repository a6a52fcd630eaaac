"""One provider response as scenario chunk items, and what goes wrong with it (DESIGN §2, §5).

The half of generation that `agentsim.fuzz._strategies` expands from a detail word: given a word,
the loop's declared features and the tools it offers, `response` writes one response in the
scenario file's chunk items, fault included. Everything here is plain Python over a seeded
`random.Random`, so a word always means the same response (the determinism rule) and costs
no hypothesis draw.

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

Word 0 is the simplest response of its kind: no cuts, no delays, no usage, no fault.
"""

from __future__ import annotations

import _random
import functools
import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentsim.core._chunks import ERROR_KINDS, ErrorKind
from agentsim.loop._features import ALL_FEATURES, Feature

__all__ = [
    "ARGUMENT_TEXTS",
    "TEXT_PIECES",
    "TOOL_NAMES",
    "Fault",
    "Plan",
    "Timing",
    "WordRandom",
    "apply_fault",
    "build_stream",
    "fault_from_word",
    "plan_for",
    "response",
    "sample_cuts",
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
_STATUSES: dict[str, int] = {"rate_limit": 429, "overloaded": 529, "server": 500, "timeout": 504}
_OVERLOADED = (529, 503)  # Anthropic's overloaded_error, and everyone's 503
_RETRY_AFTER = (1.0, 30.0)  # seconds; 30 is what rate-limited APIs ask, virtual anyway
# Longer than the SDKs' default read timeout (openai and anthropic: 600 s): a read stall.
READ_STALL = 660.0
MALFORMED_DATA = '{"choices": [{"delta": {"content": "unterminated'


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


_NO_TIMING = Timing()


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


def _simplest(plan: Plan, request: int, kind: int) -> list[Item]:
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
    timing: Timing = _NO_TIMING,
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
        return _simplest(plan, request, kind)
    return _build(plan, request, kind, WordRandom(word), timing)


def _build(plan: Plan, request: int, kind: int, rng: random.Random, timing: Timing) -> list[Item]:
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


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong with one response; `at` picks the position (modulo the stream length)."""

    kind: FaultKind = "none"
    at: int = 0
    retryable: bool = True
    error: ErrorKind = "rate_limit"
    wire: int = 0  # 0-3: which wire-level variant (see `apply_fault`)


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


@functools.cache
def allowed_faults(plan: Plan, timing: Timing) -> tuple[FaultKind, ...]:
    """The fault kinds `plan` allows, "none" included, with repeats for weight."""
    errors = "provider_errors" in plan.features
    stall = "deadline" in plan.features or (timing.idle is not None and errors)
    read_stall = errors and timing.read_stalls  # a gap the client's read timeout ends
    return tuple(
        kind
        for kind in _FAULT_KINDS
        if (kind not in ("error_before", "error_after", "truncate") or errors)
        and (kind != "stall" or stall or read_stall)
    )


def fault_from_word(plan: Plan, timing: Timing, word: int) -> Fault:
    """The fault numbered `word` (16 bits) for `plan`: none about half of the time."""
    kinds = allowed_faults(plan, timing)
    kind = kinds[(word >> 8) % len(kinds)]
    if kind == "none":
        return Fault()
    error = ERROR_KINDS[((word >> 5) & 7) % len(ERROR_KINDS)]
    return Fault(kind, word & 15, not word & 16, error, ((word * 40503) >> 9) & 3)


def apply_fault(
    items: Sequence[Item], fault: Fault, *, plan: Plan | None = None, timing: Timing = _NO_TIMING
) -> list[Item]:
    """`items` with `fault` applied; the original is not changed. With `plan`, what the loop
    does not claim is avoided: a retryable error before output without ``retries`` becomes
    non-retryable, and a stall before output that only an idle timeout ends moves after the
    first chunk."""
    out = list(items)
    n = len(out)
    error: Item = {"error": {"kind": fault.error, "retryable": fault.retryable}}
    if fault.at & 8 and fault.error in _STATUSES:
        error["error"]["status"] = _STATUSES[fault.error]
        if fault.error == "overloaded":
            error["error"]["status"] = _OVERLOADED[fault.wire & 1]
    # Wire-level variants (issue #16 part 4): a truncation is at times a connection reset
    # mid-body, an error after output at times a malformed event, and an HTTP error answer
    # before output carries a Retry-After header at times.
    end: Item = {"reset": True} if fault.wire in (1, 2) else {"truncate": True}
    before = fault.kind == "error_before" or (n == 0 and fault.kind != "none")
    if before and fault.kind in ("error_before", "error_after", "truncate"):
        if plan is not None and "retries" not in plan.features:
            error["error"]["retryable"] = False
        if "status" in error["error"] and fault.wire >= 2:
            error["error"]["retry_after"] = _RETRY_AFTER[fault.wire & 1]
        return [error] if fault.kind != "truncate" else [end]
    if n == 0:
        return out
    at = fault.at % n
    if fault.kind == "error_after":
        if fault.wire == 3:
            return [*out[: at + 1], {"malformed": MALFORMED_DATA}]
        return [*out[: at + 1], error]
    if fault.kind == "truncate":
        return [*out[:at], end]
    read_stall = plan is not None and "provider_errors" in plan.features and timing.read_stalls
    if (
        fault.kind == "stall"
        and read_stall
        and timing.idle is None
        and (fault.wire == 3 or not (plan is not None and "deadline" in plan.features))
    ):
        # Only a client's read timeout ends it (an SDK loop): a gap past the SDKs' defaults,
        # finite, so a loop whose client has none just waits and goes on.
        out[at] = {**out[at], "delay": READ_STALL}
        return out
    if fault.kind == "stall":
        if (
            at == 0
            and plan is not None
            and "retries" not in plan.features
            and timing.idle is not None
        ):
            at = min(1, n - 1) if n > 1 else 0
            if at == 0:
                return out
        return [*out[:at], {"stall": True}]
    if fault.kind == "duplicate" and "tool_call_start" not in out[at]:
        return [*out[: at + 1], dict(out[at]), *out[at + 1 :]]
    if fault.kind == "reorder" and n >= 2:
        at = fault.at % (n - 1)
        out = [*out[:at], out[at + 1], out[at], *out[at + 2 :]]
        idle = timing.idle
        # The swap may bring a gap over the idle timeout before any output: only a loop with
        # retries claims what that needs (as `_timing` keeps it for a response built so).
        over = at == 0 and idle is not None and out[0].get("delay", 0.0) > idle
        if over and idle is not None and plan is not None and "retries" not in plan.features:
            out[0] = {**out[0], "delay": round(idle * 0.98, 6)}
    return out


def response(
    plan: Plan, request: int, word: int, *, last: bool, faults: bool, timing: Timing
) -> list[Item]:
    """Response number `request` of a scenario from one 32-bit word: its kind, details and
    fault (none for word 0, which is the simplest answer)."""
    if word == 0:
        return _simplest(plan, request, 0)
    rng = WordRandom(word)
    kinds = _KINDS_LAST.get(plan) if last else _KINDS_MORE.get(plan)
    if kinds is None:
        kinds = kinds_for(plan, last=last)
        (_KINDS_LAST if last else _KINDS_MORE)[plan] = kinds
    kind = kinds[int(rng.random() * len(kinds))]
    # Near-deadline gaps only in the first response, where the run's clock is known.
    here = timing if request == 1 or timing.deadline is None else _idle_only(timing.idle)
    items = _build(plan, request, kind, rng, here)
    if not faults:
        return items
    word = int(rng.random() * 65536)
    allowed = allowed_faults(plan, timing)
    if allowed[(word >> 8) % len(allowed)] == "none":
        return items  # what `apply_fault` returns for no fault: the same items
    return apply_fault(items, fault_from_word(plan, timing, word), plan=plan, timing=timing)


@functools.cache
def _idle_only(idle: float | None) -> Timing:
    return Timing(idle)


# `kinds_for` by plan and `last` (a keyword argument makes its cache's key dearer to build).
_KINDS_LAST: dict[Plan, tuple[int, ...]] = {}
_KINDS_MORE: dict[Plan, tuple[int, ...]] = {}


def chunk_count(items: Sequence[Mapping[str, Any]]) -> int:
    """Chunk items that deliver something (a stall or truncation delivers nothing)."""
    return sum(1 for item in items if "stall" not in item and "truncate" not in item)
