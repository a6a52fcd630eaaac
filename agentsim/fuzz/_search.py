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

Features (DESIGN §9): `fuzz` generates only what the loop declares (its ``features``, or
``features=`` to override; a loop that declares nothing is fuzzed as implementing them all, and
the report says so), and skips a property that needs a feature the loop lacks (the
cancellation sweep without ``cancellation``). ``coverage=True`` counts the shapes and §3 rules
of every generated case (`agentsim.fuzz._coverage`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hypothesis import Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from agentsim.fuzz._coverage import Coverage
from agentsim.fuzz._properties import (
    CHECKS,
    Case,
    Failure,
    LoopFactory,
    load_loop,
    write_reproducer,
)
from agentsim.fuzz._shrink import fit_to_reference, shrink_data
from agentsim.fuzz._strategies import resolve_features, scenarios
from agentsim.loop._features import ALL_FEATURES, FEATURE_NAMES, Feature, declared_features

__all__ = [
    "PROPERTIES",
    "FuzzReport",
    "Search",
    "fuzz",
    "loop_features",
    "polish",
    "property_cases",
    "search",
]

Progress = Callable[[str, int, int, int], None]


@dataclass(frozen=True, slots=True)
class _Property:
    strategy: st.SearchStrategy[Case]  # for a loop with every feature
    share: float  # of the `examples` budget
    what: str
    param: st.SearchStrategy[Any]  # the case's second part, for a caller's own scenario data
    metamorphic: bool = False  # `scenarios()` switches of its cases
    cancellation: bool = True
    needs: frozenset[Feature] = frozenset()  # what a loop must declare for it to apply


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
        cancellation=False,
        needs=frozenset({"cancellation"}),
    ),
    "M1": _Property(
        st.tuples(scenarios(metamorphic=True), _SEEDS),
        0.5,
        "re-chunking changes only the deltas",
        _SEEDS,
        metamorphic=True,
    ),
    "M2": _Property(st.tuples(scenarios(), _NONE), 0.5, "same seed, same bytes", _NONE),
    "M3": _Property(
        st.tuples(scenarios(metamorphic=True), _FACTORS),
        0.5,
        "stretched delays change only t",
        _FACTORS,
        metamorphic=True,
    ),
}
_CASES: dict[tuple[str, frozenset[Feature], tuple[str, ...] | None], st.SearchStrategy[Case]] = {}


def property_cases(
    prop: str,
    *,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
) -> st.SearchStrategy[Case]:
    """The cases property `prop` draws for a loop with `features` (default: all) offering
    `tool_names` (default: agentsim's own tools)."""
    chosen = resolve_features(features)
    names = None if tool_names is None else tuple(tool_names)
    spec = PROPERTIES[prop]
    if chosen == ALL_FEATURES and names is None:
        return spec.strategy
    key = (prop, chosen, names)
    if key not in _CASES:
        data = scenarios(
            features=chosen,
            tool_names=names,
            metamorphic=spec.metamorphic,
            cancellation=spec.cancellation,
        )
        _CASES[key] = st.tuples(data, spec.param)
    return _CASES[key]


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
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
    observe: Callable[[dict[str, Any]], None] | None = None,
) -> Search:
    """Look for a case failing property `prop` whose key is not in `skip`.

    The cases are generated for a loop with `features` (default: all) offering `tool_names`
    (see `property_cases`); `strategy` draws the scenario data instead, for any other
    restriction (``scenarios(inject_faults=False, ...)``). `observe` sees the scenario data of
    every case generated before the first failure (what ``--coverage`` counts).
    """
    check = CHECKS[prop]
    target: str | None = None
    count = 0

    def condition(case: Case) -> bool:
        nonlocal target, count
        if target is None:
            count += 1
            if observe is not None:
                observe(case[0])
            if progress is not None:
                progress(prop, count, examples, 0)
        failure = check(case, loop)
        if failure is None or failure.key in skip:
            return False
        target = target or failure.key
        return failure.key == target

    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
    config = settings(max_examples=examples, database=None, deadline=None, phases=phases)
    try:
        cases = property_cases(prop, features=features, tool_names=tool_names)
        if strategy is not None:
            cases = st.tuples(strategy, PROPERTIES[prop].param)
        case = find(cases, condition, settings=config, random=random.Random(seed))
    except NoSuchExample:
        return Search(None, count)
    return Search(check(case, loop), count)


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


FeatureSource = Literal["declared", "given", "undeclared"]


@dataclass(slots=True)
class FuzzReport:
    """What a fuzz run did: cases per property, the failures and where they were written.

    `features` is what was fuzzed, and `features_source` where it came from: the loop's
    declaration, the caller's ``features=`` / ``--features``, or nothing declared (every
    feature). `skipped` names each property left out and the features it needs.
    """

    loop: str | None
    seed: int
    examples: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[Failure, Path]] = field(default_factory=list)
    seconds: float = 0.0
    features: frozenset[Feature] = ALL_FEATURES
    features_source: FeatureSource = "declared"
    skipped: dict[str, frozenset[Feature]] = field(default_factory=dict)
    coverage: Coverage | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def feature_line(self) -> str:
        """One line saying which features were fuzzed, and why those."""
        names = [name for name in FEATURE_NAMES if name in self.features]
        listed = ", ".join(names) or "none"
        if self.features_source == "undeclared":
            return (
                f"features: all ({listed}): the loop declares none, so it is fuzzed as having all"
            )
        if self.features == ALL_FEATURES:
            listed = f"all ({listed})"
        origin = "as given" if self.features_source == "given" else "as the loop declares"
        return f"features: {listed}, {origin}"


def loop_features(
    factory: LoopFactory | None, features: Iterable[str] | str | None = None
) -> tuple[frozenset[Feature], FeatureSource]:
    """The features to fuzz `factory` with (None: the reference loop, which has them all):
    `features` if given, else what the loop declares, else all of them."""
    if features is not None:
        return resolve_features(features, path="--features"), "given"
    declared = ALL_FEATURES if factory is None else declared_features(factory)
    if declared is None:
        return ALL_FEATURES, "undeclared"
    return declared, "declared"


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
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
    coverage: bool = False,
) -> FuzzReport:
    """Fuzz `loop` (``module:factory``; None: the reference loop) with every property
    (`strategy`: the scenario data to draw from, as for `search`), generating only what the
    loop declares (`features` overrides the declaration; see `loop_features`); with
    `coverage`, the report counts what was generated."""
    factory = load_loop(loop) if loop is not None else None
    chosen, source = loop_features(factory, features)
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    report = FuzzReport(loop, seed, features=chosen, features_source=source)
    if coverage:
        report.coverage = Coverage()
    observe = report.coverage.add if report.coverage is not None else None
    started = time.perf_counter()

    def tick(prop: str, count: int, budget: int, _: int) -> None:
        if progress is not None:
            progress(prop, count, budget, len(report.failures))

    for prop in properties:
        missing = PROPERTIES[prop].needs - chosen
        if missing:
            report.skipped[prop] = missing
            continue
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
                features=chosen,
                tool_names=tool_names,
                observe=observe,
            )
            report.examples[prop] += found.examples
            if found.failure is None:
                break
            failure = polish(found.failure, factory) if shrink else found.failure
            skip |= {found.failure.key, failure.key}
            path = write_reproducer(failure, out, loop=loop, seed=seed)
            report.failures.append((failure, path))
            tick(prop, found.examples, budget, 0)
    report.seconds = time.perf_counter() - started
    return report
