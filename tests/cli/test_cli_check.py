"""`agentsim check`: exit 0 / 1 / 2, the report, and errors that say where and what."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pytest

from agentsim import run_scenario
from agentsim.cli._check import add_check_command, encode_dialect, run_check
from agentsim.sse._dialects import DIALECT_NAMES

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "tool_call_then_answer.yaml"
DROP = ROOT / "scenarios" / "consumer_drop_cancels_run.yaml"


def _check(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="agentsim")
    add_check_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", *argv])
    assert args.handler is run_check
    out, err = io.StringIO(), io.StringIO()
    code = run_check(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path: Path, data: bytes, name: str = "run.sse") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_a_clean_transcript_passes_in_every_dialect(tmp_path: Path, dialect: str) -> None:
    events = run_scenario(SCENARIO).events
    path = _write(tmp_path, encode_dialect(events, dialect))
    code, out, err = _check(path)
    assert (code, err) == (0, "")
    assert f"dialect: {dialect}" in out
    assert out.rstrip().endswith("PASS")
    assert _check(path, "--dialect", dialect)[0] == 0


def test_options_from_a_scenario_add_ev8(tmp_path: Path) -> None:
    path = _write(tmp_path, encode_dialect(run_scenario(SCENARIO).events, "native"))
    code, out, _ = _check(path, "--options-from", str(SCENARIO))
    assert code == 0
    assert "EV8" in out
    assert "need the loop's options" not in out


def test_violations_exit_1_with_a_report(tmp_path: Path) -> None:
    data = (
        b'data: {"type":"RUN_STARTED","threadId":"t","runId":"r"}\n\n'
        b'data: {"type":"TOOL_CALL_START","toolCallId":"c1","toolCallName":"f"}\n\n'
        b'data: {"type":"TOOL_CALL_ARGS","toolCallId":"c1","delta":"{\\"a\\":"}\n\n'
        b'data: {"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"c1","content":"x"}\n\n'
        b'data: {"type":"RUN_FINISHED","threadId":"t","runId":"r"}\n\n'
    )
    code, out, err = _check(_write(tmp_path, data))
    assert (code, err) == (1, "")
    assert "S2.agui.result-unknown-call at SSE event 3" in out
    assert "S2.agui.unclosed at SSE event 4" in out
    assert "EV5 at agent event" in out
    assert "(from SSE event 3)" in out
    assert out.rstrip().endswith("FAIL")


def test_a_dropped_stream_needs_dropped(tmp_path: Path) -> None:
    result = run_scenario(DROP)
    native = _write(tmp_path, encode_dialect(result.events, "native"), "native.sse")
    assert _check(native)[0] == 1
    assert "EV2" in _check(native)[1]
    assert _check(native, "--dropped")[0] == 0
    vercel = _write(tmp_path, encode_dialect(result.events, "vercel"), "vercel.sse")
    code, out, _ = _check(vercel, "--dropped")
    assert code == 1
    assert "S2.vercel.done" in out


@pytest.mark.parametrize(
    ("data", "argv", "message"),
    [
        (b'{"type": "RUN_STARTED"}', (), "not an SSE transcript"),
        (b"\x00\xff\xfe garbage", (), "not an SSE transcript"),
        (b'data: {"type": "RUN_STARTED"}\n\n', (), "agui, event 0: RUN_STARTED: field 'threadId'"),
        (
            b'data: {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}\n\n'
            b'data: {"type": "WHAT"}\n\n',
            (),
            "event 1: unknown AG-UI event type 'WHAT'",
        ),
        (b"data: not json\n\n", ("--dialect", "chat"), "chat, event 0: data is not JSON"),
        (b'data: {"type": "start"}\n\n', ("--dialect", "agui"), "unknown AG-UI event type 'start'"),
    ],
)  # fmt: skip
def test_unreadable_input_exits_2_saying_where_and_what(
    tmp_path: Path, data: bytes, argv: tuple[str, ...], message: str
) -> None:
    path = _write(tmp_path, data)
    code, out, err = _check(path, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"agentsim: error: {path}: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = _check(str(tmp_path / "nope.sse"))
    assert code == 2
    assert "nope.sse" in err
    assert "cannot read the transcript" in err


def test_a_bad_options_scenario_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, encode_dialect(run_scenario(SCENARIO).events, "native"))
    code, _, err = _check(path, "--options-from", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode_dialect(run_scenario(SCENARIO).events, "phase")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = _check("-")
    assert code == 0
    assert out.startswith("<stdin>\ndialect: phase")


def test_unknown_dialect_is_an_argparse_error() -> None:
    with pytest.raises(SystemExit) as caught:
        _check("x.sse", "--dialect", "klingon")
    assert caught.value.code == 2
