"""The project's hypothesis profiles: ``dev``, ``ci`` and ``fuzz``, registered by the package.

- ``dev`` (the default on a workstation): quick (60 examples a test), randomized, and with the
  example database in ``.hypothesis/examples`` under the working directory, so that a failure
  found once is replayed first on the next run until it is fixed.
- ``ci`` (the default when the ``CI`` environment variable is set; it replaces hypothesis' own
  built-in ``ci`` profile): derandomized, so the same commit tests the same examples on every CI
  run and a red build is reproducible; no database (a CI checkout starts empty anyway); prints
  the reproduction blob of a failure.
- ``fuzz``: 5,000 examples a test, randomized, with the database: for long exploratory runs
  (``HYPOTHESIS_PROFILE=fuzz pytest -m slow``), which then seed the database for ``dev``.

No profile has a deadline: examples run on virtual time, so a wall-clock deadline would only
measure how loaded the machine is. `load_profile` picks ``HYPOTHESIS_PROFILE`` if set, else
``ci`` under CI, else ``dev``; tests/conftest.py calls it, and so can any project that uses
agentsim's strategies in its own test suite.

The example database is a `DirectoryBasedExampleDatabase`: one file per example, written
through a temporary file and a rename, so several processes (pytest-xdist workers) can share
it; docs/fuzzing.md says more.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hypothesis import HealthCheck, settings

__all__ = ["PROFILES", "load_profile", "register_profiles"]

PROFILES: Mapping[str, settings] = {
    "dev": settings(max_examples=60, deadline=None),
    "ci": settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    ),
    "fuzz": settings(max_examples=5_000, deadline=None),
}


def register_profiles() -> None:
    """Register ``dev``, ``ci`` and ``fuzz`` with hypothesis (idempotent)."""
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def default_profile(environ: Mapping[str, str] | None = None) -> str:
    """``HYPOTHESIS_PROFILE`` if set, else ``ci`` when ``CI`` is set, else ``dev``."""
    env = os.environ if environ is None else environ
    return env.get("HYPOTHESIS_PROFILE") or ("ci" if env.get("CI") else "dev")


def load_profile(name: str | None = None) -> str:
    """Register the profiles and load `name` (default: `default_profile()`); returns the name."""
    register_profiles()
    chosen = name or default_profile()
    settings.load_profile(chosen)
    return chosen
