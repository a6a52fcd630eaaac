"""A fuzz run, as ``agentsim fuzz`` makes it: every property searched in turn (`_search`), each
distinct failure polished and written as a reproducer, in one process or spread over several
(`_workers`), with an example database or none (`_database`).

No vacuous passes. Script deviations ("request never made") are not failures by design, so a
loop whose provider calls never reach agentsim (an SDK that refuses every request for want of an
API key, a client whose base URL is not intercepted) would "pass" every case. Before searching,
one probe run plays the simplest answer (text, then a finish) to the loop; if it made no provider
request the campaign fails at once with one message naming the likely causes and what the run
ended with (the SDK's own error is usually there). One run, not a count over the cases: the
cases' runs happen inside the property checks, and a loop that requests nothing for "hello"
requests nothing for the generated inputs either. A probe run that crashed (raised, hung, ran
away) is left to the search, which reports that misbehaviour as the finding it is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agentsim.adapters._loops import offered_tool_names
from agentsim.core._errors import InputError
from agentsim.fuzz._coverage import Coverage
from agentsim.fuzz._database import open_database
from agentsim.fuzz._properties import LoopFactory, load_loop, run_guarded, write_reproducer
from agentsim.fuzz._search import PROPERTIES, FuzzReport, Progress, loop_features, search_all
from agentsim.fuzz._workers import fuzz_in_workers
from agentsim.harness._guard import Limits
from agentsim.harness._result import describe_outcome

__all__ = ["fuzz", "unreached"]

_PROBE: dict[str, Any] = {
    "input": "Hello",
    "requests": [{"chunks": [{"text": "Hi there."}, {"finish": "stop"}]}],
}


def unreached(factory: LoopFactory, *, limits: Limits | None = None) -> str | None:
    """Why fuzzing `factory` would be vacuous, or None: one probe run (the simplest answer)
    that made no provider request is a message naming the likely cause."""
    result = run_guarded(_PROBE, loop=factory, limits=limits)
    if result.requests is None or result.requests:
        return None  # it asked (or its provider keeps no record: nothing to say)
    if result.crash is not None:
        return None  # it raised, hung or ran away: that is a finding, the search reports it
    ended = describe_outcome(result.outcome)
    if result.violations:
        ended += f"; {result.violations[0]}"
    return (
        "no provider request reached agentsim: a probe run with the simplest answer made none, "
        "so every case would pass without testing anything. Likely causes: a missing API key "
        "(the SDK refuses to send; set e.g. OPENAI_API_KEY / ANTHROPIC_API_KEY / GEMINI_API_KEY "
        "to any value), or a base URL that is not intercepted (name it in the adapter's "
        f"base_urls=). The probe run {ended}"
    )


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
    database: str | None = None,
    workers: int = 1,
    budget: float | None = None,
    max_events: int | None = None,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
    coverage: bool = False,
) -> FuzzReport:
    """Fuzz `loop` (``module:factory``; None: the reference loop) with every property
    (`strategy`: the scenario data to draw from, as for `search`), keeping what is found in
    `database` (a URL: ``dir:PATH`` or ``redis://host:port/db``) and spreading the cases over
    `workers` processes; `budget` and `max_events`: the guard of each run,
    `agentsim.harness._guard`), generating only what the loop declares (`features` overrides
    the declaration; see `loop_features`) with calls naming `tool_names`; with `coverage`, the
    report counts what was generated (one process only)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise InputError(f"expected a whole number >= 1, got {workers!r}", path="--workers")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    if workers > 1:
        factory = load_loop(loop) if loop is not None else None
        problem = unreached(factory) if factory is not None else None
        if problem is not None:
            report = FuzzReport(loop, seed, database=database, workers=workers)
            report.problems.append(problem)
            return report
        if strategy is not None or coverage:
            raise InputError(
                "a custom strategy or coverage runs in one process only", path="--workers"
            )
        return fuzz_in_workers(
            loop,
            workers=workers,
            examples=examples,
            seed=seed,
            out=out,
            properties=properties,
            max_failures=max_failures,
            shrink=shrink,
            database=database,
            budget=budget,
            max_events=max_events,
            features=features,
            tool_names=tool_names,
        )
    limits = Limits.of(budget, max_events)
    factory = load_loop(loop) if loop is not None else None
    if tool_names is None and factory is not None:  # an adapter's own tools, learned by a probe
        tool_names = offered_tool_names(factory()) or None
    chosen, source = loop_features(factory, features)
    db = open_database(database) if database is not None else None
    report = FuzzReport(loop, seed, database=database, features=chosen, features_source=source)
    if coverage:
        report.coverage = Coverage()
    started = time.perf_counter()
    problem = unreached(factory, limits=limits) if factory is not None else None
    if problem is not None:
        report.problems.append(problem)
        report.seconds = time.perf_counter() - started
        return report
    for failure, replayed in search_all(
        loop,
        factory,
        report,
        examples=examples,
        seed=seed,
        properties=properties,
        max_failures=max_failures,
        shrink=shrink,
        progress=progress,
        strategy=strategy,
        limits=limits,
        database=db,
        features=chosen,
        tool_names=tool_names,
        observe=report.coverage.add if report.coverage is not None else None,
    ):
        path = write_reproducer(failure, out, loop=loop, seed=seed)
        if any(path == written for _, written in report.failures):
            continue  # two failures with the same reproducer are one
        report.failures.append((failure, path))
        if replayed:
            report.replayed.add(failure.key)
    report.seconds = time.perf_counter() - started
    return report
