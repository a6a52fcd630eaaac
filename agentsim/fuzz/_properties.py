"""Fuzzing any loop: loading it, running it guarded, the properties, and reproducer files.

This module needs no hypothesis (``agentsim run --loop`` uses it); the search itself is in
`agentsim.fuzz._search`.

- **Loading a loop.** ``--loop module:attr`` names a factory (a class or function returning an
  object with the protocol's ``run`` method) or a ready loop object. The current directory is
  importable, as with ``python -m``, so ``tests.buggy_loops:partial_text_lost`` works from the
  project root. A factory that takes ``hooks`` / ``guardrails`` keywords (as `ReferenceLoop`
  does) gets the scenario's; one built per run, so runs never share state.
- **Running guarded.** `run_guarded` runs a scenario and never raises for the loop's sake: a
  loop that raises, hangs (nothing can ever wake it) or runs on past a virtual watchdog (four
  deadlines plus an hour) gets a `RunResult` with the events it did deliver, their invariant
  violations (EV2 at least: no terminal event) and a problem line saying what happened.
  `run_with_loop` is that for a file and a ``--loop`` spec: what ``agentsim run --loop`` runs.
  Each run gets a fresh `VirtualEventLoop` without `asyncio.Runner`, whose SIGINT handling
  alone costs more than a small run.
- **Properties.** Each takes a case - scenario data and a parameter - and a loop, and returns
  a `Failure` or None: ``run`` (every invariant over one run), ``sweep`` (the cancellation
  sweep), ``M1``, ``M2``, ``M3`` (`agentsim.harness._metamorphic`). A failure carries its
  reproducer:
  scenario data that `agentsim run` replays as it failed. Script deviations (requests never
  made) are not failures here: generated scripts are over-provisioned on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
    Sized,
)
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentsim.cassettes._files import dump_yaml, write_text_atomic
from agentsim.check._invariants import Violation, check_trace
from agentsim.core._errors import HarnessError, InputError
from agentsim.core._events import AgentEvent, RunCancelled, RunCompleted, RunFailed, TerminalEvent
from agentsim.core._history import Message
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset
from agentsim.core._virtual_loop import VirtualEventLoop
from agentsim.harness._metamorphic import (
    check_determinism,
    check_fragmentation,
    check_stretch,
    metamorphic_blockers,
    rechunk,
    stretch,
)
from agentsim.harness._recording import recording_of
from agentsim.harness._run import RunResult, expectation_of, simulate
from agentsim.harness._sweep import sweep
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentLoop, AgentRun, LoopOptions, Provider, RunRequest
from agentsim.scenario._schema import Scenario, load_scenario, parse_scenario
from agentsim.scenario._script import scenario_guardrails, scenario_hooks

__all__ = [
    "CHECKS",
    "Failure",
    "LoopFactory",
    "crashed",
    "load_loop",
    "make_loop",
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
    for part in attr.split("."):
        if not hasattr(target, part):
            raise InputError(f"{module_name!r} has no attribute {attr!r}", path="--loop")
        target = getattr(target, part)
    if not callable(target) and not callable(getattr(target, "run", None)):
        raise InputError(f"{spec!r} is neither a loop nor a factory of loops", path="--loop")
    if not inspect.isclass(target) and callable(getattr(target, "run", None)):
        loop = target
        return lambda: loop  # a ready loop object
    factory: LoopFactory = target
    return factory


def make_loop(factory: LoopFactory | None, scenario: Scenario) -> AgentLoop:
    """A loop for one run of `scenario`: hooks and guardrails passed if the factory takes them."""
    if factory is None:
        factory = ReferenceLoop
    try:
        accepted = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        accepted = set()
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


class _Recorded:
    """An `AgentRun` that keeps what the wrapped run delivered, for when the run blows up."""

    def __init__(self, run: AgentRun, events: list[AgentEvent]) -> None:
        self.run, self.events = run, events
        self._iterator = self._pass_through()

    async def _pass_through(self) -> AsyncGenerator[AgentEvent, None]:
        async for event in self.run:
            self.events.append(event)
            yield event

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._iterator

    @property
    def history(self) -> Sequence[Message]:
        return self.run.history

    @property
    def outcome(self) -> TerminalEvent | None:
        return getattr(self.run, "outcome", None)

    async def aclose(self) -> None:
        await self._iterator.aclose()
        await self.run.aclose()


class _Recorder:
    def __init__(self, loop: AgentLoop) -> None:
        self.loop = loop
        self.events: list[AgentEvent] = []
        self.runs: list[_Recorded] = []
        self.provider: Provider | None = None  # as handed to the loop: it holds the recording

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        self.provider = provider
        recorded = _Recorded(
            self.loop.run(request, provider=provider, tools=tools, runtime=runtime), self.events
        )
        self.runs.append(recorded)
        return recorded


def _as_scenario(scenario: Scenario | Mapping[str, Any] | str | Path) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return parse_scenario(dict(scenario))
    return load_scenario(scenario)


def _run_virtual(main: Coroutine[Any, Any, RunResult]) -> RunResult:
    """`run_virtual` without `asyncio.Runner`, whose SIGINT handling costs more than a whole
    small run (on Python 3.11 it even reprs the result); cleans up the same way."""
    loop = VirtualEventLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _watchdog(options: LoopOptions) -> float:
    return 4 * options.deadline + 3600.0


def run_guarded(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    *,
    loop: LoopFactory | None = None,
    seed: int | None = None,
) -> RunResult:
    """Run a scenario (model, data or path) through `loop`; never raises for the loop's sake."""
    model = _as_scenario(scenario)
    recorder = _Recorder(make_loop(loop, model))
    limit = _watchdog(LoopOptions(**model.options.model_dump()))

    stuck: list[str] = []
    started: list[bool] = []

    async def guarded() -> RunResult:
        started.append(True)
        event_loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert isinstance(event_loop, VirtualEventLoop)
        assert task is not None

        def watchdog() -> None:
            # Nothing else scheduled: the loop only got here because nothing could wake it.
            ready: Sized = getattr(event_loop, "_ready", ())
            busy = len(ready) > 0 or any(not h.cancelled() for h in event_loop._scheduled)
            stuck.append(
                f"the run was still going at the watchdog (virtual t = {limit:g} s)"
                if busy
                else "the run hung: nothing could ever wake it again (a deadlock)"
            )
            task.cancel()

        handle = event_loop.call_at(event_loop.time() + limit, watchdog)
        try:
            return await simulate(model, seed=seed, loop=recorder)
        finally:
            handle.cancel()

    if _loop_running():
        # A thread runs one loop at a time: agentsim's limitation, never the loop's fault.
        return _harness_run(
            model,
            recorder,
            seed,
            "a simulated run needs a thread without a running event loop (from an async "
            "test, await the agentsim_arun fixture)",
        )
    main = guarded()
    try:
        return _run_virtual(main)
    except asyncio.CancelledError:
        if not stuck:
            raise
        problem = stuck[0]
    except Exception as exc:
        if not started or isinstance(exc, HarnessError):  # agentsim's failure, not the loop's
            main.close()
            return _harness_run(model, recorder, seed, f"{type(exc).__name__}: {exc}")
        problem = f"the loop raised {type(exc).__name__}: {exc}"
    return _broken_run(model, recorder, seed, problem)


