"""Fuzzing past one process (issue #14): example databases (a folder, a real Redis), workers,
and the properties as hypothesis tests under pytest, pytest-xdist and HypoFuzz."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsim import InputError
from agentsim.cli._main import main
from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._database import database_key, open_database

ROOT = Path(__file__).resolve().parents[2]
BUGGY = "tests.buggy_loops:events_after_terminal"
KW: dict[str, Any] = {"examples": 300, "properties": ["run"], "max_failures": 1}

pytest_plugins = ["pytester"]


def test_database_urls_name_hypothesis_databases_and_anything_else_is_bad_input(
    tmp_path: Path,
) -> None:
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.extra.redis import RedisExampleDatabase

    assert isinstance(open_database(f"dir:{tmp_path}"), DirectoryBasedExampleDatabase)
    assert isinstance(open_database("redis://127.0.0.1:1/0"), RedisExampleDatabase)
    for bad in ("dir:", "postgres://x", str(tmp_path)):
        with pytest.raises(InputError, match="--database: expected"):
            open_database(bad)
    assert database_key("a:b", "run") != database_key("a:b", "M1") != database_key(None, "M1")


def test_a_bad_database_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--examples", "5", "--database", "mysql://x"]) == 2
    assert "--database: expected dir:PATH or redis://" in capsys.readouterr().err


def test_a_second_campaign_replays_the_first_ones_failure_before_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    db = f"dir:{tmp_path / 'db'}"
    first = fuzz(BUGGY, **KW, seed=3, out=tmp_path / "a", database=db)
    assert first.failures
    assert not first.replayed
    assert (tmp_path / "db").is_dir()
    # Another seed: without the database it would have to search again.
    second = fuzz(BUGGY, **KW, seed=11, out=tmp_path / "b", database=db)
    assert {f.key for f, _ in second.failures} >= {f.key for f, _ in first.failures}
    assert second.replayed == {f.key for f, _ in first.failures}
    # Nothing stored and nothing replayed without a database.
    third = fuzz(BUGGY, **KW, seed=11, out=tmp_path / "c")
    assert not third.replayed
    assert third.database is None


def test_workers_give_the_same_report_twice_for_the_same_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)

    def once(out: str) -> tuple[object, ...]:
        report = fuzz(
            BUGGY,
            examples=60,
            seed=5,
            out=tmp_path / out,
            properties=["run", "M2"],
            workers=2,
            max_failures=1,
        )
        assert report.workers == 2
        files = tuple(path.name for _, path in report.failures)
        return report.examples["run"], report.examples["M2"], files

    a, b = once("a"), once("b")
    assert a == b
    assert a[2], "the buggy loop was not found by two workers"


def test_workers_need_a_whole_number(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--workers"):
        fuzz(None, examples=5, out=tmp_path, workers=0)


# -- a real redis-server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; .ci/run has it)")
    port = _free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_cli_campaigns_share_a_redis_database(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)
    args = [
        "fuzz",
        "--loop",
        BUGGY,
        "--property",
        "run",
        "--examples",
        "300",
        "--database",
        redis_url,
    ]
    assert main([*args, "--seed", "3", "--out", str(tmp_path / "a")]) == 1
    first = capsys.readouterr().out
    assert "0 failure(s) replayed" in first
    assert "FAIL run:EV2" in first
    assert main([*args, "--seed", "12", "--out", str(tmp_path / "b")]) == 1
    second = capsys.readouterr().out
    assert "FAIL run:EV2 (replayed from the database)" in second, second


# -- the properties as hypothesis tests -----------------------------------------------------------

GENERATED = f'''
from hypothesis import settings

from agentsim.testing import fuzz_tests

settings.register_profile("small", max_examples=30)
settings.load_profile("small")

TestBuggy = fuzz_tests("{BUGGY}", properties=["run"], out="repro")
TestReference = fuzz_tests(properties=["run", "M2"])
'''


def _project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_generated=GENERATED)
    shutil.copytree(
        ROOT / "tests", pytester.path / "tests", ignore=shutil.ignore_patterns("test_*")
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_generated_tests_fail_the_buggy_loop_with_a_reproducer(pytester: pytest.Pytester) -> None:
    project = _project(pytester)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*agentsim property run failed (run:EV2*", "*reproducer: repro*"])
    reproducers = list((project.path / "repro").glob("run-EV2*.yaml"))
    assert len(reproducers) == 1  # written once, on the final replay, not while shrinking
    replay = subprocess.run(
        [sys.executable, "-m", "agentsim", "run", str(reproducers[0]), "--loop", BUGGY],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert replay.returncode == 1
    assert "EV2" in replay.stderr


def test_generated_tests_run_under_xdist(pytester: pytest.Pytester) -> None:
    project = _project(pytester)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-n", "2")
    result.assert_outcomes(passed=2, failed=1)


@pytest.mark.slow
def test_hypofuzz_runs_the_generated_tests_until_it_finds_the_bug(
    pytester: pytest.Pytester,
) -> None:
    project = _project(pytester)
    (project.path / "test_generated.py").write_text(
        GENERATED.replace('TestReference = fuzz_tests(properties=["run", "M2"])\n', "")
    )
    hypothesis = Path(sys.executable).with_name("hypothesis")
    process = subprocess.run(
        [str(hypothesis), "fuzz", "--no-dashboard", "-n", "1", "--", "test_generated.py"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = process.stdout + process.stderr
    assert "Found a failing input for every test" in output, output
    # The failure is in the project's hypothesis database: pytest replays it at once.
    replay = project.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    replay.assert_outcomes(failed=1)
    assert list((project.path / "repro").glob("run-EV2*.yaml"))
