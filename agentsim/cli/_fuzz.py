"""``agentsim fuzz`` and ``agentsim shrink``: find a loop's bugs, and minimize a failing scenario.

Meant to be wired into `agentsim.cli._main`: `add_fuzz_commands` adds both sub-commands to the
parser's sub-parsers, each with ``handler`` set (``args.handler(args)`` returns the exit status).

- ``agentsim fuzz [--loop MODULE:FACTORY] [--examples N] [--seed S] [--out DIR]
  [--property P ...] [--max-failures K] [--no-shrink] [--budget S] [--max-events N]
  [--database URL] [--workers N] [--features A,B,...] [--coverage]`` runs the properties
  (``run``, ``sweep``, ``M1``, ``M2``, ``M3``; all by default) against the reference loop or the
  named one, generating only the features the loop declares (or those of ``--features``; a
  property needing an undeclared feature is skipped), prints progress on stderr, writes each
  shrunk failure into DIR as a reproducer scenario and prints a summary on stdout, with the
  features fuzzed and, with ``--coverage``, how often each stream shape and DESIGN §3 rule was
  generated. Exit status: 0 nothing failed, 1 something failed (the reproducers are written,
  each with its HTML timeline beside it), 2 bad input (a ``--loop`` that does not import, say).
- ``agentsim shrink FILE [--loop MODULE:FACTORY] [-o OUT] [--max-runs N]`` minimizes a
  scenario that the loop fails, by delta debugging (`agentsim.fuzz._shrink`), and writes it to OUT
  (default ``FILE`` with ``.min.yaml``). Exit status: 0 written, 1 the loop does not fail it
  (nothing to shrink), 2 bad input.

Fuzzing needs hypothesis (``pip install 'agentsim[fuzz]'``); shrinking does not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import yaml

from agentsim.cassettes._files import dump_yaml, write_text_atomic
from agentsim.cli._timeline import reproducer_timeline
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import CHECKS, load_loop, run_guarded
from agentsim.fuzz._shrink import shrink_failing
from agentsim.loop._features import FEATURE_NAMES, parse_features
from agentsim.scenario._schema import load_scenario

__all__ = ["add_fuzz_commands", "guard_options", "run_fuzz", "run_shrink"]

_PROPERTIES = {name.lower(): name for name in CHECKS}


def _whole(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


_count, _seed = _whole(1), _whole(0)


def _property(text: str) -> str:
    name = _PROPERTIES.get(text.lower())
    if name is None:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(CHECKS)}, got {text!r}")
    return name


def _features(text: str) -> str:
    try:
        parse_features(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def guard_options(parser: argparse.ArgumentParser) -> None:
    """``--budget`` and ``--max-events``: the guard of each run (`agentsim.harness._guard`)."""
    parser.add_argument(
        "--budget",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=(
            "wall-clock seconds one run may take before it fails as a spin or a hang "
            "(default 10; results of runs that end in time never depend on it)"
        ),
    )
    parser.add_argument(
        "--max-events",
        type=_count,
        default=None,
        metavar="N",
        help="events one run may emit before it fails as a runaway stream (default 100000)",
    )


def _loop_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        metavar="MODULE:FACTORY",
        default=None,
        help=(
            "the loop under test: a factory (or loop object) importable from the current "
            "directory, like tests.buggy_loops:partial_text_lost (default: the reference loop)"
        ),
    )


def add_fuzz_commands(subparsers: Any) -> None:
    """Add ``fuzz`` and ``shrink`` to an ``add_subparsers()`` object."""
    fuzz: argparse.ArgumentParser = subparsers.add_parser(
        "fuzz",
        help="generate scenarios and check a loop's invariants; save failures as reproducers",
        description=(
            "Generate scenarios with hypothesis (interleaved reasoning, text and parallel tool "
            "calls, arguments split anywhere, errors, truncations, stalls, hooks, limits, "
            "cancellations) and run the loop on each: every invariant over a run (run), at "
            "every cancellation point (sweep), re-chunking (M1), determinism (M2) and "
            "stretched delays (M3). Each failure is shrunk and written to DIR as a scenario "
            "that `agentsim run FILE --loop ...` replays."
        ),
        epilog="Exit status: 0 no failure, 1 failures (reproducers written), 2 bad input.",
    )
    _loop_option(fuzz)
    fuzz.add_argument(
        "--examples",
        type=_count,
        default=1_000,
        metavar="N",
        help="generated cases for `run` (the others get a share; default 1000)",
    )
    fuzz.add_argument(
        "--seed", type=_seed, default=None, metavar="S", help="seed (default: a random one)"
    )
    fuzz.add_argument(
        "--out",
        metavar="DIR",
        default="fuzz-failures",
        help="where reproducers go (default ./fuzz-failures)",
    )
    fuzz.add_argument(
        "--property",
        dest="properties",
        action="append",
        type=_property,
        metavar="P",
        help="run only this property (repeatable): " + ", ".join(CHECKS),
    )
    fuzz.add_argument(
        "--max-failures",
        type=_count,
        default=3,
        metavar="K",
        help="distinct failures to look for per property (default 3)",
    )
    fuzz.add_argument("--no-shrink", action="store_true", help="write failures unshrunk")
    fuzz.add_argument(
        "--features",
        type=_features,
        default=None,
        metavar="A,B,...",
        help=(
            "the features the loop implements, overriding its `features` declaration "
            "(default: the declaration; all if it declares none): " + ", ".join(FEATURE_NAMES)
        ),
    )
    fuzz.add_argument(
        "--coverage",
        action="store_true",
        help="also print how often each stream shape and DESIGN §3 rule was generated",
    )
    guard_options(fuzz)
    fuzz.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help=(
            "keep failures in a hypothesis example database and replay them first: dir:PATH or "
            "redis://host:port/db (default: none, nothing is stored)"
        ),
    )
    fuzz.add_argument(
        "--workers",
        type=_count,
        default=1,
        metavar="N",
        help="spread the cases over N processes with derived seeds (default 1)",
    )
    fuzz.set_defaults(handler=run_fuzz)

    shrink: argparse.ArgumentParser = subparsers.add_parser(
        "shrink",
        help="minimize a scenario that a loop fails",
        description=(
            "Minimize FILE, a scenario the loop fails, by delta debugging over its script "
            "(sections, requests, chunk items, tools, then simpler values), keeping only "
            "changes after which the loop still fails the same way."
        ),
        epilog="Exit status: 0 written, 1 the loop does not fail FILE, 2 bad input.",
    )
    shrink.add_argument("file", metavar="FILE", help="a scenario file the loop fails")
    _loop_option(shrink)
    shrink.add_argument(
        "-o", "--output", metavar="OUT", default=None, help="default: FILE with .min.yaml"
    )
    shrink.add_argument(
        "--max-runs", type=_count, default=2_000, metavar="N", help="runs at most (default 2000)"
    )
    guard_options(shrink)
    shrink.set_defaults(handler=run_shrink)


class _Ticker:
    """Progress on stderr: at most one line a second per property, and each new failure."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.last = 0.0
        self.failures = 0

    def __call__(self, prop: str, count: int, budget: int, failures: int) -> None:
        now = time.monotonic()
        if failures > self.failures or now - self.last >= 1.0:
            found = f" ({failures} failure(s) so far)" if failures else ""
            self.err.write(f"fuzz {prop}: {count}/{budget} cases{found}\n")
            self.err.flush()
            self.last, self.failures = now, max(failures, self.failures)


