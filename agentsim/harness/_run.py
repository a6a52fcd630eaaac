"""Running things: a scenario (or any provider) through a loop on virtual time, with every check.

`run_scenario` is the main entry point: it builds the scripted provider, tools, hooks and options
from a scenario, runs the loop on a fresh `VirtualEventLoop`, plays the scenario's cancellation or
consumer drop, and returns a `RunResult` holding the trace, the invariant violations, the script's
deviations (unexpected or missing requests, failed request checks) and the expectation mismatches.
`simulate` is the same as a coroutine, for use inside an already running virtual loop.

`run_scenario` never raises for the loop's sake (`agentsim.harness._guard`): a loop that
raises, hangs, runs away, spins, busy-waits, blocks in ``time.sleep``, streams events forever
or yields something that is not an event gets a `RunResult` whose `crash` says what it did,
with the events it did deliver and their invariant violations (EV2 at least).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeGuard

from agentsim.check._invariants import Trace, check_trace
from agentsim.core._backends import Backend, check_backend, clock, current_backend
from agentsim.core._errors import HarnessError, InputError
from agentsim.core._events import (
    EVENT_TYPES,
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    TerminalEvent,
)
from agentsim.core._history import Message
from agentsim.core._runtime import CancelToken, Runtime
from agentsim.core._tools import Toolset
from agentsim.core._virtual_loop import VirtualEventLoop
from agentsim.harness._guard import (
    DEFAULT_MAX_EVENTS,
    GuardedRun,
    Limits,
    Recorder,
    run_guarded_coroutine,
)
from agentsim.harness._recording import Recorder as TimelineRecorder
from agentsim.harness._recording import recording_of
from agentsim.harness._result import RunResult, unmet
from agentsim.harness._wall_clock import virtual_wall_clock as wall_clock
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._features import declared_features, parse_features
from agentsim.loop._protocol import (
    AgentLoop,
    AgentRun,
    LoopOptions,
    Provider,
    RunRequest,
)
from agentsim.scenario._scenario_parts import (
    scenario_guardrails,
    scenario_hooks,
    scenario_messages,
    scenario_tools,
)
from agentsim.scenario._schema import DropAt, Scenario, load_scenario
from agentsim.scenario._script import ScriptedProvider

__all__ = [
    "broken_run",
    "guard_simulation",
    "guarded_run",
    "run_loop",
    "run_scenario",
    "simulate",
]


async def run_loop(
    loop: AgentLoop,
    *,
    request: RunRequest,
    provider: Provider,
    tools: Toolset,
    seed: int = 0,
    drop: DropAt | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    features: Iterable[str] | None = None,
) -> RunResult:
    """Run any loop through the protocol, collect its trace and check the invariants.

    A loop that raises, yields something that is not an agent event or emits more than
    `max_events` events gets a result whose `crash` says so; nothing is raised for its sake.
    The loop is judged on `features` (default: what it declares, `declared_features`; None: all).
    Besides the loop's events and history, the trace gets what the harness sees from outside: the
    time the cancel token fired, and the provider's `requests` and `streams` if it records them.
    """
    return await _run_loop(
        loop,
        request=request,
        provider=provider,
        tools=tools,
        seed=seed,
        drop=drop,
        max_events=max_events,
        features=features,
    )


# What the caller of `_run_loop` adds to the result, from the run's crash, outcome and events:
# its script problems and expectation mismatches (`_simulate`), so that the result is built once.
Judge = Callable[
    [str | None, TerminalEvent | None, tuple[AgentEvent, ...]],
    tuple[tuple[str, ...], tuple[str, ...]],
]


async def _run_loop(
    loop: AgentLoop,
    *,
    request: RunRequest,
    provider: Provider,
    tools: Toolset,
    seed: int,
    drop: DropAt | None,
    max_events: int,
    features: Iterable[str] | None,
    judge: Judge | None = None,
) -> RunResult:
    judged = parse_features(features) if features is not None else declared_features(loop)
    time = clock()
    origin = time()
    cancelled_at: list[float] = []
    remove = request.cancel.add_callback(lambda: cancelled_at.append(round(time() - origin, 9)))
    recorder = TimelineRecorder()
    recorder.watch(request.cancel)
    events: list[AgentEvent] = []
    drop_at = drop.at_time if drop is not None else None  # (read once, not at every event)
    after = drop.after_event if drop is not None else None
    dropped = False
    crash: str | None = None
    run: AgentRun | None = None
    try:
        run = loop.run(
            request,
            provider=recorder.provider(provider),
            tools=recorder.tools(tools),
            runtime=Runtime(seed=seed),
        )
        # Under the guard (`guard_simulation`) the guard's wrapper keeps every event for when
        # the run blows up: here it is kept as it is taken, with no generator in between.
        iterated, kept = run.unwrap() if isinstance(run, GuardedRun) else (run, None)
        async for event in iterated:
            if type(event) not in EVENT_TYPES and not _is_event(event):  # (a loop may yield any)
                crash = f"the loop yielded {_kind(event)}, not an agent event"
                break
            if kept is not None:
                kept.append(event)
            if len(events) >= max_events:
                crash = f"the loop emitted more than {max_events} events (a stream without end?)"
                break
            if drop_at is not None and event.t >= drop_at:
                dropped = True
                break
            events.append(event)
            if after is not None and len(events) >= after and not _is_terminal(event):
                dropped = True
                break
    except Exception as exc:
        crash = f"the loop raised {type(exc).__name__}: {exc}"
        if current_backend() == "trio":
            from agentsim.harness._trio_run import asyncio_only

            crash = asyncio_only(exc) or crash
    finally:
        if run is not None:
            try:
                await run.aclose()
            except Exception as exc:
                crash = crash or f"the loop raised {type(exc).__name__} on aclose(): {exc}"
        remove()
    history: tuple[Message, ...] = ()
    try:
        history = tuple(run.history) if run is not None else ()
    except Exception as exc:
        crash = crash or f"the loop raised {type(exc).__name__} reading its history: {exc}"
    outcome = getattr(run, "outcome", None)
    if not _is_terminal(outcome):
        outcome = events[-1] if events and _is_terminal(events[-1]) else None
    # The trace first, then the result once (a frozen result copied with its violations would
    # cost more than some of the checks).
    delivered = tuple(events)
    cancel_at = cancelled_at[0] if cancelled_at else None
    requests, streams = _recorded(provider, "requests"), _recorded(provider, "streams")
    trace = Trace(
        events=delivered,
        history=history,
        options=request.options,
        dropped=dropped,
        initial_messages=len(request.messages),
        features=judged,
        cancel_requested_at=cancel_at,
        requests=requests,
        streams=streams,
    )
    # A run may report violations of its own (an adapter's dialect rules, S2): judged alongside.
    own = tuple(getattr(run, "violations", ()))
    problems, mismatches = judge(crash, outcome, delivered) if judge is not None else ((), ())
    return RunResult(
        seed=seed,
        events=delivered,
        history=history,
        outcome=outcome,
        options=request.options,
        dropped=dropped,
        initial_messages=len(request.messages),
        crash=crash,
        recording=recorder.freeze(),
        features=judged,
        cancel_requested_at=cancel_at,
        requests=requests,
        streams=streams,
        violations=tuple(check_trace(trace)) + own,
        problems=problems,
        mismatches=mismatches,
    )


def _recorded(provider: Provider, name: str) -> Any:
    """A provider's record (`requests`, `streams`) as a tuple, or None if it keeps none."""
    value = getattr(provider, name, None)
    return tuple(value) if isinstance(value, list | tuple) else None


