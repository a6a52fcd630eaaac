"""bench/bench_load.py's ``--against``: the same measurement of another checkout, in fresh
processes beside this one, printed as a ratio (here against this checkout itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_load.py"


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH), "--items", "300", "--runs", "1", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_against_another_checkout_prints_the_ratio_and_writes_nothing(tmp_path: Path) -> None:
    done = _bench("--against", str(ROOT), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("300 chunk items") == 2
    assert "x as fast as --against" in done.stdout
    assert "the goal is 9.0x the tree issue #13 was filed on" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_against_a_folder_without_agentsim_is_one_clear_error(tmp_path: Path) -> None:
    done = _bench("--against", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "no agentsim package in that folder" in done.stderr
    assert "Traceback" not in done.stderr
