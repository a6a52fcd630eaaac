"""Minimizing a failing scenario by delta debugging over its data (``agentsim shrink``).

Hypothesis shrinks the choices that *generated* a scenario; a scenario file written by hand, cut
from a cassette, or left by an older fuzz run has no such choices. So `shrink_data` works on the
file's data itself, greedily, to a fixpoint, in passes from coarse to fine:

1. drop whole sections (description, expect, cancel, drop, hooks, guardrails, system,
   options, tools) and then single options, hook points and guardrails;
2. drop whole requests, last first;
3. drop chunk items of each request, ddmin style: halves, quarters ... single items;
4. drop tools (a tool still named by a chunk makes the candidate invalid, so it stays);
5. simplify what is left: delays to 0, texts and argument fragments to their first character,
   whole tool calls without arguments, no signatures, no error messages, tools without
   description or delay.

A candidate counts if it is a valid scenario and the predicate still holds ("fails the same
way"); candidates are cached, and `max_runs` bounds the predicate calls. `shrink_failing` is the
predicate the command uses: the loop under test still fails with the failure's first id
(invariant ids sort first, then ``crash``, then ``expect:<field>``, then ``script``); when that
id is an expectation or script mismatch, the reference loop must also keep passing, so that
the file does not shrink into a scenario nobody's loop could pass.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from agentsim.core._errors import InputError
from agentsim.fuzz._properties import LoopFactory, crashed, run_guarded
from agentsim.harness._guard import Limits
from agentsim.harness._result import RunResult
from agentsim.scenario._schema import parse_scenario

__all__ = [
    "drop_failed_request_checks",
    "fit_to_reference",
    "shrink_data",
    "shrink_failing",
    "signature",
]

Data = dict[str, Any]
_SECTIONS = (
    "description",
    "expect",
    "cancel",
    "drop",
    "hooks",
    "guardrails",
    "system",
    "options",
    "undefined_tools",
    "tools",
)
_UNUSED = re.compile(r"^requests\[(\d+)\] \(request \d+\) was never made$")
# What a missing last request becomes: a plain answer, else a provider error.
_ENDINGS: tuple[dict[str, Any], ...] = (
    {"chunks": [{"text": "ok"}, {"finish": "stop"}]},
    {"chunks": [{"error": {"kind": "server"}}]},
)


class _Tester:
    def __init__(self, still_fails: Callable[[Data], bool], max_runs: int) -> None:
        self.still_fails, self.max_runs = still_fails, max_runs
        self.runs = 0
        self._seen: dict[str, bool] = {}

    def __call__(self, data: Data) -> bool:
        key = json.dumps(data, sort_keys=True, ensure_ascii=False)
        if key not in self._seen:
            if self.runs >= self.max_runs:
                return False
            try:
                parse_scenario(data, file="<candidate>")
            except InputError:
                self._seen[key] = False
                return False
            self.runs += 1
            self._seen[key] = self.still_fails(data)
        return self._seen[key]


def _without(data: Data, *path: str | int) -> Data:
    out = copy.deepcopy(data)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return out


def _sections(best: Data, test: _Tester) -> Data:
    for key in _SECTIONS:
        if key in best and test(candidate := _without(best, key)):
            best = candidate
    for key in ("options", "hooks", "guardrails"):
        for name in list(best.get(key) or {}):
            if test(candidate := _without(best, key, name)):
                best = candidate
    return best


def _ddmin(best: Data, path: tuple[str | int, ...], test: _Tester) -> Data:
    """Drop items of the list at `path`: blocks of half its length, then smaller ones."""

    def items(data: Data) -> list[Any]:
        target: Any = data
        for part in path:
            target = target[part]
        assert isinstance(target, list)
        return target

    size = max(1, len(items(best)) // 2)
    while True:
        i = 0
        while i < len(items(best)):
            candidate = copy.deepcopy(best)
            del items(candidate)[i : i + size]
            if test(candidate):
                best = candidate
            else:
                i += size
        if size == 1:
            return best
        size //= 2


def _requests(best: Data, test: _Tester) -> Data:
    best = _ddmin(best, ("requests",), test)
    for r in range(len(best["requests"])):
        best = _ddmin(best, ("requests", r, "chunks"), test)
    return best


def _tools(best: Data, test: _Tester) -> Data:
    for name in list(best.get("tools") or {}):
        if test(candidate := _without(best, "tools", name)):
            best = candidate
    return best


def _simpler_items(item: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if item.get("delay"):
        out.append({k: v for k, v in item.items() if k != "delay"})
    for key in ("text", "reasoning"):
        if isinstance(item.get(key), str) and len(item[key]) > 1:
            out.append({**item, key: item[key][0]})
    if "signature" in item:
        out.append({k: v for k, v in item.items() if k != "signature"})
    args = item.get("tool_call_args")
    if args and len(args["delta"]) > 1:
        out.append({**item, "tool_call_args": {**args, "delta": args["delta"][0]}})
    call = item.get("tool_call")
    if call and set(call) - {"name", "id", "index", "end"}:
        out.append({**item, "tool_call": {k: v for k, v in call.items() if k in ("name", "id")}})
    error = item.get("error")
    if error and error.get("message"):
        out.append({**item, "error": {k: v for k, v in error.items() if k != "message"}})
    return out


def _simplify(best: Data, test: _Tester) -> Data:
    for r, request in enumerate(best["requests"]):
        for c in range(len(request["chunks"])):
            for simpler in _simpler_items(best["requests"][r]["chunks"][c]):
                candidate = copy.deepcopy(best)
                candidate["requests"][r]["chunks"][c] = simpler
                if test(candidate):
                    best = candidate
                    break
    for name, script in list((best.get("tools") or {}).items()):
        for key in ("description", "delay"):
            if key in script and test(candidate := _without(best, "tools", name, key)):
                best = candidate
    return best


_PASSES = (_sections, _requests, _tools, _simplify)


def shrink_data(data: Data, still_fails: Callable[[Data], bool], *, max_runs: int = 2_000) -> Data:
    """The smallest variant of `data` this greedy search finds for which `still_fails` holds."""
    test = _Tester(still_fails, max_runs)
    best = copy.deepcopy(data)
    while True:
        before = best
        for step in _PASSES:
            best = step(best, test)
        if best == before or test.runs >= max_runs:
            return best


def fit_to_reference(data: Data, still_fails: Callable[[Data], bool]) -> Data:
    """`data` with its script fitted to what the reference loop requests, if it still fails.

    A shrunk reproducer often leaves the reference loop a request short (the loop under test
    stopped earlier) or with requests it never makes; fitting appends a plain answer (or else a
    provider error) or drops the unused tail, so that the reference loop passes the file and
    only the loop under test fails it. Kept only where `still_fails` still holds.
    """
    for _ in range(3):
        problems = run_guarded(data).problems
        unused = [int(m[1]) for p in problems if (m := _UNUSED.match(p))]
        candidates = [copy.deepcopy(data)]
        if unused:
            del candidates[0]["requests"][min(unused) :]
        elif any("beyond the script" in p for p in problems):
            candidates.append(copy.deepcopy(data))
            for candidate, ending in zip(candidates, _ENDINGS, strict=True):
                candidate["requests"].append(copy.deepcopy(ending))
        else:
            return data
        fitted = next((c for c in candidates if still_fails(c)), None)
        if fitted is None:
            return data
        data = fitted
    return data


_REQUEST_CHECK = re.compile(r"^request (\d+): expected ")


def drop_failed_request_checks(data: Data) -> Data:
    """`data` without the per-request `expect` checks the reference loop fails.

    Shrinking drops sections, requests and messages around such checks (a dropped system
    prompt changes every message count), and a check the reference loop fails would make the
    file fail for every loop. Request checks never change the run, so dropping one cannot
    change how the loop under test fails.
    """
    out = copy.deepcopy(data)
    for _ in range(3):
        failed = {int(m[1]) for p in run_guarded(out).problems if (m := _REQUEST_CHECK.match(p))}
        requests = out.get("requests") or []
        failed = {n for n in failed if 1 <= n <= len(requests) and "expect" in requests[n - 1]}
        if not failed:
            return out
        for number in failed:
            del requests[number - 1]["expect"]
    return out


def signature(result: RunResult) -> set[str]:
    """How a run failed: invariant ids, ``crash``, ``expect:<field>``, or ``script``."""
    ids = {v.invariant for v in result.violations}
    if crashed(result):
        ids.add("harness" if result.harness else "crash")
    ids |= {"expect:" + m.split(":", 1)[0] for m in result.mismatches}
    if not ids and result.problems:
        ids.add("script")
    return ids


def shrink_failing(
    data: Data,
    *,
    loop: LoopFactory | None = None,
    max_runs: int = 2_000,
    budget: float | None = None,
    max_events: int | None = None,
) -> tuple[Data, RunResult]:
    """Minimize `data` while `loop` keeps failing it the same way; returns it and its run.

    If `data` does not fail at all, it is returned as it is (check `result.passed`). `budget`
    and `max_events` guard each run of `loop` (`agentsim.harness._guard`).
    """
    limits = Limits.of(budget, max_events)
    first = run_guarded(data, loop=loop, limits=limits)
    target = signature(first)
    if not target:
        return data, first
    primary = min(target)
    differential = loop is not None and (":" in primary or primary == "script")
    if differential and not run_guarded(data).passed:
        differential = False  # the reference loop fails it too: nothing to hold on to

    def still_fails(candidate: Data) -> bool:
        if primary not in signature(run_guarded(candidate, loop=loop, limits=limits)):
            return False
        return not differential or run_guarded(candidate).passed

    small = shrink_data(data, still_fails, max_runs=max_runs)
    if not differential:
        small = drop_failed_request_checks(fit_to_reference(small, still_fails))
    return small, run_guarded(small, loop=loop, limits=limits)
