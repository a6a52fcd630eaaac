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
cases stored under the loop's, property's and search's key before generating new ones (its
``reuse`` phase), and stores the failures it shrinks to, so a campaign remembers what it found; a
failure found among the stored cases is reported as replayed.

Features (DESIGN §9): `fuzz` generates only what the loop declares (its ``features``, or
``features=`` to override; a loop that declares nothing is fuzzed as implementing them all, and
the report says so), and skips a property that needs a feature the loop lacks (the
cancellation sweep without ``cancellation``). ``coverage=True`` counts the shapes and §3 rules
of every generated case (`agentsim.fuzz._coverage`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Flaky, NoSuchExample

from agentsim.fuzz._coverage import Coverage
from agentsim.fuzz._database import database_key
from agentsim.fuzz._isolation import isolated_search, search_settings
from agentsim.fuzz._properties import CHECKS, Case, Failure, LoopFactory
from agentsim.fuzz._shrink import drop_failed_request_checks, fit_to_reference, shrink_data
from agentsim.fuzz._strategies import resolve_features, scenarios
from agentsim.harness._guard import Limits
from agentsim.loop._features import ALL_FEATURES, FEATURE_NAMES, Feature, declared_features

__all__ = [
    "PROPERTIES",
    "FuzzReport",
    "Search",
    "loop_features",
    "polish",
    "property_cases",
    "search",
    "search_all",
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
    limits: Limits | None = None,
    database: ExampleDatabase | None = None,
    key: bytes | None = None,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
    observe: Callable[[dict[str, Any]], None] | None = None,
) -> Search:
    """Look for a case failing property `prop` whose key is not in `skip`.

    The cases are generated for a loop with `features` (default: all) offering `tool_names`
    (see `property_cases`); `strategy` draws the scenario data instead, for any other
    restriction (``scenarios(inject_faults=False, ...)``). `observe` sees the scenario data of
    every case generated before the first failure (what ``--coverage`` counts).
    With a `database`, the cases stored under `key` are tried first and failures are stored.
    """
    check = CHECKS[prop]
    guard = limits if limits is not None else Limits()
    target: str | None = None
    count = 0

    costly: list[Case] = []  # the first case, when each try costs the whole wall-clock budget
    # The last failure of the target seen: what is reported should the loop not fail the same
    # way again when hypothesis replays the case (a nondeterministic loop).
    seen: list[Failure] = []

    def condition(case: Case) -> bool:
        nonlocal target, count
        if target is None:
            count += 1
            if observe is not None:
                observe(case[0])
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
        if failure.key == target:
            seen[:] = [failure]
        return failure.key == target

    config = search_settings(max_examples=examples, shrink=shrink)
    stored = 0
    if database is not None:
        config = settings(config, database=database, phases=(Phase.reuse, *config.phases))
        stored = sum(1 for _ in database.fetch(key or b""))
    cases = property_cases(prop, features=features, tool_names=tool_names)
    if strategy is not None:
        cases = st.tuples(strategy, PROPERTIES[prop].param)
    try:
        with isolated_search():
            case = _find(cases, condition, config=config, seed=seed, key=key)
    except NoSuchExample:
        return Search(None, count)
    except Flaky:
        # Hypothesis replayed the failing case and the loop passed it: the loop is not
        # deterministic under a fixed seed. That is a finding, reported with the case it failed
        # on, never a traceback.
        if not seen:
            raise
        again = check(seen[0].case, loop, guard)
        if again is not None and again.key == target:
            return Search(again, count)
        return Search(replace(seen[0], note=_FLAKY_NOTE), count)
    return Search(check(case, loop, guard), count, replayed=0 < count <= stored)


_FLAKY_NOTE = (
    "flaky: the loop failed this case once and passed it when it was run again, so it is not "
    "deterministic under a fixed seed (state kept between runs, real time, real randomness or "
    "threads); the reproducer may not fail every time"
)


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
    replayed: set[str] = field(default_factory=set)  # keys of failures the database held
    database: str | None = None
    workers: int = 1
    problems: list[str] = field(default_factory=list)  # the campaign itself failed (vacuous)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.problems

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
    limits: Limits | None = None,
    database: ExampleDatabase | None = None,
    features: frozenset[Feature] = ALL_FEATURES,
    tool_names: Sequence[str] | None = None,
    observe: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[tuple[Failure, bool]]:
    """Search every property in turn, counting cases in `report.examples` (each property's
    searches share its budget); yields each distinct failure (polished unless `shrink` is off)
    and whether the database held it. A failure that shrinks into one already yielded is not
    yielded again. Cases are generated for a loop with `features` offering `tool_names`; a
    property needing a feature outside `features` is skipped (`report.skipped`)."""
    found_so_far = 0

    def tick(prop: str, count: int, budget: int, _: int) -> None:
        if progress is not None:
            progress(prop, count, budget, found_so_far)

    known: set[str] = set()  # failure keys found so far: a crash is one whatever found it
    for prop in properties:
        missing = PROPERTIES[prop].needs - features
        if missing:
            report.skipped[prop] = missing
            continue
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
                features=features,
                tool_names=tool_names,
                observe=observe,
                limits=limits,
                database=database,
                key=database_key(loop, prop, attempt),
            )
            report.examples[prop] += found.examples
            if found.failure is None:
                break
            failure = polish(found.failure, factory, limits=limits) if shrink else found.failure
            duplicate = failure.key in known and failure.key != found.failure.key
            known |= {found.failure.key, failure.key}
            if duplicate:
                continue  # it shrank into a failure already reported
            found_so_far += 1
            yield failure, found.replayed
            tick(prop, report.examples[prop], budget, 0)
