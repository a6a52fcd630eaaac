"""What a fuzz run generated: each case classified by the stream shapes it holds and the DESIGN
§3 rules it exercises, counted for ``agentsim fuzz --coverage`` (issue #12 part 2).

Classification reads the scenario data only - one pass over the chunk items, a few µs a case -
so counting costs nothing next to running the loop. It says what was *generated*: a shape in a
later request counts even when an earlier step ended the run first, which the rule counts below
make visible (a rule is counted when the case can reach it: a cancellation point is there, a
call is made in the first request, ...).

`SHAPES` is the list of shapes a provider can send (DESIGN §2 and §5, and the list of the
issue), each with the test that recognizes it; `RULES` the §3 rules. A shape the default
strategies never produce is a hole in the fuzzing; tests/fuzz/test_coverage.py holds the
default run (its budget, a fixed seed) to every one of them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentsim.fuzz._streams import READ_STALL

__all__ = ["RULES", "SHAPES", "Coverage", "classify"]

Item = Mapping[str, Any]
Data = Mapping[str, Any]

_CONTENT = ("text", "reasoning", "tool_call_start", "tool_call_args")
_GRAPHEME_TAILS = ("\u200d", "e", "\U0001f1eb", "\U0001f469")


def _keys(items: Sequence[Item]) -> list[str]:
    return [next(iter(k for k in item if k != "delay"), "") for item in items]


def _has(key: str) -> Callable[[Sequence[Item], list[str]], bool]:
    return lambda items, keys: key in keys


def _first_content(keys: list[str]) -> int:
    return next((i for i, k in enumerate(keys) if k in _CONTENT), len(keys))


def _finish_at(keys: list[str]) -> int:
    return keys.index("finish") if "finish" in keys else len(keys)


def _calls(items: Sequence[Item]) -> list[Mapping[str, Any]]:
    return [item["tool_call_start"] for item in items if "tool_call_start" in item]


def _args(items: Sequence[Item]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for item in items:
        if "tool_call_args" in item:
            spec = item["tool_call_args"]
            out.setdefault(spec["index"], []).append(spec["delta"])
    return out


def _runs(values: Sequence[Any]) -> list[Any]:
    """`values` with consecutive repeats collapsed."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def _interleaved(items: Sequence[Item], keys: list[str]) -> bool:
    """Fragments of several calls alternate (some call's fragments are not contiguous)."""
    indexes = [item["tool_call_args"]["index"] for item in items if "tool_call_args" in item]
    return len(_runs(indexes)) > len(set(indexes)) > 1


def _prose(keys: list[str]) -> list[str]:
    return _runs([k for k in keys if k in ("text", "reasoning")])


def _error_where(items: Sequence[Item], keys: list[str], where: str) -> bool:
    if "error" not in keys:
        return False
    at = keys.index("error")
    if where == "first":
        return at == 0
    if where == "after_finish":
        return _finish_at(keys) < at
    return 0 < at < _finish_at(keys)


def _gap(items: Sequence[Item], limit: float | None, over: bool) -> bool:
    if limit is None:
        return False
    return any(
        (limit < d <= limit * 1.05) if over else (limit * 0.95 <= d < limit)
        for d in (item.get("delay", 0.0) for item in items)
    )


def _near_deadline(items: Sequence[Item], deadline: float | None, over: bool) -> bool:
    if deadline is None:
        return False
    t = 0.0
    for item in items:
        t += item.get("delay", 0.0)
        if (deadline < t <= deadline * 1.05) if over else (deadline * 0.95 <= t < deadline):
            return True
    return False


_Shape = Callable[[Sequence[Item], list[str], Data, int], bool]


def _per_request(test: Callable[[Sequence[Item], list[str]], bool]) -> _Shape:
    return lambda items, keys, data, number: test(items, keys)


def _options(data: Data) -> Mapping[str, Any]:
    options: Mapping[str, Any] = data.get("options") or {}
    return options


