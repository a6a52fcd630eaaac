"""``--agentsim-record=MODE`` and ``agentsim_provider``, through pytester: an ``agentsim serve`` on
loopback stands in for the real provider. Recorded once, replayed without it; the key the client
sends never reaches the cassette; nothing is written but the cassette named."""

from __future__ import annotations

import os
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsim.cassettes import load_cassette
from agentsim.serve import serve_scenario

pytest_plugins = ["pytester"]

UPSTREAM = """
input: hi
requests:
  - chunks: [{text: Hello from upstream}, {finish: stop}]
  - chunks: [{text: Second answer}, {finish: stop}]
  - chunks: [{text: Third answer}, {finish: stop}]
"""
KEY = "sk-" + "live" * 8  # the shape of an OpenAI key: must never be written

TEST = """
import httpx, os

def ask(base, question):
    with httpx.Client(base_url=base + "/v1") as client:
        with client.stream(
            "POST",
            "/chat/completions",
            headers={"Authorization": "Bearer KEY"},
            json={"model": "m", "stream": True,
                  "messages": [{"role": "user", "content": question}]},
        ) as response:
            return response.status_code, response.read().decode()

def test_chat(agentsim_provider):
    base = agentsim_provider("cassettes/chat.yaml", upstream=os.environ.get("UPSTREAM"))
    status, body = ask(base, "hi")
    assert status == 200
    assert "Hello" in body and "upstream" in body
    assert body.rstrip().endswith("data: [DONE]")

def test_default_path(agentsim_provider):
    base = agentsim_provider(upstream=os.environ.get("UPSTREAM"))
    assert ask(base, "hi")[0] == 200
"""


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    scenario = tmp_path / "upstream.yaml"
    scenario.write_text(UPSTREAM)
    with serve_scenario(scenario, speed=100.0) as server:
        yield server.url


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    }


def _project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_rec=textwrap.dedent(TEST).replace("KEY", KEY))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_once_records_a_missing_cassette_then_replays_it_without_the_provider(
    pytester: pytest.Pytester, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(pytester)
    before = _files(project.path)
    monkeypatch.setenv("UPSTREAM", upstream)
    project.runpytest("-p", "no:cacheprovider", "--agentsim-record=once").assert_outcomes(passed=2)
    cassette = project.path / "cassettes" / "chat.yaml"
    default = project.path / "cassettes" / "test_rec" / "test_default_path.yaml"
    assert _files(project.path) - before == {  # nothing but the cassettes named
        "cassettes/chat.yaml",
        "cassettes/test_rec/test_default_path.yaml",
    }
    for path in (cassette, default):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert KEY not in text  # scrubbed by rule: the Authorization header
        assert "REDACTED" in text
    [recorded] = load_cassette(cassette).interactions
    assert recorded.streaming
    assert recorded.timing  # recorded through the proxy, with its pieces

    monkeypatch.delenv("UPSTREAM")  # the provider is gone: replay only (default mode none)
    written = {p: p.read_bytes() for p in (cassette, default)}
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    project.runpytest("-p", "no:cacheprovider", "--agentsim-record=once").assert_outcomes(passed=2)
    assert {p: p.read_bytes() for p in written} == written  # replaying writes nothing


def test_none_fails_on_a_missing_cassette_with_how_to_record_it(
    pytester: pytest.Pytester,
) -> None:
    project = _project(pytester)
    result = project.runpytest("-p", "no:cacheprovider", "-k", "test_chat")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cassettes/chat.yaml: no such cassette (record mode none); record it with "
            "--agentsim-record=once*"
        ]
    )
    assert not (project.path / "cassettes").exists()


def test_all_records_afresh_and_new_episodes_appends(
    pytester: pytest.Pytester, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(pytester)
    monkeypatch.setenv("UPSTREAM", upstream)
    run = ("-p", "no:cacheprovider", "-k", "test_chat")
    project.runpytest(*run, "--agentsim-record=once").assert_outcomes(passed=1)
    cassette = project.path / "cassettes" / "chat.yaml"
    assert len(load_cassette(cassette).interactions) == 1
    # the upstream answers its second scripted request now: "Second answer"
    result = project.runpytest(*run, "--agentsim-record=new_episodes")
    result.assert_outcomes(failed=1)  # the test expects the first answer; the cassette grew
    assert len(load_cassette(cassette).interactions) == 2
    assert b"Second answer" in load_cassette(cassette).interactions[1].response_body
    # all records afresh, but one new interaction never replaces two old ones
    result = project.runpytest(*run, "--agentsim-record=all")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*kept as it was: 1 new interaction(s) from http://*"])
    assert len(load_cassette(cassette).interactions) == 2


def test_a_replay_asked_for_more_than_the_cassette_holds_fails(
    pytester: pytest.Pytester, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(pytester)
    monkeypatch.setenv("UPSTREAM", upstream)
    run = ("-p", "no:cacheprovider", "-k", "test_chat")
    project.runpytest(*run, "--agentsim-record=once").assert_outcomes(passed=1)
    project.makepyfile(
        test_more=textwrap.dedent(
            """
            from test_rec import ask

            def test_twice(agentsim_provider):
                base = agentsim_provider("cassettes/chat.yaml")
                assert ask(base, "hi")[0] == 200
                assert ask(base, "again")[0] == 400  # beyond the cassette: the API's 400
            """
        )
    )
    result = project.runpytest("-p", "no:cacheprovider", "test_more.py")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*request 2 (POST /v1/chat/completions) is beyond the cassette*"])


def test_record_mode_is_validated(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--agentsim-record=sometimes")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--agentsim-record: expected one of once, new_episodes, all*"])
    assert os.environ.get("UPSTREAM") is None
