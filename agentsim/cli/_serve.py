"""``agentsim serve`` and ``agentsim record``: the command-line side of the fake server and proxy.

Meant to be wired into `agentsim.cli._main`: `add_serve_commands` adds both sub-commands to the
parser's sub-parsers (each sets ``handler`` to `run_serve` / `run_record`); a handler takes the
parsed arguments and returns the exit status. `main` runs them on their own (tests, and
``python -m agentsim.cli._serve``).

Both run until Ctrl-C (SIGINT) or SIGTERM, then stop cleanly: stop listening, end open
connections, and then report. Exit status: ``serve`` 0 when the scenario's requests were all made,
in order, and every request check held, 1 when not (the report on stderr says what), 2 on bad
input (an unreadable scenario, a port in use); ``record`` 0 once the cassette is written, 2 when it
cannot be. What happens (one line per request, the report) goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from agentsim.cassettes._scrub import SecretRules
from agentsim.core._errors import InputError
from agentsim.serve._http11 import HttpService
from agentsim.serve._recorder import RECORD_MODES, RecordingProxy
from agentsim.serve._server import ScenarioServer

__all__ = ["add_serve_commands", "main", "run_record", "run_serve"]

Say = Callable[[str], None]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_serve_commands(subparsers: Any) -> None:
    """Add ``serve`` and ``record`` to an ``add_subparsers()`` object."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve a scenario to real clients as a provider-compatible HTTP server",
        description=(
            "Answer /v1/chat/completions, /v1/responses, /v1/messages and Gemini's "
            ":streamGenerateContent / :generateContent with SCENARIO's scripted responses, in "
            "each API's wire format, at the scripted delays (real time divided by --speed), "
            "checking each request against the script. Point an SDK's base URL at it (the "
            "OpenAI SDK wants the URL with /v1). Ctrl-C stops and prints the report."
        ),
        epilog="Exit status: 0 the script was played exactly, 1 it was not, 2 bad input.",
    )
    serve.add_argument("scenario", metavar="SCENARIO", help="path to a scenario YAML file")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any)")
    serve.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X",
        help="divide the scripted delays by X (default 1: real time; 100 plays 100x faster)",
    )
    serve.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="serve only this model (repeat for more); others get the API's 404 (default: any)",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        help=(
            "answer a request that fails its scenario check (expect: messages, last_role, "
            "contains, tools) with the API's own 400 at once, instead of streaming the scripted "
            "answer and reporting the mismatch at the end"
        ),
    )
    serve.set_defaults(handler=run_serve)

    record: argparse.ArgumentParser = subparsers.add_parser(
        "record",
        help="record a provider's streams through a reverse proxy into a cassette",
        description=(
            "Forward every request to --upstream and stream the answers back unbuffered, "
            "recording each exchange with the arrival time and size of every piece into --out, "
            "an agentsim cassette (vcrpy-compatible, mode 600), rewritten atomically as each "
            "exchange finishes. Ctrl-C stops. Credentials (any header, query parameter or JSON "
            "key named like a key, token, secret, auth, password, signature, cookie or session) "
            "are forwarded but never written; text shaped like a key is refused. User info in "
            "--upstream is sent as Basic auth and never printed or written."
        ),
        epilog="Exit status: 0 the cassette was written, 2 bad input or it could not be written.",
    )
    record.add_argument("--upstream", required=True, metavar="URL", help="the provider's base URL")
    record.add_argument("--out", required=True, metavar="CASSETTE", help="cassette file to write")
    record.add_argument(
        "--record-mode",
        choices=RECORD_MODES,
        default="once",
        help=(
            "vcrpy's record modes: once (default: a new cassette only), new_episodes (append "
            "to an existing one), all (record afresh), none (refused: nothing to record)"
        ),
    )
    record.add_argument(
        "--allow-fewer",
        action="store_true",
        help="with --record-mode all: replace a cassette even by one with fewer interactions",
    )
    record.add_argument(
        "--scrub",
        action="append",
        default=[],
        metavar="REGEX",
        help="also scrub headers, query parameters and JSON keys whose whole name matches",
    )
    record.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="REGEX",
        help="never scrub names that match (wins over every scrub rule)",
    )
    record.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    record.add_argument("--port", type=_port, default=8766, help="port (default 8766; 0: any)")
    record.set_defaults(handler=run_record)


