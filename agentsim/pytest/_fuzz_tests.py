"""agentsim's fuzz properties as ordinary hypothesis tests, for engines that run test suites.

``TestMyLoop = fuzz_tests("my_agent:loop")`` in a test module gives a class with one
``@given`` test per property (``test_run``, ``test_sweep``, ``test_m1`` ...), each drawing cases
from the same strategy as ``agentsim fuzz`` (only what the loop declares, calls naming the tools
it offers; a property needing a feature the loop lacks is a skipped test that says so) and
judging them with the same check. So the existing
engines for hypothesis tests run them unchanged: pytest (with the project's hypothesis profile and
example database), ``pytest -n auto`` (pytest-xdist spreads the tests over processes) and HypoFuzz
(``hypothesis fuzz``: coverage-guided, multi-process, multi-machine through a shared database).
agentsim writes no scheduler of its own.

A failing case fails the test with the invariant messages; on hypothesis' final replay of the
minimal case (and only then, so shrinking writes nothing) its reproducer is written to ``out``,
the file ``agentsim run FILE --loop SPEC`` replays, and its path is in the failure message. Each
test's database key is the one ``agentsim fuzz --database`` uses for that loop and property, so a
campaign run by HypoFuzz and a later ``agentsim fuzz`` against the same database share what they
found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context

from agentsim.adapters._loops import offered_tool_names
from agentsim.core._errors import InputError
from agentsim.fuzz._database import database_key
from agentsim.fuzz._properties import (
    CHECKS,
    Case,
    LoopFactory,
    as_factory,
    load_loop,
    write_reproducer,
)
from agentsim.fuzz._search import PROPERTIES, loop_features, property_cases
from agentsim.harness._guard import Limits
from agentsim.loop._features import Feature
from agentsim.loop._protocol import AgentLoop

__all__ = ["fuzz_tests"]


def _factory(loop: str | LoopFactory | AgentLoop | None) -> LoopFactory | None:
    if loop is None:
        return None
    if isinstance(loop, str):
        return load_loop(loop)
    if callable(loop) or callable(getattr(loop, "run", None)):
        return as_factory(loop)
    raise InputError(f"expected a loop, a loop factory or 'module:attr', got {loop!r}", path="loop")


def _cases(
    prop: str, factory: LoopFactory | None, features: frozenset[Feature]
) -> st.SearchStrategy[Case]:
    """What ``agentsim fuzz`` draws for `factory`: only the `features` it declares, calls
    naming the tools it offers (an adapter's, learned by a probe run). Deferred to the first
    draw, so collecting the tests neither builds a loop nor runs a probe."""

    def cases() -> st.SearchStrategy[Case]:
        names = offered_tool_names(factory()) or None if factory is not None else None
        return property_cases(prop, features=features, tool_names=names)

    return st.deferred(cases)


def _test(
    prop: str, spec: str | None, factory: LoopFactory | None, out: Path, target: str
) -> Callable[..., None]:
    check = CHECKS[prop]
    features, _ = loop_features(factory)
    missing = PROPERTIES[prop].needs - features
    if missing:  # as ``agentsim fuzz`` leaves the property out, say why the test does not run

        def skipped(self: object) -> None:
            pytest.skip(
                f"{prop} needs {', '.join(sorted(missing))}, which {target} does not declare"
            )

        skipped.__name__ = skipped.__qualname__ = f"test_{prop.lower()}"
        skipped.__doc__ = f"agentsim property {prop}: {PROPERTIES[prop].what}."
        return skipped

    def test(self: object, case: Case) -> None:
        failure = check(case, factory, Limits())
        if failure is None:
            return
        where = ""
        if current_build_context().is_final:
            path = write_reproducer(failure, out, loop=spec)
            where = f"\nreproducer: {path} (replay: agentsim run {path}"
            where += f" --loop {spec})" if spec else ")"
        lines = "\n".join(f"  {line}" for line in failure.lines())
        raise AssertionError(f"agentsim property {prop} failed ({failure.key}):\n{lines}{where}")

    test.__name__ = test.__qualname__ = f"test_{prop.lower()}"
    test.__doc__ = f"agentsim property {prop}: {PROPERTIES[prop].what}."
    wrapped = settings(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(given(case=_cases(prop, factory, features))(test))
    # The key ``agentsim fuzz --database`` stores this loop's and property's cases under.
    wrapped._hypothesis_internal_database_key = database_key(spec, prop)  # type: ignore[attr-defined]
    return wrapped


def fuzz_tests(
    loop: str | LoopFactory | AgentLoop | None = None,
    *,
    properties: Sequence[str] = tuple(PROPERTIES),
    out: str | Path = "fuzz-failures",
    name: str | None = None,
) -> type:
    """A test class with one hypothesis test per property for `loop` (``"module:attr"``, a
    factory, a loop object; None: the reference loop). Assign it to a ``Test...`` name in a test
    module: ``TestSupportAgent = fuzz_tests("support_agent:SupportAgentLoop")``."""
    unknown = [p for p in properties if p not in CHECKS]
    if unknown or not properties:
        raise InputError(
            f"unknown properties {unknown}; expected some of {', '.join(CHECKS)}", path="properties"
        )
    spec = loop if isinstance(loop, str) else None
    factory = _factory(loop)
    target = spec or (
        getattr(loop, "__name__", None) or type(loop).__name__ if loop else "reference"
    )
    members: dict[str, Any] = {
        f"test_{prop.lower()}": _test(prop, spec, factory, Path(out), target) for prop in properties
    }
    members["__doc__"] = f"agentsim's fuzz properties for {target}."
    return type(name or "TestAgentsimFuzz", (), members)
