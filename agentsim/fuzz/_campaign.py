"""A fuzz run, as ``agentsim fuzz`` makes it: every property searched in turn (`_search`), each
distinct failure polished and written as a reproducer, in one process or spread over several
(`_workers`), with an example database or none (`_database`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agentsim.core._errors import InputError
from agentsim.fuzz._database import open_database
from agentsim.fuzz._properties import load_loop, write_reproducer
from agentsim.fuzz._search import PROPERTIES, FuzzReport, Progress, search_all
from agentsim.fuzz._workers import fuzz_in_workers

__all__ = ["fuzz"]


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
) -> FuzzReport:
    """Fuzz `loop` (``module:factory``; None: the reference loop) with every property
    (`strategy`: the scenario data to draw from, as for `search`), keeping what is found in
    `database` (a URL: ``dir:PATH`` or ``redis://host:port/db``) and spreading the cases over
    `workers` processes."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise InputError(f"expected a whole number >= 1, got {workers!r}", path="--workers")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    if workers > 1:
        if strategy is not None:
            raise InputError("a custom strategy runs in one process only", path="--workers")
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
        )
    factory = load_loop(loop) if loop is not None else None
    db = open_database(database) if database is not None else None
    report = FuzzReport(loop, seed, database=database)
    started = time.perf_counter()
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
        database=db,
    ):
        path = write_reproducer(failure, out, loop=loop, seed=seed)
        report.failures.append((failure, path))
        if replayed:
            report.replayed.add(failure.key)
    report.seconds = time.perf_counter() - started
    return report
