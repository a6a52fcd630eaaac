"""Runs in a cassette: independent calls recorded in one file split into runs, each replayed,
inspected and converted on its own; a continued conversation (tool call, then answer) and a
retry after an error stay one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentsim import run_scenario
from agentsim.cassettes import load_cassette, replay_cassette
from agentsim.cassettes._convert import replay_run
from agentsim.cassettes._files import Interaction
from agentsim.cassettes._runs import describe_run, select_runs, split_runs
from agentsim.cassettes._writing import write_cassette
from agentsim.cli._main import main
from agentsim.core._errors import InputError
from agentsim.scenario._schema import load_scenario

from .test_cassettes import answer, call, stream

SYSTEM = {"role": "system", "content": "Be brief."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ],
}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "found it"}


def recording() -> list[Interaction]:
    first = [SYSTEM, user("What is up?")]
    overloaded = Interaction(
        method="POST",
        uri="https://api.example.com/v1/chat/completions",
        request_body=stream("openai-chat", [], request={"messages": first}).request_body,
        status=529,
        response_body=b'{"error": {"type": "overloaded_error", "message": "busy"}}',
    )
    return [
        overloaded,  # run 1: an error, then its retry, a tool call and the answer
        stream("openai-chat", call("call_1"), request={"messages": first}),
        stream("openai-chat", answer("all good"), request={"messages": [*first, CALL, RESULT]}),
        stream("openai-chat", answer("hello"), request={"messages": [user("Hi")]}),  # run 2
        # run 3: a follow-up question is a new input to the loop
        stream(
            "openai-chat",
            answer("bonjour"),
            request={
                "messages": [user("Hi"), {"role": "assistant", "content": "hello"}, user("fr?")]
            },
        ),
    ]


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    path = tmp_path / "multi.yaml"
    write_cassette(path, recording())
    return path


def test_a_cassette_splits_into_runs_by_conversation(multi: Path) -> None:
    runs = split_runs(load_cassette(multi))
    assert [describe_run(r) for r in runs] == [
        "run 1: interactions[0]-[2]",
        "run 2: interactions[3]",
        "run 3: interactions[4]",
    ]
    for run in runs:
        result = replay_cassette(run)
        assert result.passed, result.report()
    assert replay_cassette(load_cassette(multi)).passed
    assert replay_cassette(load_cassette(multi), run=3).outcome is not None
    with pytest.raises(InputError, match="holds 3 run"):
        select_runs(load_cassette(multi), 4)


def test_replaying_the_file_as_one_run_would_fail(multi: Path) -> None:
    # The planted bug the split fixes: one run over independent calls leaves them unrequested.
    whole = load_cassette(multi)
    result = replay_run(whole)
    assert not result.passed
    assert any("was never requested" in p for p in result.problems)


def test_one_run_behaves_as_before(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    write_cassette(path, recording()[:3])
    [run] = split_runs(load_cassette(path))
    assert run.interactions == load_cassette(path).interactions


def test_cli_replays_converts_and_inspects_run_by_run(
    multi: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(multi), "--format", "table"]) == 0
    err = capsys.readouterr().err
    assert "-- run 2: interactions[3]" in err
    assert err.rstrip().endswith("3 runs: PASS")
    assert main(["replay", str(multi), "--run", "2"]) == 0
    assert main(["replay", str(multi), "--run", "9"]) == 2
    capsys.readouterr()
    out = tmp_path / "case.yaml"
    assert main(["convert", str(multi), "-o", str(out)]) == 0
    written = sorted(p.name for p in tmp_path.glob("case*.yaml"))
    assert written == ["case-run1.yaml", "case-run2.yaml", "case-run3.yaml"]
    for name in written:
        result = run_scenario(load_scenario(tmp_path / name))
        assert result.passed, result.report()
    assert main(["convert", str(multi), "--run", "3", "-o", str(tmp_path / "one.yaml")]) == 0
    assert (tmp_path / "one.yaml").exists()
    assert main(["inspect", str(multi), "--run", "1"]) == 0
    shown = capsys.readouterr().out
    assert "== run 1: interactions[0]-[2]" in shown
    assert "interactions[3]" not in shown
