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
`agentsim.fuzz._campaign` saves it (`write_reproducer`).

Budgets: ``examples`` is the number of generated cases for ``run``; the metamorphic properties
run two simulations a case and get half as many, the cancellation sweep (one run per chunk
boundary and tool) a tenth. With a fixed ``seed`` a fuzz run is reproducible; without one a
random seed is drawn and reported. Without a database nothing is stored: `--seed` is the replay
key. With one (`agentsim.fuzz._database`: ``dir:PATH`` or ``redis://...``), hypothesis replays the
cases stored under the loop's and property's key before generating new ones (its ``reuse``
phase), and stores the failures it shrinks to, so a campaign remembers what it found; a failure
found among the stored cases is reported as replayed. ``workers`` spreads a fuzz run over
processes (`agentsim.fuzz._workers`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import NoSuchExample

from agentsim.fuzz._database import database_key
from agentsim.fuzz._properties import (
    CHECKS,
    Case,
    Failure,
    LoopFactory,
)
from agentsim.fuzz._shrink import fit_to_reference, shrink_data
from agentsim.fuzz._strategies import scenarios

__all__ = ["PROPERTIES", "FuzzReport", "Search", "polish", "search", "search_all"]

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


class _Found(Exception):
    """Raised inside the hypothesis test when the condition holds (as `hypothesis.find` does)."""


def _find(
    cases: st.SearchStrategy[Case],
    condition: Callable[[Case], bool],
    *,
    config: settings,
    seed: int,
    key: bytes | None,
) -> Case:
    """`hypothesis.find` with a seed AND a database: `find(random=...)` applies `@seed`, which
    switches the database off, so the seed is set the way `@seed` sets it and the key the way
    `find` does. With no database this draws exactly the cases `find` would."""
    found: list[Case] = []
    config = settings(config, suppress_health_check=list(HealthCheck), report_multiple_bugs=False)

    @config
    @given(cases)
    def test(case: Case) -> None:
        if condition(case):
            found[:] = [case]
            raise _Found

    test._hypothesis_internal_use_seed = random.Random(seed).getrandbits(64)  # type: ignore[attr-defined]
    test._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    try:
        test()
    except _Found:
        return found[0]
    raise NoSuchExample(f"no failing case in {config.max_examples} examples")


@dataclass(frozen=True, slots=True)
class Search:
    """One search: the failure (shrunk) if any, how many cases were tried to find it, and
    whether it was one of the cases the database already held."""

    failure: Failure | None
    examples: int
    replayed: bool = False


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
    database: ExampleDatabase | None = None,
    key: bytes | None = None,
) -> Search:
    """Look for a case failing property `prop` whose key is not in `skip`.

    `strategy` draws the scenario data instead of the property's own generator: for a loop
    that supports only part of what agentsim generates, ``scenarios(inject_faults=False, ...)``.
    With a `database`, the cases stored under `key` are tried first and failures are stored.
    """
    check = CHECKS[prop]
    target: str | None = None
    count = 0

    def condition(case: Case) -> bool:
        nonlocal target, count
        if target is None:
            count += 1
            if progress is not None:
                progress(prop, count, examples, 0)
        failure = check(case, loop)
        if failure is None or failure.key in skip:
            return False
        target = target or failure.key
        return failure.key == target

    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
    stored = 0
    if database is not None:
        phases = (Phase.reuse, *phases)
        stored = sum(1 for _ in database.fetch(key or b""))
    config = settings(max_examples=examples, database=database, deadline=None, phases=phases)
    try:
        cases = PROPERTIES[prop].strategy
        if strategy is not None:
            cases = st.tuples(strategy, PROPERTIES[prop].param)
        case = _find(cases, condition, config=config, seed=seed, key=key)
    except NoSuchExample:
        return Search(None, count)
    return Search(check(case, loop), count, replayed=0 < count <= stored)


def polish(failure: Failure, loop: LoopFactory | None, *, max_runs: int = 2_000) -> Failure:
    """`failure` with its scenario minimized further by delta debugging (`fuzz._shrink`)."""
    single = failure.prop in ("run", "sweep")
    check = CHECKS["run" if single else failure.prop]
    data, param = (failure.reproducer if single else failure.case[0]), failure.case[1]
    primary = failure.ids[0]

    def still_fails(candidate: dict[str, Any]) -> bool:
        again = check((candidate, param), loop)
        return again is not None and primary in again.ids

    def still_broken(candidate: dict[str, Any]) -> bool:
        return check((candidate, param), loop) is not None

    small = shrink_data(data, still_fails, max_runs=max_runs)
    if single:
        # Only the script's tail changes here, so any failure is still this one (an H2 after a
        # failure may well become an H1 once the run can complete).
        small = fit_to_reference(small, still_broken)
    again = check((small, param), loop)
    return failure if again is None else replace(again, prop=failure.prop)


@dataclass(slots=True)
class FuzzReport:
    """What a fuzz run did: cases per property, the failures and where they were written."""

    loop: str | None
    seed: int
    examples: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[Failure, Path]] = field(default_factory=list)
    seconds: float = 0.0
    replayed: set[str] = field(default_factory=set)  # keys of failures the database held
    database: str | None = None
    workers: int = 1

    @property
    def passed(self) -> bool:
        return not self.failures


def search_all(
    loop: str | None,
    factory: LoopFactory | None,
    report: FuzzReport,
    *,
    examples: int,
    seed: int,
    properties: Sequence[str],
    max_failures: int,
    shrink: bool,
    progress: Progress | None = None,
    strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    database: ExampleDatabase | None = None,
) -> Iterator[tuple[Failure, bool]]:
    """Search every property in turn, counting cases in `report.examples`; yields each distinct
    failure (polished unless `shrink` is off) and whether the database held it."""
    found_so_far = 0

    def tick(prop: str, count: int, budget: int, _: int) -> None:
        if progress is not None:
            progress(prop, count, budget, found_so_far)

    for prop in properties:
        budget = max(1, round(examples * PROPERTIES[prop].share))
        skip: set[str] = set()
        report.examples[prop] = 0
        for attempt in range(max_failures):
            found = search(
                prop,
                factory,
                examples=budget,
                seed=seed + attempt,
                skip=frozenset(skip),
                shrink=shrink,
                progress=tick,
                strategy=strategy,
                database=database,
                key=database_key(loop, prop, attempt),
            )
            report.examples[prop] += found.examples
            if found.failure is None:
                break
            failure = polish(found.failure, factory) if shrink else found.failure
            skip |= {found.failure.key, failure.key}
            found_so_far += 1
            yield failure, found.replayed
            tick(prop, found.examples, budget, 0)
