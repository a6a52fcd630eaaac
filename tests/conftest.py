"""Test configuration: the project's hypothesis profiles, registered by the package.

`agentsim.fuzz._profiles` defines ``dev`` (default), ``ci`` (default when ``CI`` is set:
derandomized, no database) and ``fuzz`` (5,000 examples); ``HYPOTHESIS_PROFILE`` overrides the
choice. See that module and docs/fuzzing.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agentsim.fuzz._profiles import load_profile

load_profile()


@pytest.fixture(autouse=True)
def _inner_pytest_asyncio_scope(request: pytest.FixtureRequest) -> Iterator[None]:
    """pytest runs started by a test (pytester) get pytest-asyncio's loop scope set, as a
    project's config would set it, so they do not warn that it is unset."""
    if "pytester" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts
    with pytest.MonkeyPatch.context() as patch:
        extra = "-o asyncio_default_fixture_loop_scope=function"
        patch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} {extra}".strip())
        yield
