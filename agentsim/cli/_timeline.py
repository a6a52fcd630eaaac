"""``--html FILE``: the run's timeline page (`agentsim.report`), for run, replay and check.

The page goes to the path the user named and nowhere else, written atomically (a temporary file
beside it, then a rename), so a browser or CI artifact never sees half a page. `write_timeline`
is also what ``agentsim fuzz`` uses for the page next to each reproducer (`reproducer_timeline`:
the reproducer replayed alone, as ``agentsim run`` would, with the fuzzer's findings pinned).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agentsim.cassettes._files import write_text_atomic
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import Failure, LoopFactory, run_guarded
from agentsim.report import run_html

__all__ = ["add_html_option", "reproducer_timeline", "write_timeline"]


def add_html_option(parser: argparse.ArgumentParser, what: str = "the run") -> None:
    parser.add_argument(
        "--html",
        metavar="FILE",
        default=None,
        help=f"also write {what} as a self-contained HTML timeline to FILE",
    )


def write_timeline(path: str | Path, page: str) -> None:
    """Write `page` to `path` atomically; an unwritable path is an `InputError`."""
    try:
        write_text_atomic(path, page)
    except OSError as exc:
        raise InputError(
            f"cannot write the timeline: {exc.strerror or exc}", file=str(path)
        ) from None


def reproducer_timeline(
    failure: Failure,
    path: Path,
    *,
    loop: LoopFactory | None,
    spec: str | None,
    budget: float | None = None,
    max_events: int | None = None,
) -> Path:
    """Replay the reproducer at `path` and write its timeline beside it (``<name>.html``).

    The replay's own violations are pinned; a relation's (M1-M3) compare two runs, so they are
    pinned to this run's events by position, and a crash is stated in the page's notes.
    """
    result = run_guarded(path, loop=loop, budget=budget, max_events=max_events)
    seen = {(v.invariant, v.index) for v in result.violations}
    extra = [v for v in failure.violations if (v.invariant, v.index) not in seen]
    notes = [f"fuzz property {failure.prop} failed against {spec or 'the reference loop'}"]
    if failure.crash:
        notes.append(failure.crash)
    if failure.original is not None:
        notes.append(f"the first run of the pair: {path.with_suffix('.original.yaml').name}")
    out = path.with_suffix(".html")
    page = run_html(result, title=f"reproducer {path.name}", extra=extra, notes=notes)
    write_timeline(out, page)
    return out