def run_fuzz(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``fuzz`` for parsed `args`; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        from agentsim.fuzz._campaign import fuzz
    except ImportError as exc:  # pragma: no cover - hypothesis is a test dependency here
        err.write(f"agentsim: error: fuzz needs hypothesis ({exc}); pip install 'agentsim[fuzz]'\n")
        return 2
    try:
        report = fuzz(
            args.loop,
            examples=args.examples,
            seed=args.seed,
            out=args.out,
            properties=args.properties or tuple(CHECKS),
            max_failures=args.max_failures,
            shrink=not args.no_shrink,
            progress=_Ticker(err) if args.workers == 1 else None,
            features=getattr(args, "features", None),
            coverage=getattr(args, "coverage", False),
            budget=args.budget,
            max_events=args.max_events,
            database=args.database,
            workers=args.workers,
        )
    except InputError as exc:
        err.write(f"agentsim: error: {exc}\n")
        return 2
    factory = load_loop(args.loop) if args.loop is not None and report.failures else None
    pages = [
        reproducer_timeline(
            f, p, loop=factory, spec=args.loop, budget=args.budget, max_events=args.max_events
        )
        for f, p in report.failures
    ]
    target = args.loop or "the reference loop"
    how = f" on {report.workers} workers" if report.workers > 1 else ""
    out.write(f"fuzzed {target} with seed {report.seed}{how} in {report.seconds:.1f}s\n")
    out.write(f"{report.feature_line()}\n")
    if report.database is not None:
        out.write(f"database {report.database}: {len(report.replayed)} failure(s) replayed\n")
    for prop, count in report.examples.items():
        failed = [f for f, _ in report.failures if f.prop == prop]
        out.write(f"  {prop:<5} {count:>6} cases  {len(failed) or 'no'} failure(s)\n")
    for prop, missing in report.skipped.items():
        needs = ", ".join(sorted(missing))
        out.write(f"  {prop:<5} skipped: needs {needs}, which the loop does not declare\n")
    if report.coverage is not None:
        out.writelines(f"{line}\n" for line in report.coverage.lines())
    for problem in report.problems:
        out.write(f"FAIL {problem}\n")
    for (failure, path), page in zip(report.failures, pages, strict=True):
        known = " (replayed from the database)" if failure.key in report.replayed else ""
        out.write(f"FAIL {failure.key}{known}: {path}\n  (its timeline: {page})\n")
        if failure.original is not None:
            out.write(f"  (its original: {path.with_suffix('.original.yaml')})\n")
        out.writelines(f"  {line}\n" for line in failure.lines()[:3])
        if failure.note.startswith("flaky:"):
            out.write(f"  {failure.note}\n")
    out.write("PASS\n" if report.passed else f"rerun: agentsim fuzz --seed {report.seed} ...\n")
    return 0 if report.passed else 1


def _items(data: dict[str, Any]) -> int:
    return sum(len(request.get("chunks") or ()) for request in data.get("requests") or ())


def run_shrink(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``shrink`` for parsed `args`; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        load_scenario(args.file)  # validates, with positioned errors
        data = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
        factory = load_loop(args.loop) if args.loop is not None else None
    except InputError as exc:
        err.write(f"agentsim: error: {exc}\n")
        return 2
    target = args.loop or "the reference loop"
    budget, max_events = args.budget, args.max_events
    if run_guarded(data, loop=factory, budget=budget, max_events=max_events).passed:
        err.write(f"{args.file} passes with {target}: nothing to shrink\n")
        return 1
    small, result = shrink_failing(
        data, loop=factory, max_runs=args.max_runs, budget=budget, max_events=max_events
    )
    output = Path(args.output or Path(args.file).with_suffix(".min.yaml"))
    head = [
        f"# agentsim shrink: {args.file} minimized against {target}",
        f"# replay: agentsim run {output}" + (f" --loop {args.loop}" if args.loop else ""),
    ]
    head += [f"#   {line}" for line in result.report().splitlines()]
    try:
        write_text_atomic(output, "\n".join(head) + "\n" + dump_yaml(small, sort_keys=False))
    except OSError as exc:
        err.write(f"agentsim: error: {output}: cannot write: {exc.strerror}\n")
        return 2
    out.write(f"wrote {output}: {_items(data)} -> {_items(small)} chunk items\n")
    return 0
