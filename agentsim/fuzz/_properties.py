"""Fuzzing any loop: loading it, running it guarded, the properties, and reproducer files.

This module needs no hypothesis (``agentsim run --loop`` uses it); the search itself is in
`agentsim.fuzz._search`.

- **Loading a loop.** ``--loop module:attr`` names a factory (a class or function returning an
  object with the protocol's ``run`` method) or a ready loop object. The current directory is
  importable, as with ``python -m``, so ``tests.buggy_loops:partial_text_lost`` works from the
  project root. A factory that takes ``hooks`` / ``guardrails`` keywords (as `ReferenceLoop`
  does) gets the scenario's; one built per run, so runs never share state.
- **Running guarded.** `run_guarded` runs a scenario through a fresh loop from a factory and
  never raises for the loop's sake: the guard is the harness' (`agentsim.harness._guard`), so
  a loop that raises, hangs, runs away, spins, blocks or streams forever gets a `RunResult`
  whose `crash` says what it did, with the events it did deliver and their invariant
  violations (EV2 at least: no terminal event). `run_with_loop` is that for a file and a
  ``--loop`` spec: what ``agentsim run --loop`` runs.
- **Properties.** Each takes a case - scenario data and a parameter - and a loop, and returns
  a `Failure` or None: ``run`` (every invariant over one run), ``sweep`` (the cancellation
  sweep), ``M1``, ``M2``, ``M3`` (`agentsim.harness._metamorphic`). A failure carries its
  reproducer:
  scenario data that `agentsim run` replays as it failed. Script deviations (requests never
  made) are not failures here: generated scripts are over-provisioned on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentsim.cassettes._files import dump_yaml, write_text_atomic
from agentsim.check._invariants import Violation
from agentsim.core._backends import ASYNCIO_ONLY, check_backend
from agentsim.core._errors import InputError
from agentsim.harness._guard import WALL_CLOCK_CRASHES, Limits
from agentsim.harness._metamorphic import (
    check_determinism,
    check_fragmentation,
    check_stretch,
    metamorphic_blockers,
    rechunk,
    stretch,
)
from agentsim.harness._result import RunResult, expectation_of
from agentsim.harness._run import guarded_run
from agentsim.harness._sweep import sweep
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentLoop
from agentsim.scenario._scenario_parts import scenario_guardrails, scenario_hooks
from agentsim.scenario._schema import Scenario, load_scenario, parse_scenario

__all__ = [
    "CHECKS",
    "Failure",
    "LoopFactory",
    "as_factory",
    "crashed",
    "load_loop",
    "make_loop",
    "replay_relation",
    "run_guarded",
    "run_with_loop",
    "write_reproducer",
]

LoopFactory = Callable[..., AgentLoop]
Case = tuple[dict[str, Any], Any]


# -- loading a loop -------------------------------------------------------------------------------


def load_loop(spec: str) -> LoopFactory:
    """The loop factory (or loop) named by ``module:attr``; `InputError` if there is none."""
    module_name, sep, attr = spec.partition(":")
    if not (sep and module_name and attr):
        raise InputError(f"expected module:factory (like mypkg.agent:make_loop), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import {module_name!r}: {exc}", path="--loop") from None
    except Exception as exc:  # the user's module failed while importing: say so, in one line
        raise InputError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}", path="--loop"
        ) from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise InputError(f"{module_name!r} has no attribute {attr!r}", path="--loop")
        target = getattr(target, part)
    if not callable(target) and not callable(getattr(target, "run", None)):
        raise InputError(f"{spec!r} is neither a loop nor a factory of loops", path="--loop")
    return as_factory(target)


def as_factory(target: LoopFactory | AgentLoop) -> LoopFactory:
    """`target` as a loop factory: a factory as it is, a ready loop object as a factory that
    returns it, with the object's declared ``features`` (what `fuzz` generates for)."""
    if not inspect.isclass(target) and callable(getattr(target, "run", None)):
        loop: AgentLoop = target  # type: ignore[assignment]

        def ready() -> AgentLoop:
            return loop

        ready.features = getattr(loop, "features", None)  # type: ignore[attr-defined]
        return ready
    factory: LoopFactory = target  # type: ignore[assignment]
    return factory


