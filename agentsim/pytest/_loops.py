"""Which loop the fixtures and collected files run: ``--agentsim-loop``, the ``agentsim_loop``
ini key, a fixture override, or None for the reference loop."""

from __future__ import annotations

import inspect
import sys

import pytest

from agentsim.core._errors import InputError
from agentsim.fuzz._properties import LoopFactory, load_loop
from agentsim.harness._guard import Limits
from agentsim.loop._protocol import AgentLoop

# A loop as the fixtures take it: a factory (class or function), a loop object, or "module:attr".
LoopSpec = LoopFactory | AgentLoop | str


def loop_spec(config: pytest.Config) -> str | None:
    spec = config.getoption("agentsim_loop") or str(config.getini("agentsim_loop") or "")
    return spec or None


def _import_loop(config: pytest.Config, spec: str) -> LoopFactory:
    """`load_loop` with the rootdir importable too (the ini file's folder)."""
    root = str(config.rootpath)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return load_loop(spec)
    except InputError as exc:
        raise pytest.UsageError(f"agentsim: loop {spec!r}: {exc.message}") from None


_LOOP_KEY = pytest.StashKey[tuple[LoopFactory | None]]()


def configured_loop(config: pytest.Config) -> LoopFactory | None:
    """The loop named by the option or ini key (imported once), or None: the reference loop."""
    if _LOOP_KEY not in config.stash:
        spec = loop_spec(config)
        config.stash[_LOOP_KEY] = (_import_loop(config, spec) if spec else None,)
    return config.stash[_LOOP_KEY][0]


def factory_of(config: pytest.Config, loop: LoopSpec | None) -> LoopFactory | None:
    if loop is None:
        return None
    if isinstance(loop, str):
        return _import_loop(config, loop)
    if not inspect.isclass(loop) and callable(getattr(loop, "run", None)):
        ready: AgentLoop = loop  # type: ignore[assignment]  # a loop object, not a factory
        return lambda: ready
    if callable(loop):
        factory: LoopFactory = loop
        return factory
    raise TypeError(f"expected a loop, a loop factory or 'module:attr', got {loop!r}")


def run_limits(config: pytest.Config) -> Limits:
    """The guard of every simulated run: ``--agentsim-budget`` and ``--agentsim-max-events``."""
    return Limits.of(config.getoption("agentsim_budget"), config.getoption("agentsim_max_events"))
