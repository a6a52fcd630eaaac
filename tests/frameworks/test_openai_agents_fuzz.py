"""Fuzzing an openai-agents agent (two tools and a handoff) from a one-file spec outside the
project, as a user would: ``agentsim fuzz --loop spec:loop`` ends with 0 or 1, never 2 or a
traceback, and every failure it reports replays with ``agentsim run --loop spec:loop FILE``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents")

from agentsim.adapters._loops import offered_tool_names
from agentsim.fuzz._properties import as_factory
from agentsim.fuzz._search import loop_features, search

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "frameworks" / "openai_agents_spec.py"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def test_a_short_search_passes_on_what_the_sdk_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.syspath_prepend(str(SPEC.parent))
    import openai_agents_spec as spec

    # As ``agentsim fuzz --loop openai_agents_spec:loop`` searches: what the adapter declares.
    factory = as_factory(spec.loop)
    features, source = loop_features(factory)
    assert source == "declared"
    names = offered_tool_names(spec.loop)
    found = search(
        "run", factory, examples=8, seed=5, shrink=False, features=features, tool_names=names
    )
    assert found.failure is None, found.failure


@pytest.mark.slow
@pytest.mark.parametrize("name", ["loop", "chat"])
def test_agentsim_fuzz_on_a_spec_outside_the_project(name: str, tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "spec.py")
    out = tmp_path / "found"
    command = [sys.executable, "-m", "agentsim", "fuzz", "--loop", f"spec:{name}"]
    command += ["--examples", "150", "--seed", "1", "--out", str(out)]
    done = subprocess.run(
        command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=1200
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    reproducers = sorted(out.glob("*.yaml")) if out.exists() else []
    assert bool(reproducers) == (done.returncode == 1), done.stdout
    for path in reproducers:
        replay = [sys.executable, "-m", "agentsim", "run", "--loop", f"spec:{name}", str(path)]
        again = subprocess.run(
            replay, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert again.returncode == 1, f"{path.name} does not replay:\n{again.stderr}"