def _harness_run(model: Scenario, recorder: _Recorder, seed: int | None, error: str) -> RunResult:
    """agentsim could not run the loop: a harness error, with nothing of the loop's to judge."""
    broken = _broken_run(model, recorder, seed, "")
    return replace(broken, problems=(), violations=(), harness=(error,))


def _broken_run(model: Scenario, recorder: _Recorder, seed: int | None, problem: str) -> RunResult:
    events = tuple(recorder.events)
    history: tuple[Message, ...] = ()
    if recorder.runs:
        try:
            history = tuple(recorder.runs[0].history)
        except Exception:  # a broken run may not even have a history
            history = ()
    last = events[-1] if events else None
    outcome = last if isinstance(last, RunCompleted | RunFailed | RunCancelled) else None
    result = RunResult(
        seed=model.seed if seed is None else seed,
        events=events,
        history=history,
        outcome=outcome,
        options=LoopOptions(**model.options.model_dump()),
        dropped=model.drop is not None and outcome is None,
        problems=(problem,),
        initial_messages=1 + bool(model.system),
        recording=recording_of(recorder.provider),
    )
    return replace(result, violations=tuple(check_trace(result.trace)))


def run_with_loop(
    path: str | Path, *, loop: str | None = None, seed: int | None = None, wall_clock: bool = False
) -> RunResult:
    """What ``agentsim run FILE [--loop module:factory] [--seed N] [--virtual-wall-clock]`` runs."""
    factory = load_loop(loop) if loop is not None else None
    scenario = load_scenario(path)
    if wall_clock:
        scenario = scenario.model_copy(update={"virtual_wall_clock": True})
    return run_guarded(scenario, loop=factory, seed=seed)


