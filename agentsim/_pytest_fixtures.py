"""pytest fixtures for SSE snapshots (syrupy), ready to be a pytest plugin.

A conftest imports them (``from agentsim._pytest_fixtures import sse_snapshot``), or the package
registers this module under the ``pytest11`` entry point. They build on syrupy's own ``snapshot``
fixture, so ``pytest --snapshot-update`` writes and refreshes the ``.sse`` files as usual.
syrupy is imported only when a fixture is used, so registering the plugin never breaks a pytest
run that has no syrupy installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

__all__ = ["normalized_sse_snapshot", "sse_snapshot"]


@pytest.fixture
def sse_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Compare a transcript (bytes, str or agent events) with its byte-exact ``.sse`` file."""
    from ._snapshot import SSESnapshotExtension

    return snapshot.use_extension(SSESnapshotExtension)


@pytest.fixture
def normalized_sse_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Like `sse_snapshot`, with ids and times replaced by placeholders (`normalize_sse`)."""
    from ._snapshot import NormalizedSSESnapshotExtension

    return snapshot.use_extension(NormalizedSSESnapshotExtension)