def _is_event(value: object) -> TypeGuard[AgentEvent]:
    return isinstance(value, AgentEvent)


def _kind(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _is_terminal(event: object) -> TypeGuard[TerminalEvent]:
    return isinstance(event, RunCompleted | RunFailed | RunCancelled)


# LoopOptions by the option values they are built from: a fuzz campaign's scenarios share a few
# dozen, and building (and validating) one costs more than some checks of a run.
_OPTIONS: dict[object, LoopOptions] = {}


def _options(scenario: Scenario) -> LoopOptions:
    values = scenario.options.__dict__  # validated fields (pydantic keeps them in its __dict__)
    fields = tuple(values.values())
    # (0 == 0.0 == -0.0 == False): with a zero among them, keyed by what exactly they are.
    key: object = repr(fields) if 0.0 in fields else fields
    options = _OPTIONS.get(key)
    if options is None:
        options = LoopOptions(**values)
        if len(_OPTIONS) < 1024:
            _OPTIONS[key] = options
    return options


async def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    loop: AgentLoop | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    virtual_wall_clock: bool | None = None,
    features: Iterable[str] | None = None,
) -> RunResult:
    """Run `scenario` on the running (virtual) event loop; see `run_scenario` (but only
    `run_scenario` keeps the wall-clock budget and the virtual watchdog)."""
    wall = scenario.virtual_wall_clock if virtual_wall_clock is None else virtual_wall_clock
    if wall:
        event_loop = asyncio.get_running_loop()
        if not isinstance(event_loop, VirtualEventLoop):
            raise HarnessError("virtual_wall_clock needs the run on a VirtualEventLoop")
        with wall_clock(event_loop):
            return await _simulate(
                scenario, seed=seed, loop=loop, max_events=max_events, features=features
            )
    return await _simulate(scenario, seed=seed, loop=loop, max_events=max_events, features=features)


