"""Issue 17 parts 4/5 for pydantic-ai: `agentsim fuzz --loop spec:loop` on a one-file spec outside
the project (a pydantic-ai agent with two tools; one with a structured output type), at a fixed
seed and budget. It ends with exit 0 or 1, never 2 or a traceback, and every reproducer it writes
replays with `agentsim run --loop spec:loop REPRODUCER`. What it finds is docs/frameworks.md's
pydantic-ai section; the reproducers kept there replay in test_pydantic_ai_findings.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "frameworks" / "pydantic_ai_spec.py"


def _agentsim(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's agentsim, nothing else
    command = [sys.executable, "-m", "agentsim", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["loop", "structured"])
def test_fuzzing_the_spec_ends_cleanly_and_every_failure_replays(name: str, tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "spec.py")
    out = tmp_path / "out"
    args = ["fuzz", "--loop", f"spec:{name}", "--seed", "1", "--examples", "60"]
    done = _agentsim([*args, "--out", str(out)], tmp_path)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    reproducers = sorted(p for p in out.glob("*.yaml") if not p.name.endswith(".original.yaml"))
    assert (done.returncode == 1) == bool(reproducers), done.stderr[-3000:]
    for path in reproducers:
        if path.name.startswith(("M1-", "M2-", "M3-")):
            continue  # metamorphic: a pair of runs, replayed by `agentsim fuzz`, not `run`
        replayed = _agentsim(["run", str(path), "--loop", f"spec:{name}"], tmp_path)
        assert replayed.returncode == 1, (
            path.name,
            replayed.stdout[-2000:],
            replayed.stderr[-2000:],
        )
        assert "Traceback" not in replayed.stderr
