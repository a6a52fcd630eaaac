"""The `agentsim` command line.

Exit codes are part of the interface: 0 when the run matched the scenario (its expectation, its
script, every invariant), 1 when it did not, 2 on bad input (a malformed scenario, a wrong option).
The run itself goes to stdout in the chosen format; the report goes to stderr, so the transcript
can be piped or redirected on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ._errors import InputError
from ._events import AgentEvent, event_to_dict
from ._harness import RunResult, run_scenario
from ._scenario import scenario_json_schema
from ._sse_native import encode_native

__all__ = ["main"]

_FORMATS = ("sse", "table", "jsonl")


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentsim",
        description=(
            "Deterministic replay and test harness for streaming, tool-calling LLM agent loops. "
            "Runs happen on virtual time: scripted delays and timeouts cost no wall time."
        ),
        epilog="Exit status: 0 pass, 1 fail (expectation, script or invariant), 2 bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a scenario through the reference loop and check it",
        description=(
            "Run SCENARIO (a YAML file) through the reference agent loop on virtual time. Prints "
            "the run to stdout and a report (outcome, invariants EV1-EV8 and H1-H3, script "
            "deviations, expectation) to stderr."
        ),
    )
    run.add_argument("scenario", metavar="SCENARIO", help="path to a scenario YAML file")
    run.add_argument(
        "--seed", type=_nonnegative_int, default=None, help="seed for ids (default: the file's)"
    )
    run.add_argument(
        "--format",
        choices=_FORMATS,
        default="sse",
        help="sse: native SSE transcript (default); table: one line per event; jsonl: JSON lines",
    )

    commands.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files (for editor validation).",
    )
    return parser


def _details(event: AgentEvent) -> str:
    payload = event_to_dict(event)
    for key in ("type", "seq", "t", "run_id"):
        payload.pop(key)
    return " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in payload.items())


def _print_run(result: RunResult, fmt: str, out: TextIO) -> None:
    if fmt == "sse":
        out.write(encode_native(result.events).decode())
    elif fmt == "jsonl":
        for event in result.events:
            out.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
    else:
        out.write(f"{'seq':>4}  {'t':>10}  {'event':<20} details\n")
        for event in result.events:
            out.write(f"{event.seq:>4}  {event.t:>10.3f}  {event.type:<20} {_details(event)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "schema":
            sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")
            return 0
        result = run_scenario(args.scenario, seed=args.seed)
    except InputError as exc:
        sys.stderr.write(f"agentsim: error: {exc}\n")
        return 2
    _print_run(result, args.format, sys.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.report() + "\n")
    return 0 if result.passed else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