async def _simulate(
    scenario: Scenario,
    *,
    seed: int | None,
    loop: AgentLoop | None,
    max_events: int,
    features: Iterable[str] | None,
) -> RunResult:
    cancel = CancelToken()
    at_chunk = None
    if scenario.cancel is not None and scenario.cancel.request is not None:
        assert scenario.cancel.before_chunk is not None
        at_chunk = (scenario.cancel.request, scenario.cancel.before_chunk, cancel)
    origin = clock()()
    provider = ScriptedProvider(scenario.requests, cancel=at_chunk, origin=origin)
    if loop is None:
        loop = ReferenceLoop(
            hooks=scenario_hooks(scenario), guardrails=scenario_guardrails(scenario)
        )
    request = RunRequest(
        messages=scenario_messages(scenario), options=_options(scenario), cancel=cancel
    )
    expect = scenario.expect

    def judge(
        crash: str | None, outcome: TerminalEvent | None, events: tuple[AgentEvent, ...]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        # After a crash the script's deviations (requests never made) are its consequences.
        problems = () if crash else tuple(provider.problems + provider.unused())
        return problems, tuple(unmet(expect, outcome, events)) if expect else ()

    play = _run_loop(
        loop,
        request=request,
        provider=provider,
        tools=scenario_tools(scenario),
        seed=scenario.seed if seed is None else seed,
        drop=scenario.drop,
        max_events=max_events,
        features=features,
        judge=judge,
    )
    at_time = scenario.cancel.at_time if scenario.cancel is not None else None
    if at_time is None:
        result = await play
    elif current_backend() == "trio":
        from agentsim.harness._trio_run import cancelling_at

        result = await cancelling_at(cancel, origin + at_time, play)
    else:
        event_loop = asyncio.get_running_loop()
        timer = event_loop.call_at(event_loop.time() + at_time, cancel.cancel)
        try:
            result = await play
        finally:
            timer.cancel()
    return result


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    seed: int | None = None,
    loop: AgentLoop | None = None,
    budget: float | None = None,
    max_events: int | None = None,
    virtual_wall_clock: bool | None = None,
    features: Iterable[str] | None = None,
    backend: str = "asyncio",
) -> RunResult:
    """Load (if given a path) and run a scenario on a fresh virtual event loop, guarded.

    `seed` overrides the scenario's own; `loop` replaces the reference loop (the scenario's hooks
    and guardrails configure only the reference loop). `budget` (wall-clock seconds, default
    10) and `max_events` (default 100,000) bound the run (`agentsim.harness._guard`); `features`
    overrides what the loop declares (`declared_features`) as the semantics it is judged on.
    `backend` is ``"asyncio"`` (a `VirtualEventLoop`) or ``"trio"`` (``trio.run`` on a virtual
    clock; the same scenario and seed give the same bytes on both, DESIGN §4 M2).
    """
    chosen = check_backend(backend)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return guarded_run(
        scenario,
        loop=loop,
        seed=seed,
        limits=Limits.of(budget, max_events),
        virtual_wall_clock=virtual_wall_clock,
        features=features,
        backend=chosen,
    )


def _virtual_limit(scenario: Scenario) -> float:
    # Far past anything a loop keeping its deadline does (the scenario's, as its LoopOptions has).
    return 4 * float(scenario.options.deadline) + 3600.0


