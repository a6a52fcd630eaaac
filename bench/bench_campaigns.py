"""Fuzz campaigns (issue #14): examples per second with 1 and 2 worker processes on the reference
loop and their efficiency (rate with 2 / (2 x rate with 1); 1.0 is perfect scaling, and a
machine with fewer free cores than workers cannot reach it), then the wall time of a second
campaign that re-finds every failure of a first one from a shared example database, against
the first campaign's time.

    python bench/bench_campaigns.py [--examples N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the buggy loops live in tests/, importable as `tests.buggy_loops`

from agentsim.fuzz._campaign import fuzz  # noqa: E402

BUGGY = "tests.buggy_loops:partial_text_lost"


def _rate(workers: int, examples: int, out: Path) -> float:
    started = time.perf_counter()
    report = fuzz(None, examples=examples, seed=1, out=out, properties=["run"], workers=workers)
    assert report.passed, "the reference loop failed a property"
    return report.examples["run"] / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2_000)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        one = _rate(1, args.examples, out / "one")
        two = _rate(2, args.examples, out / "two")
        print(f"1 worker : {one:8.0f} examples/s (run property, reference loop)")
        print(f"2 workers: {two:8.0f} examples/s  (processes spawned, included)")
        print(f"efficiency 2 workers: {two / (2 * one):.2f}  (cores: {os.cpu_count()})")

        db = f"dir:{out / 'db'}"
        started = time.perf_counter()
        # One failure a property: the second campaign's work is then re-finding it.
        first = fuzz(BUGGY, examples=1_000, seed=1, out=out / "a", database=db, max_failures=1)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = fuzz(BUGGY, examples=1_000, seed=2, out=out / "b", database=db, max_failures=1)
        second_s = time.perf_counter() - started
        found = {f.key for f, _ in first.failures}
        refound = found & second.replayed
        print(
            f"campaign 1 found {len(found)} failure(s) of {BUGGY} in {first_s:.2f}s; "
            f"campaign 2 re-found {len(refound)} of them from the database in {second_s:.2f}s "
            f"(ratio {second_s / first_s:.2f})"
        )


if __name__ == "__main__":
    main()
