"""What the benches' ``--against CHECKOUT`` shares: checking that the folder holds an agentsim
package, and running a bench's ``--measure`` child in a fresh process that imports agentsim from
that checkout. The child runs in a temporary folder, so whatever an older checkout writes into
its working directory (hypothesis' ``.hypothesis/``, say) is removed with it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["checkout", "measure_in"]


def checkout(value: str) -> Path:
    """The argparse type of ``--against``: a folder holding an ``agentsim`` package."""
    path = Path(value)
    if not (path / "agentsim" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{value}: no agentsim package in that folder")
    return path


def measure_in(root: Path, script: str, *args: str) -> Any:
    """What `script` run with ``--measure *args`` prints (JSON), in a fresh process that
    imports agentsim from the checkout `root`."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, script, "--measure", *args]
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        name = Path(script).stem
        raise SystemExit(f"{name}: measuring {root} failed:\n{done.stderr}")
    return json.loads(done.stdout)
