"""The command line: exit codes 0 / 1 / 2, output formats, help, and no tracebacks on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentsim import INVARIANTS, event_from_dict
from agentsim.cli._main import main
from agentsim.sse import decode_sse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scenarios" / "tool_call_then_answer.yaml"


def test_run_prints_native_sse_and_a_passing_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    events = [event_from_dict(json.loads(e.data)) for e in decode_sse(out.encode())]
    assert events[0].type == "run_started"
    assert events[-1].type == "run_completed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert f"invariants: all {len(INVARIANTS)} hold" in err
    assert err.rstrip().endswith("PASS")


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_other_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLE), "--format", fmt, "--seed", "3"]) == 0
    out = capsys.readouterr().out
    if fmt == "jsonl":
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[-1]["type"] == "run_completed"
    else:
        assert "run_completed" in out.splitlines()[-1]


def test_a_run_that_misses_its_expectation_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace("steps: 2", "steps: 3")
    path = tmp_path / "wrong.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "steps: expected 3, got 2" in err
    assert "FAIL" in err


def test_a_script_deviation_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(
        "input: hi\nrequests:\n  - chunks: [{text: a}, {finish: stop}]\n"
        "  - chunks: [{text: b}, {finish: stop}]\n"
    )
    assert main(["run", str(path)]) == 1
    assert "requests[1] (request 2) was never made" in capsys.readouterr().err


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "agentsim scenario"
    assert "requests" in schema["properties"]


def test_bad_input_exits_2_with_file_line_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: hi\nrequests:\n  - chunks:\n      - text: a\n        delay: -2\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5:9: requests[0].chunks[0].delay:" in err
    assert "greater than or equal to 0" in err
    assert "Traceback" not in err


def test_a_wrong_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(EXAMPLE), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "expected a whole number >= 0" in capsys.readouterr().err


def test_the_console_script_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentsim", "run", str(EXAMPLE), "--format", "table"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "agentsim", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--format" in help_text
    assert "virtual time" in help_text


def test_an_unreached_cancel_point_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cancel.yaml"
    path.write_text(
        "input: hi\nrequests:\n  - chunks: [{text: a}, {finish: stop}]\n"
        "cancel: {request: 1, before_chunk: 5}\n"
    )
    assert main(["run", str(path)]) == 1
    assert "cancel point (request 1, before chunk 5) was never reached" in capsys.readouterr().err


def test_tools_can_answer_each_call_differently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.yaml"
    path.write_text(
        "input: hi\n"
        "tools:\n  search: {results: [first, {n: 2}]}\n"
        "requests:\n"
        "  - chunks: [{tool_call: {name: search}}, {tool_call: {name: search}},"
        " {tool_call: {name: search}}, {finish: tool_calls}]\n"
        "  - chunks: [{text: done}, {finish: stop}]\n"
    )
    assert main(["run", str(path), "--format", "jsonl"]) == 0
    executed = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"tool_executed"' in line
    ]
    assert [(e["ok"], e["output"], e["error"]) for e in executed] == [
        (True, "first", None),
        (True, '{"n":2}', None),
        (False, None, "no scripted result for call 3 of search"),
    ]


def test_replay_through_another_loop(capsys: pytest.CaptureFixture[str]) -> None:
    cassette = str(ROOT / "cassettes" / "anthropic.yaml")
    assert main(["replay", cassette, "--loop", "tests.buggy_loops:usage_not_summed"]) == 1
    assert "EV7" in capsys.readouterr().err
    assert main(["replay", cassette, "--loop", "agentsim:ReferenceLoop"]) == 0
    assert main(["replay", cassette, "--loop", "tests.buggy_loops:nothing"]) == 2
