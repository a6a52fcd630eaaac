"""The search behind ``agentsim fuzz``: hypothesis looks for a failing case of each property,
shrinks it, and the failure is polished by delta debugging and saved as a reproducer.

One property at a time, `search` runs `hypothesis.find` with the property's strategy
(`agentsim.fuzz._strategies`) and a condition that runs the loop
(`agentsim.fuzz._properties.CHECKS`). The
first failure found fixes the target (its property and invariant ids); shrinking only keeps
cases that fail the same way, and the search repeats, skipping known targets, up to
`max_failures` distinct failures a property. Then `polish` runs `agentsim.fuzz._shrink` over the
shrunk case's scenario data - hypothesis shrinks the choices that generated it, delta debugging
what those choices cannot express (an unused request, a chunk nobody needs) - and
`write_reproducer` saves it.

Budgets: ``examples`` is the number of generated cases for ``run``; the metamorphic properties
run two simulations a case and get half as many, the cancellation sweep (one run per chunk
boundary and tool) a tenth. With a fixed ``seed`` a fuzz run is reproducible; without one a
random seed is drawn and reported. No example database is used: `--seed` is the replay key.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hypothesis import find
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from agentsim.fuzz._isolation import isolated_search, search_settings
from agentsim.fuzz._properties import (
    CHECKS,
    Case,
    Failure,
    LoopFactory,
    load_loop,
    write_reproducer,
)
from agentsim.fuzz._shrink import drop_failed_request_checks, fit_to_reference, shrink_data
from agentsim.fuzz._strategies import scenarios
from agentsim.harness._guard import Limits

__all__ = ["PROPERTIES", "FuzzReport", "Search", "fuzz", "polish", "search"]

Progress = Callable[[str, int, int, int], None]


@dataclass(frozen=True, slots=True)
class _Property:
    strategy: st.SearchStrategy[Case]
    share: float  # of the `examples` budget
    what: str
    param: st.SearchStrategy[Any]  # the case's second part, for a caller's own scenario data


_NONE = st.just(None)
_SEEDS = st.integers(0, 2**16)
_FACTORS = st.sampled_from((2.0, 3.5, 10.0))
PROPERTIES: dict[str, _Property] = {
    "run": _Property(st.tuples(scenarios(), _NONE), 1.0, "every invariant over a run", _NONE),
    "sweep": _Property(
        st.tuples(scenarios(cancellation=False), _NONE),
        0.1,
        "every invariant at every cancellation point",
        _NONE,
    ),
    "M1": _Property(
        st.tuples(scenarios(metamorphic=True), _SEEDS),
        0.5,
        "re-chunking changes only the deltas",
        _SEEDS,
    ),
    "M2": _Property(st.tuples(scenarios(), _NONE), 0.5, "same seed, same bytes", _NONE),
    "M3": _Property(
        st.tuples(scenarios(metamorphic=True), _FACTORS),
        0.5,
        "stretched delays change only t",
        _FACTORS,
    ),
}


@dataclass(frozen=True, slots=True)
class Search:
    """One search: the failure (shrunk) if any, and how many cases were generated to find it."""

    failure: Failure | None
    examples: int


def search(
    prop: str,
    loop: LoopFactory | None,
    *,
    examples: int,
    seed: int,
    skip: frozenset[str] = frozenset(),
    shrink: bool = True,
    progress: Progress | None = None,
    strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    limits: Limits | None = None,
) -> Search:
    """Look for a case failing property `prop` whose key is not in `skip`.

    `strategy` draws the scenario data instead of the property's own generator: for a loop
    that supports only part of what agentsim generates, ``scenarios(inject_faults=False, ...)``.
    """
    check = CHECKS[prop]
    guard = limits if limits is not None else Limits()
    target: str | None = None
    count = 0

    costly: list[Case] = []  # the first case, when each try costs the whole wall-clock budget

    def condition(case: Case) -> bool:
        nonlocal target, count
        if target is None:
            count += 1
            if progress is not None:
                progress(prop, count, examples, 0)
        elif costly:
            return case == costly[0]  # no shrinking; hypothesis' replay of it still holds
        failure = check(case, loop, guard)
        if failure is None or failure.key in skip:
            return False
        if target is None:
            target = failure.key
            if failure.costly:
                costly.append(case)
        return failure.key == target

    config = search_settings(max_examples=examples, shrink=shrink)
    cases = PROPERTIES[prop].strategy
    if strategy is not None:
        cases = st.tuples(strategy, PROPERTIES[prop].param)
    try:
        with isolated_search():
            case = find(cases, condition, settings=config, random=random.Random(seed))
    except NoSuchExample:
        return Search(None, count)
    return Search(check(case, loop, guard), count)


def polish(
    failure: Failure,
    loop: LoopFactory | None,
    *,
    max_runs: int = 2_000,
    limits: Limits | None = None,
) -> Failure:
    """`failure` with its scenario minimized further by delta debugging (`fuzz._shrink`)."""
    guard = limits if limits is not None else Limits()
    if failure.costly:
        return failure  # every run of it takes the whole budget
    single = failure.prop in ("run", "sweep") or failure.crash is not None
    check = CHECKS["run" if single else failure.prop]
    data, param = (failure.reproducer if single else failure.case[0]), failure.case[1]
    primary = failure.ids[0]

    def still_fails(candidate: dict[str, Any]) -> bool:
        again = check((candidate, param), loop, guard)
        if again is None:
            return False
        return again.key == failure.key if failure.crash else primary in again.ids

    def still_broken(candidate: dict[str, Any]) -> bool:
        return check((candidate, param), loop, guard) is not None

    small = shrink_data(data, still_fails, max_runs=max_runs)
    if single:
        # Only the script's tail changes here, so any failure is still this one (an H2 after a
        # failure may well become an H1 once the run can complete).
        small = drop_failed_request_checks(fit_to_reference(small, still_broken))
    again = check((small, param), loop, guard)
    return failure if again is None else replace(again, prop=failure.prop)


@dataclass(slots=True)
class FuzzReport:
    """What a fuzz run did: cases per property, the failures and where they were written."""

    loop: str | None
    seed: int
    examples: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[Failure, Path]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


def fuzz(
    loop: str | None = None,
    *,
    examples: int = 1_000,
    seed: int | None = None,
    out: str | Path = "fuzz-failures",
    properties: Sequence[str] = tuple(PROPERTIES),
    max_failures: int = 3,
    shrink: bool = True,
    progress: Progress | None = None,
    strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    budget: float | None = None,
    max_events: int | None = None,
) -> FuzzReport:
    """Fuzz `loop` (``module:factory``; None: the reference loop) with every property
    (`strategy`: the scenario data to draw from, as for `search`; `budget` and `max_events`:
    the guard of each run, `agentsim.harness._guard`)."""
    limits = Limits.of(budget, max_events)
    factory = load_loop(loop) if loop is not None else None
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    report = FuzzReport(loop, seed)
    started = time.perf_counter()

    def tick(prop: str, count: int, budget: int, _: int) -> None:
        if progress is not None:
            progress(prop, count, budget, len(report.failures))

    known: set[str] = set()  # failure keys found so far: a crash is one whatever found it
    written: set[Path] = set()
    for prop in properties:
        budget = max(1, round(examples * PROPERTIES[prop].share))
        report.examples[prop] = 0
        for attempt in range(max_failures):
            remaining = budget - report.examples[prop]  # the budget bounds every search
            if remaining <= 0:
                break
            found = search(
                prop,
                factory,
                examples=remaining,
                seed=seed + attempt,
                skip=frozenset(known),
                shrink=shrink,
                progress=tick,
                strategy=strategy,
                limits=limits,
            )
            report.examples[prop] += found.examples
            if found.failure is None:
                break
            failure = polish(found.failure, factory, limits=limits) if shrink else found.failure
            duplicate = failure.key in known and failure.key != found.failure.key
            known |= {found.failure.key, failure.key}
            if duplicate:
                continue  # it shrank into a failure already reported
            path = write_reproducer(failure, out, loop=loop, seed=seed)
            if path in written:
                continue
            written.add(path)
            report.failures.append((failure, path))
            tick(prop, report.examples[prop], budget, 0)
    report.seconds = time.perf_counter() - started
    return report