# What keywords each factory takes: `inspect.signature` costs more than a small run's loop, and
# a function's parameters do not change between runs (weak keys: a factory is never kept alive).
_KEYWORDS: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _keywords(factory: LoopFactory) -> frozenset[str]:
    try:
        return _KEYWORDS[factory]
    except (KeyError, TypeError):  # TypeError: unhashable, or not weakly referable
        pass
    try:
        accepted = frozenset(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        accepted = frozenset()
    with contextlib.suppress(TypeError):
        _KEYWORDS[factory] = accepted
    return accepted


def make_loop(factory: LoopFactory | None, scenario: Scenario) -> AgentLoop:
    """A loop for one run of `scenario`: hooks and guardrails passed if the factory takes them."""
    if factory is None:
        factory = ReferenceLoop
    accepted = _keywords(factory)
    kwargs: dict[str, Any] = {}
    if "hooks" in accepted:
        kwargs["hooks"] = scenario_hooks(scenario)
    if "guardrails" in accepted:
        kwargs["guardrails"] = scenario_guardrails(scenario)
    loop = factory(**kwargs)
    if not callable(getattr(loop, "run", None)):
        raise InputError(f"the factory returned {type(loop).__name__}, not a loop", path="--loop")
    return loop


# -- running guarded ------------------------------------------------------------------------------


def _as_scenario(scenario: Scenario | Mapping[str, Any] | str | Path) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return parse_scenario(dict(scenario))
    return load_scenario(scenario)


def run_guarded(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    *,
    loop: LoopFactory | None = None,
    seed: int | None = None,
    budget: float | None = None,
    max_events: int | None = None,
    limits: Limits | None = None,
    features: Iterable[str] | None = None,
    backend: str = "asyncio",
) -> RunResult:
    """Run a scenario (model, data or path) through a fresh loop from `loop`; never raises for
    the loop's sake (`agentsim.harness._guard`: `budget` wall-clock seconds, `max_events`).

    `features` overrides what the loop declares as the semantics it is judged on; `backend` is
    ``asyncio`` or ``trio``."""
    chosen_backend = check_backend(backend)
    model = _as_scenario(scenario)
    chosen = limits if limits is not None else Limits.of(budget, max_events)
    return guarded_run(
        model,
        loop=make_loop(loop, model),
        seed=seed,
        limits=chosen,
        features=features,
        backend=chosen_backend,
    )


def run_with_loop(
    path: str | Path,
    *,
    loop: str | None = None,
    seed: int | None = None,
    budget: float | None = None,
    max_events: int | None = None,
    wall_clock: bool = False,
    backend: str = "asyncio",
) -> RunResult:
    """What ``agentsim run FILE [--loop module:factory] [--seed N] [--budget S]
    [--virtual-wall-clock] [--backend asyncio|trio]`` runs."""
    chosen = check_backend(backend, path="--backend")
    factory = load_loop(loop) if loop is not None else None
    scenario = load_scenario(path)
    if wall_clock:
        scenario = scenario.model_copy(update={"virtual_wall_clock": True})
    if chosen == "trio" and scenario.virtual_wall_clock:
        raise InputError("--virtual-wall-clock works on the asyncio backend only", path="--backend")
    return run_guarded(
        scenario, loop=factory, seed=seed, budget=budget, max_events=max_events, backend=chosen
    )


# -- properties -----------------------------------------------------------------------------------


def crashed(result: RunResult) -> bool:
    """Did the loop raise, hang, run away or misbehave (see `run_guarded`), or could agentsim
    not run it?"""
    return result.crash is not None or bool(result.harness)


def _crash_text(result: RunResult) -> str:
    return f"harness: {result.harness[0]}" if result.harness else (result.crash or "")


@dataclass(frozen=True, slots=True)
class Failure:
    """A property that failed: which, what was wrong, and the reproducer (scenario data).

    For M1-M3 the reproducer is the second run's scenario with an `expect` pinned from the
    first, and `original` the first run's scenario: the pair shows the failure.
    """

    prop: str
    reproducer: dict[str, Any]
    violations: tuple[Violation, ...]
    crash: str | None = None
    note: str = ""
    case: Case = field(default=({}, None), compare=False)
    original: dict[str, Any] | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        ids = {v.invariant for v in self.violations}
        if self.crash:  # a harness error is its own category, not the loop's crash
            ids.add("harness" if self.crash.startswith("harness:") else "crash")
        return tuple(sorted(ids))

    @property
    def key(self) -> str:
        """What makes two failures the same: the property and its ids; for a crash, only what
        the loop did (any property may run into it, and what breaks after it - EV2, H3 ... -
        is its consequence), so that it is reported once."""
        if self.crash:
            return f"crash:{crash_kind(self.crash)}"
        return f"{self.prop}:{','.join(self.ids)}"

    @property
    def costly(self) -> bool:
        """A crash that took the whole wall-clock budget: not worth shrinking run by run."""
        return self.crash is not None and self.crash.startswith(WALL_CLOCK_CRASHES)

    def lines(self) -> list[str]:
        out = [str(v) for v in self.violations]
        return [self.crash, *out] if self.crash else out


def crash_kind(crash: str) -> str:
    """The stable part of a crash message: up to the first ``:`` or ``(`` ("the loop raised
    KeyError", "the loop called time.sleep", "the run hung")."""
    for stop in (":", "("):
        crash = crash.split(stop, 1)[0]
    return crash.strip()


def _run_failure(prop: str, data: dict[str, Any], result: RunResult, case: Case) -> Failure | None:
    crash = _crash_text(result) if crashed(result) else None
    if not result.violations and crash is None:
        return None
    return Failure(prop, data, result.violations, crash, case=case)


_DEFAULT = Limits()


def check_run(case: Case, loop: LoopFactory | None, limits: Limits = _DEFAULT) -> Failure | None:
    """Every invariant over one run of the scenario."""
    data = case[0]
    return _run_failure("run", data, run_guarded(data, loop=loop, limits=limits), case)


def check_sweep(case: Case, loop: LoopFactory | None, limits: Limits = _DEFAULT) -> Failure | None:
    """Every invariant (EV7 and H2 above all) at every cancellation point of the scenario."""
    for variant, result in sweep(case[0], lambda d: run_guarded(d, loop=loop, limits=limits)):
        failure = _run_failure("sweep", variant, result, case)
        if failure is not None:
            return failure
    return None


def _pinned(data: dict[str, Any], result: RunResult, *, timed: bool) -> dict[str, Any]:
    """`data` expecting what `result` did: how a relation's second run is replayed alone."""
    expect = expectation_of(result)
    if expect is None:
        return data
    if not timed:
        expect.pop("t", None)
    return {**data, "expect": expect}


def _pair(
    prop: str,
    case: Case,
    loop: LoopFactory | None,
    transform: Callable[[dict[str, Any]], dict[str, Any]],
    compare: Callable[[RunResult, RunResult], list[Violation]],
    note: str,
    limits: Limits,
) -> Failure | None:
    data = case[0]
    a = run_guarded(data, loop=loop, limits=limits)
    if a.crash is not None:
        return _run_failure(prop, data, a, case)
    second = transform(data)
    if prop == "M2":
        b = second_backend_run(second, loop=loop, limits=limits)
    else:
        b = run_guarded(second, loop=loop, limits=limits)
    if b.crash is not None:
        return _run_failure(prop, second, b, case)
    violations = tuple(compare(a, b))
    if not violations:
        return None
    reproducer = _pinned(second, a, timed=prop != "M3")
    return Failure(prop, reproducer, violations, note=note, case=case, original=data)


def check_m1(case: Case, loop: LoopFactory | None, limits: Limits = _DEFAULT) -> Failure | None:
    """M1: the scenario re-chunked (seed = the case's parameter) means the same run."""
    data, seed = case
    if metamorphic_blockers(data):
        return None
    note = (
        "the same responses cut at other chunk boundaries; `expect` pins the original run, "
        "which is the .original.yaml file next to this one"
    )
    return _pair("M1", case, loop, lambda d: rechunk(d, seed), check_fragmentation, note, limits)


def second_backend_run(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    *,
    loop: LoopFactory | None,
    limits: Limits,
    seed: int | None = None,
) -> RunResult:
    """M2's second run (DESIGN §4: "run after run, and on asyncio and trio"): on trio when trio
    is installed and the loop runs there (the reference loop, loops written against anyio);
    a loop that uses asyncio itself, or a scenario that reads the wall clock, runs on asyncio
    again."""
    model = _as_scenario(scenario)
    if importlib.util.find_spec("trio") is None or model.virtual_wall_clock:
        return run_guarded(model, loop=loop, seed=seed, limits=limits)
    b = run_guarded(model, loop=loop, seed=seed, limits=limits, backend="trio")
    if b.crash is not None and b.crash.startswith(ASYNCIO_ONLY):
        return run_guarded(model, loop=loop, seed=seed, limits=limits)
    return b


def check_m2(case: Case, loop: LoopFactory | None, limits: Limits = _DEFAULT) -> Failure | None:
    """M2: the scenario run twice with the same seed gives the same bytes, the second time on
    trio where the loop runs there (`second_backend_run`)."""
    note = (
        "run it on both backends: the two runs differ (compare `agentsim run` outputs with "
        "--backend asyncio and --backend trio)"
    )
    return _pair("M2", case, loop, lambda d: d, check_determinism, note, limits)


def check_m3(case: Case, loop: LoopFactory | None, limits: Limits = _DEFAULT) -> Failure | None:
    """M3: the scenario's delays stretched by the case's factor change only `t`."""
    data, factor = case
    if metamorphic_blockers(data, factor=factor):
        return None
    note = (
        f"delays stretched {factor:g} times; `expect` pins the original run (but for t), "
        "which is the .original.yaml file next to this one"
    )
    return _pair("M3", case, loop, lambda d: stretch(d, factor), check_stretch, note, limits)


Check = Callable[[Case, LoopFactory | None, Limits], Failure | None]
CHECKS: dict[str, Check] = {
    "run": check_run,
    "sweep": check_sweep,
    "M1": check_m1,
    "M2": check_m2,
    "M3": check_m3,
}


# -- replaying a relation -------------------------------------------------------------------------

RELATIONS = ("M1", "M2", "M3")


def replay_relation(
    path: str | Path,
    relation: str,
    *,
    original: str | Path | None = None,
    loop: str | None = None,
    seed: int | None = None,
    budget: float | None = None,
    max_events: int | None = None,
) -> RunResult:
    """``agentsim run FILE --relation R [--original ORIGINAL]``: run FILE, and check relation R
    (M1, M3: between ORIGINAL's run and FILE's; M2: between two runs of FILE). The relation's
    violations are added to FILE's result."""
    if relation not in RELATIONS:
        raise InputError(
            f"expected one of {', '.join(RELATIONS)}, got {relation!r}", path="--relation"
        )
    if relation != "M2" and original is None:
        raise InputError(f"--relation {relation} needs --original FILE", path="--original")
    factory = load_loop(loop) if loop is not None else None
    limits = Limits.of(budget, max_events)
    if relation == "M2":
        b = second_backend_run(path, loop=factory, seed=seed, limits=limits)
    else:
        b = run_guarded(load_scenario(path), loop=factory, seed=seed, limits=limits)
    first = path if relation == "M2" or original is None else original
    a = run_guarded(load_scenario(first), loop=factory, seed=seed, limits=limits)
    if a.crash is not None or b.crash is not None:
        return b if b.crash is not None else replace(b, crash=a.crash)
    compare = {"M1": check_fragmentation, "M2": check_determinism, "M3": check_stretch}[relation]
    return replace(b, violations=(*b.violations, *compare(a, b)))


# -- reproducers ----------------------------------------------------------------------------------


def _comment(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def reproducer_text(failure: Failure, *, loop: str | None, seed: int | None = None) -> str:
    """The reproducer file: a comment header (what failed, how to replay) and the scenario."""
    target = loop or "the reference loop"
    head = [f"# agentsim fuzz: property {failure.prop} fails against {target}"]
    if seed is not None:
        head[0] += f" (agentsim fuzz --seed {seed})"
    head += [f"#   {_comment(line)}" for line in failure.lines()]
    if failure.note:
        head.append(f"# {failure.note}")
    data = {"description": f"Reproducer: {failure.key} against {target}.", **failure.reproducer}
    parse_scenario(data, file="<reproducer>")  # never write a file `agentsim run` rejects
    return "\n".join(head) + "\n" + dump_yaml(data, sort_keys=False)


def write_reproducer(
    failure: Failure, directory: str | Path, *, loop: str | None, seed: int | None = None
) -> Path:
    """Write `failure`'s reproducer atomically into `directory` (and, for M1-M3, the original
    scenario as ``<name>.original.yaml``); returns the reproducer's path."""
    text = reproducer_text(failure, loop=loop, seed=seed)
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{failure.prop.lower()}-{'-'.join(failure.ids)}-{digest}.yaml"
    replay = f"# replay: agentsim run {path}" + (f" --loop {loop}" if loop else "")
    if failure.prop in RELATIONS:
        # `agentsim run` alone checks only the pinned `expect`; a difference in the history or
        # the merged events shows only when the relation itself is checked.
        replay += f" --relation {failure.prop}"
        if failure.prop != "M2":
            replay += f" --original {path.with_suffix('.original.yaml')}"
    if failure.original is not None:
        original = path.with_suffix(".original.yaml")
        head = f"# the original scenario of {path.name}: the two runs should mean the same\n"
        data = {"description": f"Original of {path.name}.", **failure.original}
        write_text_atomic(original, head + dump_yaml(data, sort_keys=False))
    write_text_atomic(path, f"{replay}\n{text}")
    return path
