"""``agentsim check FILE [--dialect D]``: check a captured SSE transcript of any loop.

Meant to be wired into `agentsim.cli._main`: `add_check_command` adds the sub-command to the
parser's sub-parsers, `run_check` runs it from the parsed arguments, and `encode_dialect` is what
``agentsim run --sse DIALECT`` prints.

Exit codes follow the rest of the CLI: 0 when the transcript keeps its dialect's rules (S2) and
the invariants (EV1-EV7; EV8 too with ``--options-from``), 1 when it does not (the report lists
every violation, where, expected and seen), 2 when it cannot be read at all (not SSE, JSON that
does not fit the dialect, an unknown event type, an unreadable file): one line naming the file,
the SSE event and what is wrong, never a traceback. The report goes to stdout (it is what the
command is for), errors to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from agentsim.cli._timeline import add_html_option, write_timeline
from agentsim.core._errors import InputError
from agentsim.loop._protocol import LoopOptions
from agentsim.report import render_html, timeline_of_transcript
from agentsim.scenario._schema import load_scenario
from agentsim.sse._dialects import DIALECT_NAMES, check_transcript, encode_dialect

__all__ = ["add_check_command", "encode_dialect", "run_check"]


def add_check_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``check`` to an ``add_subparsers()`` object; returns the new sub-parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="check a captured SSE transcript against its dialect's rules and the invariants",
        description=(
            "Read an SSE transcript (a loop's output captured from its endpoint), detect or take "
            "its dialect, check the dialect's ordering rules (S2) and decode it into agent "
            "events to check the invariants EV1-EV7 (EV8 and the max_steps bound need the "
            "loop's options: --options-from)."
        ),
        epilog="Exit status: 0 pass, 1 violations, 2 unreadable input.",
    )
    parser.add_argument("file", metavar="FILE", help="the transcript; '-' reads stdin")
    parser.add_argument(
        "--dialect",
        choices=("auto", *DIALECT_NAMES),
        default="auto",
        help="the transcript's SSE dialect (default: detected from its first events)",
    )
    parser.add_argument(
        "--options-from",
        metavar="SCENARIO",
        default=None,
        help="take the loop options (max_steps, deadline, retries) from a scenario file",
    )
    parser.add_argument(
        "--dropped",
        action="store_true",
        help="the consumer stopped reading on purpose: no terminal event is expected",
    )
    add_html_option(parser, "the checked transcript")
    parser.set_defaults(handler=run_check)
    return parser


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"cannot read the transcript: {exc.strerror or exc}", file=path) from None


def run_check(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``check`` for parsed `args`; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    name = "<stdin>" if args.file == "-" else args.file
    try:
        data = _read(args.file)
        options: LoopOptions | None = None
        if args.options_from is not None:
            scenario = load_scenario(args.options_from)
            options = LoopOptions(**scenario.options.model_dump())
        report = check_transcript(
            data,
            dialect=None if args.dialect == "auto" else args.dialect,
            options=options,
            dropped=args.dropped,
        )
        html_path = getattr(args, "html", None)
        if html_path is not None:
            page = render_html(timeline_of_transcript(report, data, title=f"agentsim check {name}"))
            write_timeline(html_path, page)
    except InputError as exc:
        where = "" if exc.file is not None else f"{name}: "
        err.write(f"agentsim: error: {where}{exc}\n")
        return 2
    out.write(f"{name}\n{report.render()}\n")
    return 0 if report.passed else 1