async def _until_stopped(service: HttpService, banner: Callable[[str], str], say: Say) -> None:
    """Start `service`, announce it, wait for SIGINT / SIGTERM, stop it."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    signals = [signal.SIGINT, signal.SIGTERM]
    # Where a loop cannot take signal handlers (Windows: NotImplementedError; not the main
    # thread: RuntimeError or ValueError), Ctrl-C arrives as KeyboardInterrupt instead, which
    # `_serve` turns into the same clean stop.
    for number in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, stopped.set)
    try:
        say(banner(await service.start()))
        await stopped.wait()
    finally:
        for number in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)  # as above: none was added there
        await service.close()


def _serve(service: HttpService, banner: Callable[[str], str], say: Say) -> bool:
    """Run `service` until stopped; False (after saying why) when it could not listen or finish."""
    try:
        with contextlib.suppress(KeyboardInterrupt):  # where signal handlers are not available
            asyncio.run(_until_stopped(service, banner, say))
    except OSError as exc:
        where = (
            "cannot finish"
            if service.started
            else f"cannot listen on {service.host}:{service.port}"
        )
        say(f"agentsim: error: {where}: {exc.strerror or exc}")
        return False
    return True


def _printer(stderr: TextIO | None) -> Say:
    err = stderr if stderr is not None else sys.stderr

    def say(line: str) -> None:
        err.write(f"{line}\n")
        err.flush()

    return say


def run_serve(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    """``agentsim serve``: 0 the script was played exactly, 1 it was not, 2 bad input."""
    say = _printer(stderr)
    try:
        server = ScenarioServer(
            args.scenario,
            host=args.host,
            port=args.port,
            speed=args.speed,
            models=args.model,
            on_request=say,
            strict=args.strict,
        )
    except InputError as exc:
        say(f"agentsim: error: {exc}")
        return 2

    def banner(url: str) -> str:
        return f"agentsim: serving {args.scenario} at {url} (OpenAI SDK: {url}/v1); Ctrl-C stops"

    if not _serve(server, banner, say):
        return 2
    say(server.playback.report())
    return 0 if server.playback.passed else 1


def run_record(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    """``agentsim record``: 0 once the cassette is written, 2 when it cannot be."""
    say = _printer(stderr)
    folder = Path(args.out).resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        say(f"agentsim: error: {args.out}: cannot write there (no such writable folder)")
        return 2
    try:
        proxy = RecordingProxy(
            args.upstream,
            args.out,
            host=args.host,
            port=args.port,
            mode=args.record_mode,
            allow_fewer=args.allow_fewer,
            rules=SecretRules(scrub=tuple(args.scrub), keep=tuple(args.keep)),
        )
    except InputError as exc:
        say(f"agentsim: error: {exc}")
        return 2
    except ValueError as exc:
        say(f"agentsim: error: --upstream: {exc}")
        return 2

    def banner(url: str) -> str:
        return f"agentsim: recording {proxy.upstream} at {url} into {args.out}; Ctrl-C stops"

    if not _serve(proxy, banner, say):
        return 2
    for problem in proxy.problems:
        say(f"agentsim: warning: {problem}")
    if proxy.unwritten:
        say(
            f"agentsim: error: {args.out} kept as it was: {proxy.unwritten} new interaction(s) "
            "would replace more old ones (--allow-fewer replaces it)"
        )
        return 2
    kept = proxy.total - proxy.saved
    say(f"wrote {args.out}: {proxy.total} interaction(s)" + (f" ({kept} kept)" if kept else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentsim")
    add_serve_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
