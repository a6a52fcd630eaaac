"""Isolating a search from the process it runs in: the same seed, the same cases, no files.

`agentsim fuzz --seed S` must generate the same cases from the command line and from Python,
in any working directory, after any other hypothesis activity in the process; and it must write
nothing but its reproducers. Two things in hypothesis break that, and this module neutralizes
both for the duration of a search (`isolated_search`):

- **Local constants.** With 5% probability a draw returns a constant harvested from the source
  of every "local" module (not stdlib, not site-packages) currently in ``sys.modules``
  (``hypothesis.internal.conjecture.providers._get_local_constants``, read in hypothesis
  6.170). Which modules are loaded depends on how the process started and what it did before
  (the CLI imports the server, a test suite its own helpers), so the same seed drew different
  cases; and each harvest is cached as a file under ``.hypothesis/constants/`` in the working
  directory, naming absolute source paths. Hypothesis has no setting for it, so while a search
  runs we swap in an empty constant pool and a private cache of permitted constants (hypothesis'
  own global constants - fixed numbers and strings - still come up, deterministically).
- **Inherited settings.** ``settings(...)`` inherits every unnamed setting from the loaded
  profile (a test suite's ``ci`` profile derandomizes, and a ``derandomize`` search ignores the
  seed). `search_settings` names every setting.

The patch is process-wide while any search runs (a counter makes nesting and threads safe);
other hypothesis tests running at the same moment in other threads would see no local
constants either, which changes only their distribution. If a future hypothesis renames these
internals, the patch does nothing and tests/fuzz/test_determinism.py fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings

__all__ = ["isolated_search", "search_settings"]

_lock = threading.Lock()
_depth = 0
_saved: dict[str, Any] = {}


def search_settings(*, max_examples: int, shrink: bool) -> settings:
    """Settings for one search, every one named so that no loaded profile leaks in."""
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
    return settings(
        max_examples=max_examples,
        derandomize=False,
        database=None,
        verbosity=Verbosity.quiet,
        phases=phases,
        stateful_step_count=50,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        deadline=None,
        print_blob=False,
        backend="hypothesis",
    )


def _patch() -> None:
    try:
        from hypothesis.internal.cache import LRUCache
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # pragma: no cover - a hypothesis without these internals
        return
    if not hasattr(providers, "_get_local_constants") or not hasattr(
        providers, "CONSTANTS_CACHE"
    ):  # pragma: no cover
        return
    empty = Constants()
    _saved["get"] = providers._get_local_constants
    _saved["cache"] = providers.CONSTANTS_CACHE
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = LRUCache(1024)


def _unpatch() -> None:
    if not _saved:
        return
    from hypothesis.internal.conjecture import providers

    providers._get_local_constants = _saved.pop("get")
    providers.CONSTANTS_CACHE = _saved.pop("cache")


@contextmanager
def isolated_search() -> Iterator[None]:
    """While this is open, hypothesis draws no constants from local source files and writes no
    ``.hypothesis/constants`` cache."""
    global _depth
    with _lock:
        if _depth == 0:
            _patch()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _unpatch()
