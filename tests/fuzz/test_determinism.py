"""The search is a function of its seed (issue 12 part 4): the command line in a fresh process in
an empty directory and the API in this process, after other hypothesis activity and with a
module full of constants loaded, generate the same cases and find the same failures; and a fuzz
run writes nothing but its ``--out`` directory."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agentsim.fuzz._campaign import fuzz

ROOT = Path(__file__).resolve().parents[2]

# A loop under test that records a digest of every run it makes (its native SSE bytes): equal
# record files mean equal cases, in the same order.
RECORDING_LOOP = """
import hashlib
import importlib
import os

from agentsim.sse import encode_native
from tests.buggy_loops import phase_flapping


class _Run:
    def __init__(self, run):
        self._run, self._events = run, []

    @property
    def history(self):
        return self._run.history

    def __aiter__(self):
        return self._each()

    async def _each(self):
        async for event in self._run:
            self._events.append(event)
            yield event

    async def aclose(self):
        await self._run.aclose()
        digest = hashlib.sha1(encode_native(self._events)).hexdigest()[:12]
        with open(os.environ["AGENTSIM_TEST_RECORD"], "a") as record:
            record.write(digest + "\\n")


class RecordingLoop:
    def __init__(self, *, hooks=None, guardrails=None):
        self._inner = phase_flapping(hooks=hooks, guardrails=guardrails)

    def run(self, request, *, provider, tools, runtime):
        return _Run(self._inner.run(request, provider=provider, tools=tools, runtime=runtime))
"""

# Constants hypothesis would harvest from a "local" module and mix into its draws.
CONSTANTS = "NUMBERS = [{}]\nWORDS = [{}]\n".format(
    ", ".join(str(7 * i) for i in range(300)), ", ".join(repr(f"w{i}") for i in range(300))
)


def test_the_cli_and_the_api_draw_the_same_cases_and_write_nothing_else(tmp_path: Path) -> None:
    modules, workdir = tmp_path / "modules", tmp_path / "work"
    modules.mkdir()
    workdir.mkdir()
    (modules / "recording_loop.py").write_text(RECORDING_LOOP)
    (modules / "lots_of_constants.py").write_text(CONSTANTS)
    argv = ["--examples", "120", "--seed", "4", "--property", "run", "--property", "M2"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(modules)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AGENTSIM_TEST_RECORD": str(tmp_path / "cli.txt"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "agentsim", "fuzz", "--loop", "recording_loop:RecordingLoop",
         *argv, "--out", "found"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["found"], "fuzz wrote outside --out"
    cli_files = sorted(
        p.name for p in (workdir / "found").glob("*.yaml")
    )  # beside each: its .html timeline

    # In this process: other hypothesis activity first, and a local module full of constants.
    sys.path.insert(0, str(modules))
    try:
        importlib.import_module("lots_of_constants")

        @settings(max_examples=30, database=None)
        @given(st.integers(), st.text(), st.floats())
        def warm_up(a: int, b: str, c: float) -> None:
            pass

        warm_up()
        os.environ["AGENTSIM_TEST_RECORD"] = str(tmp_path / "api.txt")
        try:
            report = fuzz(
                "recording_loop:RecordingLoop",
                examples=120,
                seed=4,
                properties=("run", "M2"),
                out=tmp_path / "api-found",
            )
        finally:
            del os.environ["AGENTSIM_TEST_RECORD"]
    finally:
        sys.path.remove(str(modules))
        sys.modules.pop("recording_loop", None)
        sys.modules.pop("lots_of_constants", None)
    cli_record = (tmp_path / "cli.txt").read_text().split()
    api_record = (tmp_path / "api.txt").read_text().split()
    assert len(cli_record) > 200
    # The CLI then replays each reproducer once more, to draw its timeline beside it.
    timelines = len(report.failures)
    assert api_record == cli_record[: len(cli_record) - timelines]
    assert len(cli_record) - len(api_record) == timelines
    assert sorted(p.name for p in (tmp_path / "api-found").iterdir()) == cli_files
    assert [f.key for f, _ in report.failures]
    for key in [f.key for f, _ in report.failures]:
        assert f"FAIL {key}:" in done.stdout
