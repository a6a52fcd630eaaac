"""``--html FILE``: the run's timeline page (`agentsim.report`), for run, replay and check.

The page goes to the path the user named and nowhere else, written atomically (a temporary file
beside it, then a rename), so a browser or CI artifact never sees half a page. `write_timeline`
is also what ``agentsim fuzz`` uses for the page next to each reproducer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agentsim.cassettes._files import write_text_atomic
from agentsim.core._errors import InputError

__all__ = ["add_html_option", "write_timeline"]


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
