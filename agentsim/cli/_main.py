"""The `agentsim` command line.

Exit codes are part of the interface: 0 when the run matched the scenario (its expectation, its
script, every invariant), 1 when it did not, 2 on bad input (a malformed scenario, a wrong option).
The run itself goes to stdout in the chosen format; the report goes to stderr, so the transcript
can be piped or redirected on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from agentsim.cassettes._convert import cassette_to_scenario, replay_run, scenario_yaml
from agentsim.cassettes._files import Cassette, load_cassette, write_text_atomic
from agentsim.cassettes._provider import (
    CHUNKINGS,
    Chunking,
    check_chunking,
    check_streams,
    stream_items,
)
from agentsim.cassettes._request_diff import REQUEST_CHECKS
from agentsim.cassettes._runs import describe_run, select_runs, split_runs
from agentsim.cli._check import add_check_command, run_check
from agentsim.cli._fuzz import add_fuzz_commands, guard_options
from agentsim.cli._serve import add_serve_commands
from agentsim.cli._timeline import add_html_option, write_timeline
from agentsim.core._backends import BACKENDS
from agentsim.core._chunks import Chunk, chunk_to_dict
from agentsim.core._errors import InputError
from agentsim.core._events import AgentEvent, event_to_dict
from agentsim.fuzz._properties import load_loop, replay_relation, run_with_loop
from agentsim.harness._result import RunResult
from agentsim.report import run_html
from agentsim.scenario._schema import scenario_json_schema
from agentsim.scenario._script import Delay
from agentsim.sse._dialects import DIALECT_NAMES, encode_dialect

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
        help="run a scenario through the reference loop (or yours) and check it",
        description=(
            "Run SCENARIO (a YAML file) through the reference agent loop on virtual time. Prints "
            "the run to stdout and a report (outcome, the invariants EV1-EV10, H1-H4, O1-O3 and "
            "SR1-SR2, script deviations, expectation) to stderr."
        ),
    )
    run.add_argument("scenario", metavar="SCENARIO", help="path to a scenario YAML file")
    run.add_argument(
        "--loop",
        metavar="MODULE:FACTORY",
        default=None,
        help="run this loop instead of the reference loop (a factory or loop object)",
    )
    run.add_argument(
        "--seed", type=_nonnegative_int, default=None, help="seed for ids (default: the file's)"
    )
    run.add_argument(
        "--relation",
        choices=("M1", "M2", "M3"),
        default=None,
        help=(
            "also check a metamorphic relation (what an M1-M3 reproducer's replay line does): "
            "M1/M3 between --original's run and SCENARIO's, M2 between two runs of SCENARIO"
        ),
    )
    run.add_argument(
        "--original", metavar="FILE", default=None, help="the original scenario of --relation"
    )
    run.add_argument(
        "--virtual-wall-clock",
        action="store_true",
        help=(
            "time.time(), datetime.now() and friends read the virtual clock during the run "
            "(from 2000-01-01T00:00:00Z; as the scenario key virtual_wall_clock: true)"
        ),
    )
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        default="asyncio",
        help=(
            "the event loop the run lives on: asyncio (a virtual-time loop; default) or trio "
            "(a virtual clock; the same bytes, DESIGN M2; needs trio, and a loop that does not "
            "use asyncio directly)"
        ),
    )
    guard_options(run)
    _format_option(run)
    add_html_option(run)

    replay = commands.add_parser(
        "replay",
        help="replay a cassette through the reference loop (or yours) and check it",
        description=(
            "Replay CASSETTE (a vcrpy-style recording) through the reference agent loop on "
            "virtual time: its streaming interactions answer the loop's requests in order, "
            "re-chunked by POLICY; tools answer with the results the recording sent back. "
            "Prints the run like `run`; exit 0 when every invariant holds and the loop used "
            "exactly the recorded interactions."
        ),
    )
    replay.add_argument("cassette", metavar="CASSETTE", help="path to a cassette YAML file")
    replay.add_argument(
        "--loop",
        metavar="MODULE:FACTORY",
        default=None,
        help="replay through this loop instead of the reference loop (a factory or loop object)",
    )
    _chunking_options(replay)
    replay.add_argument(
        "--requests",
        choices=REQUEST_CHECKS,
        default="loose",
        help=(
            "compare each request the loop sends with the recorded one and report the first "
            "difference: loose (messages and the set of tools; default), strict (also the "
            "tools' order, descriptions and parameters), off"
        ),
    )
    _format_option(replay)
    add_html_option(replay)

    convert = commands.add_parser(
        "convert",
        help="turn a cassette into an editable scenario",
        description=(
            "Write a scenario that replays CASSETTE's chunks with the same timing (one request "
            "per streaming interaction), its tools, input and system prompt, and an `expect` "
            "pinning what the reference loop does on the replay."
        ),
    )
    convert.add_argument("cassette", metavar="CASSETTE", help="path to a cassette YAML file")
    convert.add_argument(
        "-o", "--output", metavar="SCENARIO", required=True, help="scenario file to write"
    )
    _chunking_options(convert)

    inspect = commands.add_parser(
        "inspect",
        help="list a cassette's interactions and their decoded chunks",
        description=(
            "Print each interaction of CASSETTE (method, URI, API, status, streaming) and the "
            "chunks its response decodes to, one per line, with recorded offsets when it has them."
        ),
    )
    inspect.add_argument("cassette", metavar="CASSETTE", help="path to a cassette YAML file")
    _chunking_options(inspect)

    add_check_command(commands)
    add_serve_commands(commands)
    add_fuzz_commands(commands)

    commands.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files (for editor validation).",
    )
    return parser


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=_FORMATS,
        default="sse",
        help="sse: an SSE transcript (default); table: one line per event; jsonl: JSON lines",
    )
    parser.add_argument(
        "--sse",
        choices=DIALECT_NAMES,
        default="native",
        metavar="DIALECT",
        help="the SSE dialect of --format sse: " + ", ".join(DIALECT_NAMES) + " (default native)",
    )


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _chunking_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        type=_positive_int,
        default=None,
        metavar="N",
        help=(
            "only run N of the cassette (1-based; a new run starts at each request that does "
            "not continue the previous one's conversation; default: every run)"
        ),
    )
    parser.add_argument(
        "--chunking",
        choices=CHUNKINGS,
        default="recorded",
        help=(
            "how response bodies are split into reads: recorded (the recorded pieces and "
            "timing, else one per event; default), whole, events, random"
        ),
    )
    parser.add_argument(
        "--seed", type=_nonnegative_int, default=0, help="seed of the random chunking (default 0)"
    )


def _details(event: AgentEvent) -> str:
    payload = event_to_dict(event)
    for key in ("type", "seq", "t", "run_id"):
        payload.pop(key)
    return " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in payload.items())


def _print_run(result: RunResult, fmt: str, out: TextIO, dialect: str = "native") -> None:
    if fmt == "sse":
        out.write(encode_dialect(result.events, dialect).decode())
    elif fmt == "jsonl":
        for event in result.events:
            out.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
    else:
        out.write(f"{'seq':>4}  {'t':>10}  {'event':<20} details\n")
        for event in result.events:
            out.write(f"{event.seq:>4}  {event.t:>10.3f}  {event.type:<20} {_details(event)}\n")


def _chunk_line(chunk: Chunk) -> str:
    payload = chunk_to_dict(chunk)
    kind = payload.pop("type")
    return f"{kind:<16} " + " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in payload.items()
    )


def _inspect(
    cassette: Cassette,
    runs: Sequence[Cassette],
    several: bool,
    chunking: Chunking,
    seed: int,
    out: TextIO,
) -> None:
    out.write(f"{cassette.path}: {len(cassette.interactions)} interaction(s)")
    out.write(f", {len(split_runs(cassette))} runs\n" if several else "\n")
    for run in runs:
        if several:
            out.write(f"\n== {describe_run(run)}\n")
        _inspect_run(run, chunking, seed, out)


def _inspect_run(run: Cassette, chunking: Chunking, seed: int, out: TextIO) -> None:
    for index, x in zip(_numbers(run), run.interactions, strict=True):
        out.write(f"\ninteractions[{index}] {x.describe()}\n")
        streaming = "yes" if x.streaming else "no"
        line = f"  api: {x.api or 'none'}  status: {x.status}  streaming: {streaming}"
        if x.timing:
            line += (
                f"  recorded: {len(x.timing)} pieces, {x.timing[0][0]:.3f}-{x.timing[-1][0]:.3f}s"
            )
        out.write(line + "\n")
        if not x.replayable:
            out.write("  not replayed: not a streaming request to a known provider API\n")
            continue
        t = 0.0
        timed = chunking == "recorded" and x.timing is not None
        for item in stream_items(x, chunking=chunking, seed=seed, number=index):
            if isinstance(item, Delay):
                t += item.seconds
            else:
                out.write(f"  {f'{t:9.3f}s  ' if timed else ''}{_chunk_line(item)}\n")


def _numbers(run: Cassette) -> Sequence[int]:
    return run.numbers or range(len(run.interactions))


def _refuse_overwriting(source: str, output: str) -> None:
    """`convert X -o X` would destroy the recording it reads: bad input."""
    with contextlib.suppress(OSError):
        if Path(output).exists() and Path(output).samefile(source):
            raise InputError(
                "refusing to write the scenario over the cassette it is converted from "
                "(choose another -o)",
                file=output,
            )


def _run_output(output: str, run: Cassette, runs: int) -> str:
    """``case.yaml`` for a one-run cassette, else ``case-run2.yaml`` for run 2."""
    if runs == 1:
        return output
    path = Path(output)
    return str(path.with_name(f"{path.stem}-run{run.run}{path.suffix}"))


def _cassette_command(args: argparse.Namespace) -> int:
    cassette = load_cassette(args.cassette)
    chunking = check_chunking(args.chunking)
    runs = select_runs(cassette, args.run)
    several = len(split_runs(cassette)) > 1
    for run in runs:
        check_streams(run)
    if args.command == "inspect":
        _inspect(cassette, runs, several, chunking, args.seed, sys.stdout)
        return 0
    if args.command == "convert":
        outputs = [_run_output(args.output, run, len(runs)) for run in runs]
        for output in outputs:
            _refuse_overwriting(args.cassette, output)
        for run, output in zip(runs, outputs, strict=True):
            text = scenario_yaml(cassette_to_scenario(run, chunking=chunking, seed=args.seed))
            try:
                write_text_atomic(output, text)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror}", file=output) from None
            requests = len(run.replayable)
            which = f" ({describe_run(run)})" if several else ""
            sys.stderr.write(f"wrote {output}: {requests} request(s) from {args.cassette}{which}\n")
        return 0
    passed = True
    for number, run in enumerate(runs, 1):
        loop = load_loop(args.loop)() if args.loop is not None else None
        result = replay_run(
            run, chunking=chunking, seed=args.seed, loop=loop, requests=args.requests
        )
        if args.html is not None:  # one page a run: FILE, or FILE's stem plus the run's number
            page = run_html(result, title=args.cassette, dialect=args.sse)
            target = Path(args.html)
            if len(runs) > 1:
                target = target.with_name(f"{target.stem}.run{number}{target.suffix}")
            write_timeline(target, page)
        if several:
            sys.stderr.write(f"-- {describe_run(run)}\n")
        _print_run(result, args.format, sys.stdout, args.sse)
        sys.stdout.flush()
        for index, x in run.skipped:
            sys.stderr.write(f"note: interactions[{index}] ({x.describe()}) is not replayed\n")
        sys.stderr.write(result.report() + "\n")
        passed = passed and result.passed
    if several and len(runs) > 1:
        verdict = "PASS" if passed else "FAIL"
        sys.stderr.write(f"{len(runs)} runs: {verdict}\n")
    return 0 if passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "schema":
            sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")
            return 0
        if args.command == "check":
            return run_check(args)
        if args.command in ("serve", "record", "fuzz", "shrink"):
            handler: Callable[[argparse.Namespace], int] = args.handler
            return handler(args)
        if args.command in ("replay", "convert", "inspect"):
            return _cassette_command(args)
        if args.relation is not None:
            result = replay_relation(
                args.scenario,
                args.relation,
                original=args.original,
                loop=args.loop,
                seed=args.seed,
                budget=args.budget,
                max_events=args.max_events,
            )
        else:
            result = run_with_loop(
                args.scenario,
                loop=args.loop,
                seed=args.seed,
                budget=args.budget,
                max_events=args.max_events,
                wall_clock=args.virtual_wall_clock,
                backend=args.backend,
            )
        if args.html is not None:
            notes = [f"loop {args.loop}"] if args.loop else []
            page = run_html(result, title=args.scenario, dialect=args.sse, notes=notes)
            write_timeline(args.html, page)
    except InputError as exc:
        sys.stderr.write(f"agentsim: error: {exc}\n")
        return 2
    _print_run(result, args.format, sys.stdout, args.sse)
    sys.stdout.flush()
    sys.stderr.write(result.report() + "\n")
    return 0 if result.passed else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
