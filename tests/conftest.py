"""Test configuration: the project's hypothesis profiles, chosen deliberately.

- ``dev`` (default on a workstation): quick, randomized, with the local example database.
- ``ci`` (default when ``CI`` is set; it replaces hypothesis' own built-in ``ci`` profile):
  derandomized, so a CI run is reproducible, no database, and prints the reproduction blob.
- ``fuzz``: many examples, for long exploratory runs (``HYPOTHESIS_PROFILE=fuzz pytest -m slow``).
``HYPOTHESIS_PROFILE`` overrides the choice. No profile has a deadline: examples run on virtual
time, and wall-clock deadlines would only add noise on a loaded machine.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("fuzz", max_examples=5_000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