# -- properties -----------------------------------------------------------------------------------


_CRASHES = ("the loop raised", "the run was still going", "the run hung")


def crashed(result: RunResult) -> bool:
    """Did the run raise, hang or run away (see `run_guarded`), or could agentsim not run it?"""
    return bool(result.harness) or (
        bool(result.problems) and result.problems[-1].startswith(_CRASHES)
    )


def _crash_text(result: RunResult) -> str:
    return f"harness: {result.harness[0]}" if result.harness else result.problems[-1]


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
        return f"{self.prop}:{','.join(self.ids)}"

    def lines(self) -> list[str]:
        out = [str(v) for v in self.violations]
        return [self.crash, *out] if self.crash else out


def _run_failure(prop: str, data: dict[str, Any], result: RunResult, case: Case) -> Failure | None:
    crash = _crash_text(result) if crashed(result) else None
    if not result.violations and crash is None:
        return None
    return Failure(prop, data, result.violations, crash, case=case)


def check_run(case: Case, loop: LoopFactory | None) -> Failure | None:
    """Every invariant over one run of the scenario."""
    data = case[0]
    return _run_failure("run", data, run_guarded(data, loop=loop), case)


def check_sweep(case: Case, loop: LoopFactory | None) -> Failure | None:
    """Every invariant (EV7 and H2 above all) at every cancellation point of the scenario."""
    for variant, result in sweep(case[0], lambda d: run_guarded(d, loop=loop)):
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
) -> Failure | None:
    data = case[0]
    a = run_guarded(data, loop=loop)
    second = transform(data)
    b = run_guarded(second, loop=loop)
    for result in (a, b):
        if crashed(result):
            return _run_failure(prop, data, result, case)
    violations = tuple(compare(a, b))
    if not violations:
        return None
    reproducer = _pinned(second, a, timed=prop != "M3")
    return Failure(prop, reproducer, violations, note=note, case=case, original=data)


def check_m1(case: Case, loop: LoopFactory | None) -> Failure | None:
    """M1: the scenario re-chunked (seed = the case's parameter) means the same run."""
    data, seed = case
    if metamorphic_blockers(data):
        return None
    note = (
        "the same responses cut at other chunk boundaries; `expect` pins the original run, "
        "which is the .original.yaml file next to this one"
    )
    return _pair("M1", case, loop, lambda d: rechunk(d, seed), check_fragmentation, note)


def check_m2(case: Case, loop: LoopFactory | None) -> Failure | None:
    """M2: the scenario run twice with the same seed gives the same bytes."""
    note = "run it twice: the two runs differ (compare `agentsim run` outputs)"
    return _pair("M2", case, loop, lambda d: d, check_determinism, note)


def check_m3(case: Case, loop: LoopFactory | None) -> Failure | None:
    """M3: the scenario's delays stretched by the case's factor change only `t`."""
    data, factor = case
    if metamorphic_blockers(data, factor=factor):
        return None
    note = (
        f"delays stretched {factor:g} times; `expect` pins the original run (but for t), "
        "which is the .original.yaml file next to this one"
    )
    return _pair("M3", case, loop, lambda d: stretch(d, factor), check_stretch, note)


CHECKS: dict[str, Callable[[Case, LoopFactory | None], Failure | None]] = {
    "run": check_run,
    "sweep": check_sweep,
    "M1": check_m1,
    "M2": check_m2,
    "M3": check_m3,
}


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
    if failure.original is not None:
        original = path.with_suffix(".original.yaml")
        head = f"# the original scenario of {path.name}: the two runs should mean the same\n"
        data = {"description": f"Original of {path.name}.", **failure.original}
        write_text_atomic(original, head + dump_yaml(data, sort_keys=False))
    write_text_atomic(path, f"{replay}\n{text}")
    return path