SHAPES: dict[str, _Shape] = {
    "an answer": _per_request(lambda i, k: "text" in k and "tool_call_start" not in k),
    "only reasoning": _per_request(
        lambda i, k: "reasoning" in k and not {"text", "tool_call_start"} & set(k)
    ),
    "an empty response": _per_request(lambda i, k: "finish" in k and not set(_CONTENT) & set(k)),
    "reasoning then text": _per_request(lambda i, k: _prose(k)[:2] == ["reasoning", "text"]),
    "reasoning and text interleaved": _per_request(lambda i, k: len(_prose(k)) >= 3),
    "text after tool calls": _per_request(
        lambda i, k: "tool_call_start" in k and "text" in k[k.index("tool_call_start") :]
    ),
    "one tool call": _per_request(lambda i, k: k.count("tool_call_start") == 1),
    "several calls one after the other": _per_request(
        lambda i, k: len({c["index"] for c in _calls(i)}) > 1 and not _interleaved(i, k)
    ),
    "several calls, fragments interleaved": _per_request(_interleaved),
    "several calls sharing index 0": _per_request(
        lambda i, k: sum(1 for c in _calls(i) if c["index"] == 0) > 1
    ),
    "a call with no argument chunk": _per_request(
        lambda i, k: any(c["index"] not in _args(i) for c in _calls(i))
    ),
    "an empty first argument fragment": _per_request(
        lambda i, k: any(parts[0] == "" for parts in _args(i).values())
    ),
    "arguments cut inside an escape": _per_request(
        lambda i, k: any(p.endswith("\\") for parts in _args(i).values() for p in parts)
    ),
    "arguments that are not JSON": _per_request(
        lambda i, k: any("".join(p) in ("{", '{"q": }') for p in _args(i).values())
    ),
    "arguments that are not an object": _per_request(
        lambda i, k: any("".join(p) == "[1, 2]" for p in _args(i).values())
    ),
    "an explicit tool-call end": _per_request(_has("tool_call_end")),
    "an unknown tool": lambda i, k, data, n: any(
        c["name"] in (data.get("undefined_tools") or ()) for c in _calls(i)
    ),
    "text cut inside a grapheme": _per_request(
        lambda i, k: any(item.get("text", "").endswith(_GRAPHEME_TAILS) for item in i)
    ),
    "a reasoning signature": _per_request(
        lambda i, k: any(item.get("signature") and item.get("reasoning") for item in i)
    ),
    "a signature in a chunk of its own": _per_request(
        lambda i, k: any(item.get("signature") and item.get("reasoning") == "" for item in i)
    ),
    "usage at the end": _per_request(
        lambda i, k: "usage" in k and _first_content(k) < k.index("usage") < _finish_at(k)
    ),
    "a running usage total": _per_request(lambda i, k: k.count("usage") >= 2),
    "a usage chunk before content": _per_request(
        lambda i, k: "usage" in k and k.index("usage") < _first_content(k) < len(k)
    ),
    "usage after the finish": _per_request(
        lambda i, k: "usage" in k and _finish_at(k) < len(k) - 1 - k[::-1].index("usage") + 0
    ),
    "two finish chunks": _per_request(lambda i, k: k.count("finish") >= 2),
    "an odd finish reason": _per_request(
        lambda i, k: any(item.get("finish") in ("length", "content_filter", "other") for item in i)
    ),
    "a finish reason that disagrees": _per_request(
        lambda i, k: any(
            (item.get("finish") == "stop") == ("tool_call_start" in k)
            for item in i
            if item.get("finish") in ("stop", "tool_calls")
        )
    ),
    "content after the finish": _per_request(
        lambda i, k: any(x in _CONTENT for x in k[_finish_at(k) + 1 :])
    ),
    "a repeated chunk": _per_request(
        lambda i, k: any(a == b and "finish" not in a for a, b in itertools.pairwise(i))
    ),
    "an error before any chunk": _per_request(lambda i, k: _error_where(i, k, "first")),
    "a retryable error before any chunk": _per_request(
        lambda i, k: bool(k) and k[0] == "error" and i[0]["error"].get("retryable") is True
    ),
    "an error mid-stream": _per_request(lambda i, k: _error_where(i, k, "mid")),
    "an error after the finish": _per_request(lambda i, k: _error_where(i, k, "after_finish")),
    "an error with an HTTP status": _per_request(
        lambda i, k: any("status" in item.get("error", {}) for item in i)
    ),
    "a truncation before any chunk": _per_request(lambda i, k: k[:1] == ["truncate"]),
    "a truncation mid-stream": _per_request(lambda i, k: "truncate" in k[1:]),
    "a stall before any chunk": _per_request(lambda i, k: k[:1] == ["stall"]),
    "a stall mid-stream": _per_request(lambda i, k: "stall" in k[1:]),
    "an HTTP error with Retry-After": _per_request(
        lambda i, k: any("retry_after" in item.get("error", {}) for item in i)
    ),
    "a connection reset mid-body": _per_request(lambda i, k: "reset" in k),
    "a malformed event": _per_request(lambda i, k: "malformed" in k),
    "a read stall past the client's timeout": _per_request(
        lambda i, k: any(item.get("delay") == READ_STALL for item in i)
    ),
    "a first-chunk delay": _per_request(lambda i, k: bool(i) and "delay" in i[0]),
    "delays between chunks": _per_request(
        lambda i, k: sum(1 for item in i[1:] if item.get("delay")) >= 1
    ),
    "a gap just under the idle timeout": lambda i, k, data, n: _gap(
        i, _options(data).get("idle_timeout"), over=False
    ),
    "a gap just over the idle timeout": lambda i, k, data, n: _gap(
        i, _options(data).get("idle_timeout"), over=True
    ),
    "a chunk just before the deadline": lambda i, k, data, n: (
        n == 1 and _near_deadline(i, _options(data).get("deadline"), over=False)
    ),
    "a chunk just after the deadline": lambda i, k, data, n: (
        n == 1 and _near_deadline(i, _options(data).get("deadline"), over=True)
    ),
}


