"""Every example under examples/ passes: each folder's own test suite runs in a pytest of its own,
as a user would run it (``cd examples/NAME && pytest``), with the agentsim plugin loaded from the
installed package. The selected suites start together in parallel subprocesses, so this costs
about as much as the slowest one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUITES = sorted(p.parent for p in EXAMPLES.glob("*/pytest.ini"))

Runs = dict[Path, "subprocess.Popen[str]"]


@pytest.fixture(scope="session")
def example_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runs]:
    """The example suites this session will check, all started at once."""
    wanted = [
        Path(str(item.callspec.params["folder"]))
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_example_suite_passes"
        and hasattr(item, "callspec")
    ]
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        # hypothesis keeps a cache next to the tests otherwise
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path_factory.mktemp("hypothesis")),
    }
    env.pop("PYTEST_ADDOPTS", None)
    runs: Runs = {
        folder: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for folder in wanted
    }
    yield runs
    for process in runs.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_there_are_examples() -> None:
    assert [p.name for p in SUITES] == [
        "ci_verification",
        "fastapi_agent",
        "fuzzing",
        "production_bug",
    ]


@pytest.mark.parametrize("folder", SUITES, ids=[p.name for p in SUITES])
def test_example_suite_passes(folder: Path, example_runs: Runs) -> None:
    process = example_runs[folder]
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert " passed" in output, output
    assert "failed" not in output, output
