"""The benches' ``--against``: the same measurement of another checkout, in fresh processes
beside this one, printed as a ratio (here against this checkout itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def _bench(
    *args: str, cwd: Path, script: str = "bench_load.py"
) -> subprocess.CompletedProcess[str]:
    size = ["--items", "300", "--runs", "1"] if script == "bench_load.py" else ["--examples", "30"]
    command = [sys.executable, str(BENCH / script), *size, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_against_another_checkout_prints_the_ratio_and_writes_nothing(tmp_path: Path) -> None:
    done = _bench("--against", str(ROOT), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("300 chunk items") == 2
    assert "x as fast as --against" in done.stdout
    assert "the goal is 9.0x the tree issue #13 was filed on" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_fuzz_bench_against_another_checkout_prints_the_ratio(tmp_path: Path) -> None:
    done = _bench("--against", str(ROOT), "--rounds", "1", cwd=tmp_path, script="bench_fuzz.py")
    assert done.returncode == 0, done.stderr
    assert "x as fast as --against" in done.stdout
    assert "the goal is 1.89x the tree issue #12 was filed on" in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", ["bench_load.py", "bench_fuzz.py"])
def test_against_a_folder_without_agentsim_is_one_clear_error(tmp_path: Path, script: str) -> None:
    done = _bench("--against", str(tmp_path), cwd=tmp_path, script=script)
    assert done.returncode == 2
    assert "no agentsim package in that folder" in done.stderr
    assert "Traceback" not in done.stderr
