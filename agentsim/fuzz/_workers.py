"""``agentsim fuzz --workers N``: one fuzz run spread over N processes, one merged report.

Worker ``w`` runs every property with its own seed (worker 0 the run's seed, so one worker is an
ordinary run; the others a hash of the seed and ``w``) and ``ceil(examples / N)`` cases, opening the
shared database itself when one is named. Workers only search; the parent merges their failures
in worker order, keeps the first of each failure key, and writes the reproducers - so the same
seed and N give the same cases and the same report, and nothing is written but ``--out``. Worker
processes are spawned fresh (no state inherited from the caller's process), which is also why the
loop must be named by a ``module:attr`` spec. Scheduling across machines is not agentsim's job:
HypoFuzz does that for the generated tests (`agentsim.testing.fuzz_tests`).
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from agentsim.fuzz._database import open_database
from agentsim.fuzz._properties import Failure, load_loop, write_reproducer
from agentsim.fuzz._search import FuzzReport, loop_features, search_all
from agentsim.harness._guard import Limits
from agentsim.loop._features import Feature

__all__ = ["fuzz_in_workers", "worker_seed"]


def worker_seed(seed: int, worker: int) -> int:
    """The seed of worker `worker` (0-based) of a run seeded `seed`."""
    if worker == 0:
        return seed
    digest = hashlib.sha256(f"agentsim-fuzz-worker/{seed}/{worker}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _work(
    loop: str | None, options: dict[str, Any]
) -> tuple[tuple[dict[str, int], dict[str, frozenset[Feature]]], list[tuple[Failure, bool]]]:
    factory = load_loop(loop) if loop is not None else None
    database = options.pop("database")
    report = FuzzReport(loop, options["seed"])
    found = list(
        search_all(
            loop,
            factory,
            report,
            database=open_database(database) if database is not None else None,
            **options,
        )
    )
    return (report.examples, report.skipped), found


def fuzz_in_workers(
    loop: str | None,
    *,
    workers: int,
    examples: int,
    seed: int,
    out: str | Path,
    properties: Sequence[str],
    max_failures: int,
    shrink: bool,
    database: str | None,
    budget: float | None = None,
    max_events: int | None = None,
    features: Iterable[str] | str | None = None,
    tool_names: Sequence[str] | None = None,
) -> FuzzReport:
    """`agentsim.fuzz._campaign.fuzz` over `workers` processes (see the module comment)."""
    if loop is not None:
        load_loop(loop)  # a spec that does not import is bad input here, not in a worker
    share = math.ceil(examples / workers)
    chosen, source = loop_features(load_loop(loop) if loop is not None else None, features)
    report = FuzzReport(
        loop,
        seed,
        database=database,
        workers=workers,
        features=chosen,
        features_source=source,
    )
    started = time.perf_counter()
    jobs = [
        {
            "examples": share,
            "seed": worker_seed(seed, w),
            "properties": tuple(properties),
            "max_failures": max_failures,
            "shrink": shrink,
            "database": database,
            "limits": Limits.of(budget, max_events),
            "features": chosen,
            "tool_names": None if tool_names is None else tuple(tool_names),
        }
        for w in range(workers)
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = list(pool.map(_work, [loop] * workers, jobs))
    seen: set[str] = set()
    for (counts, skipped), found in results:
        report.skipped.update(skipped)
        for prop, count in counts.items():
            report.examples[prop] = report.examples.get(prop, 0) + count
        for failure, replayed in found:
            if failure.key in seen:
                continue
            seen.add(failure.key)
            path = write_reproducer(failure, out, loop=loop, seed=seed)
            if any(path == written for _, written in report.failures):
                continue
            report.failures.append((failure, path))
            if replayed:
                report.replayed.add(failure.key)
    report.seconds = time.perf_counter() - started
    return report