def _calls_first(data: Data) -> bool:
    return "tool_call_start" in _keys(data["requests"][0]["chunks"])


def _ending(data: Data) -> bool:
    """Can the run end otherwise than completed while calls are pending?"""
    faults = any(
        k in ("error", "truncate", "stall", "reset", "malformed")
        for r in data["requests"]
        for k in _keys(r["chunks"])
    )
    return _calls_first(data) and (
        faults or "cancel" in data or "drop" in data or "hooks" in data or bool(_options(data))
    )


RULES: dict[str, Callable[[Data, set[str]], bool]] = {
    "1 steps (several)": lambda d, s: len(d["requests"]) >= 2 and _calls_first(d),
    "2 assistant content order": lambda d, s: bool(
        s
        & {
            "reasoning and text interleaved",
            "reasoning then text",
            "text after tool calls",
            "content after the finish",
        }
    ),
    "3 tools (errors, unknown, invalid JSON)": lambda d, s: bool(
        s & {"an unknown tool", "arguments that are not JSON", "arguments that are not an object"}
    ),
    "3 tools (several in a step)": lambda d, s: any(
        len(_calls(r["chunks"])) > 1 for r in d["requests"]
    ),
    "3 tools (concurrent)": lambda d, s: _options(d).get("concurrent_tools") is True,
    "4 max_steps": lambda d, s: "max_steps" in _options(d),
    "5 deadline": lambda d, s: "deadline" in _options(d),
    "5 idle timeout": lambda d, s: "idle_timeout" in _options(d),
    "6 retries (a retryable error first)": lambda d, s: "a retryable error before any chunk" in s,
    "6 errors after output, truncation": lambda d, s: bool(
        s & {"an error mid-stream", "an error after the finish", "a truncation mid-stream"}
    ),
    "7 cancellation": lambda d, s: "cancel" in d,
    "7 consumer drop": lambda d, s: "drop" in d,
    "8 history after an unfinished ending": lambda d, s: _ending(d),
    "9 phases (think, answer and act)": lambda d, s: (
        {"reasoning", "text", "tool_call_start"}
        <= {k for r in d["requests"] for k in _keys(r["chunks"])}
    ),
    "10 hooks": lambda d, s: "hooks" in d,
    "11 guardrails": lambda d, s: "guardrails" in d,
    "11 usage limits, response size": lambda d, s: bool(
        {"max_response_bytes", "max_total_tokens", "max_requests", "max_tool_calls"}
        & set(_options(d))
    ),
    "12 usage over several steps": lambda d, s: (
        sum(1 for r in d["requests"] if "usage" in _keys(r["chunks"])) >= 2
    ),
}


def classify(data: Data) -> tuple[set[str], set[str]]:
    """The shapes `data` holds and the §3 rules it exercises."""
    shapes: set[str] = set()
    for number, request in enumerate(data["requests"], 1):
        items: Sequence[Item] = request["chunks"]
        keys = _keys(items)
        for name, test in SHAPES.items():
            if name not in shapes and test(items, keys, data, number):
                shapes.add(name)
    rules = {name for name, test in RULES.items() if test(data, shapes)}
    return shapes, rules


@dataclass(slots=True)
class Coverage:
    """Counts of generated cases per shape and per rule."""

    cases: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)

    def add(self, data: Data) -> None:
        shapes, rules = classify(data)
        self.cases += 1
        self.shapes.update(shapes)
        self.rules.update(rules)

    def missing(self) -> list[str]:
        """Shapes and rules no case exercised."""
        return [n for n in SHAPES if not self.shapes[n]] + [n for n in RULES if not self.rules[n]]

    def lines(self) -> list[str]:
        """The report ``agentsim fuzz --coverage`` prints."""

        def row(name: str, count: int) -> str:
            share = count / self.cases if self.cases else 0.0
            return f"  {name:<44} {count:>7} {share:>7.1%}" + ("  NEVER" if not count else "")

        out = [f"coverage of {self.cases} generated cases (cases holding each):", "stream shapes:"]
        out += [row(name, self.shapes[name]) for name in SHAPES]
        out.append("DESIGN §3 rules:")
        out += [row(name, self.rules[name]) for name in RULES]
        return out
