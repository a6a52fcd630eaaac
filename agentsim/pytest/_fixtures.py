"""The SSE snapshot fixtures under their first home, for conftests that import them from here.

They live in `agentsim.pytest._plugin` now, which the ``pytest11`` entry point registers, so a
test gets them without importing anything.
"""

from __future__ import annotations

from agentsim.pytest._plugin import normalized_sse_snapshot, sse_snapshot

__all__ = ["normalized_sse_snapshot", "sse_snapshot"]