def guarded_run(
    scenario: Scenario,
    *,
    loop: AgentLoop | None,
    seed: int | None,
    limits: Limits,
    virtual_wall_clock: bool | None = None,
    features: Iterable[str] | None = None,
    backend: Backend = "asyncio",
) -> RunResult:
    """`simulate` on a fresh virtual loop under every guard; never raises for the loop's sake."""
    wall = scenario.virtual_wall_clock if virtual_wall_clock is None else virtual_wall_clock
    if backend == "trio" and wall:
        raise InputError(
            "virtual_wall_clock works on the asyncio backend only", path="virtual_wall_clock"
        )
    if loop is None:
        loop = ReferenceLoop(
            hooks=scenario_hooks(scenario), guardrails=scenario_guardrails(scenario)
        )
    return guard_simulation(
        lambda recorded: simulate(
            scenario,
            seed=seed,
            loop=recorded,
            max_events=limits.max_events,
            virtual_wall_clock=virtual_wall_clock,
            features=features,
        ),
        scenario=scenario,
        loop=loop,
        seed=seed,
        limits=limits,
        backend=backend,
        # The reference loop on a scripted provider and scripted tools: agentsim's code only,
        # which keeps nothing keyed by the event loop, so a loop left clean may be reused.
        reuse_loop=type(loop) is ReferenceLoop,
    )


def guard_simulation(
    main: Callable[[AgentLoop], Coroutine[Any, Any, RunResult]],
    *,
    scenario: Scenario,
    loop: AgentLoop,
    seed: int | None,
    limits: Limits,
    backend: Backend = "asyncio",
    reuse_loop: bool = False,
) -> RunResult:
    """`main(loop)` (a coroutine running `loop` once, such as `simulate`) on a fresh virtual
    loop (or trio run) under every guard; a run that blew up becomes `broken_run` of
    `scenario`'s setup. `reuse_loop`: see `run_guarded_coroutine`."""
    recorder = Recorder(loop)
    if _loop_running():
        # A thread runs one event loop at a time: agentsim's limitation, never the loop's fault.
        return harness_run(
            scenario,
            recorder,
            seed,
            "a simulated run needs a thread without a running event loop (from an async "
            "test, await the agentsim_arun fixture)",
        )
    harness: list[str] = []

    async def watched() -> RunResult:
        try:
            return await main(recorder)
        except HarnessError as exc:  # agentsim's own failure, not the loop's
            harness.append(f"{type(exc).__name__}: {exc}")
            raise

    virtual_limit = _virtual_limit(scenario)
    if backend == "trio":
        from agentsim.harness._trio_run import run_guarded_trio

        result, problem = run_guarded_trio(
            watched, budget=limits.budget, virtual_limit=virtual_limit
        )
    else:
        result, problem = run_guarded_coroutine(
            watched(), budget=limits.budget, virtual_limit=virtual_limit, reuse_loop=reuse_loop
        )
    if harness:
        return harness_run(scenario, recorder, seed, harness[0])
    if problem is None and result is not None:
        return result
    return broken_run(scenario, recorder, seed, problem or "the run was interrupted")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def harness_run(scenario: Scenario, recorder: Recorder, seed: int | None, error: str) -> RunResult:
    """agentsim could not run the loop: a harness error, with nothing of the loop's to judge."""
    broken = broken_run(scenario, recorder, seed, "")
    return replace(broken, crash=None, problems=(), violations=(), harness=(error,))


def broken_run(scenario: Scenario, recorder: Recorder, seed: int | None, crash: str) -> RunResult:
    """The result of a run that blew up: the events it delivered, their violations, `crash`."""
    events = tuple(recorder.events)
    last = events[-1] if events else None
    outcome = last if _is_terminal(last) else None
    result = RunResult(
        seed=scenario.seed if seed is None else seed,
        events=events,
        history=recorder.history(),
        outcome=outcome,
        options=_options(scenario),
        dropped=scenario.drop is not None and outcome is None,
        initial_messages=len(scenario_messages(scenario)),
        crash=crash,
        recording=recording_of(recorder.provider),
    )
    return replace(result, violations=tuple(check_trace(result.trace)))
