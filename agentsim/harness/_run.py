"""Running things: a scenario (or any provider) through a loop on virtual time, with every check.

`run_scenario` is the main entry point: it builds the scripted provider, tools, hooks and options
from a scenario, runs the loop on a fresh `VirtualEventLoop`, plays the scenario's cancellation or
consumer drop, and returns a `RunResult` holding the trace, the invariant violations, the script's
deviations (unexpected or missing requests, failed request checks) and the expectation mismatches.
`simulate` is the same as a coroutine, for use inside an already running virtual loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentsim.check._invariants import INVARIANTS, Trace, Violation, check_trace
from agentsim.core._errors import HarnessError
from agentsim.core._events import (
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    StepStarted,
    TerminalEvent,
    ToolExecuted,
)
from agentsim.core._history import Message
from agentsim.core._runtime import CancelToken, Runtime
from agentsim.core._tools import Toolset
from agentsim.core._virtual_loop import VirtualEventLoop, run_virtual
from agentsim.harness._recording import Recorder, Recording
from agentsim.harness._wall_clock import virtual_wall_clock as wall_clock
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentLoop, LoopOptions, Provider, RunRequest
from agentsim.scenario._schema import DropAt, Expectation, Scenario, load_scenario
from agentsim.scenario._script import (
    ScriptedProvider,
    scenario_guardrails,
    scenario_hooks,
    scenario_messages,
    scenario_tools,
)

__all__ = ["RunResult", "expectation_of", "run_loop", "run_scenario", "simulate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """Everything one simulated run produced, and what was wrong with it."""

    seed: int
    events: tuple[AgentEvent, ...]
    history: tuple[Message, ...]
    outcome: TerminalEvent | None
    options: LoopOptions
    dropped: bool = False
    violations: tuple[Violation, ...] = ()
    problems: tuple[str, ...] = ()  # the script's deviations
    mismatches: tuple[str, ...] = ()  # unmet expectations
    initial_messages: int = 0
    # agentsim could not run the loop at all (its own limitation, never the loop's fault)
    harness: tuple[str, ...] = ()
    recording: Recording | None = None  # requests, chunks, tool runs, cancel (harness/_recording)

    @property
    def passed(self) -> bool:
        return not (self.violations or self.problems or self.mismatches or self.harness)

    @property
    def trace(self) -> Trace:
        return Trace(
            events=self.events,
            history=self.history,
            options=self.options,
            dropped=self.dropped,
            initial_messages=self.initial_messages,
        )

    def report(self) -> str:
        """A short human-readable report: outcome, invariants, script and expectations, and
        apart from them any harness error (agentsim's own failure to run the loop)."""
        lines = [f"outcome: {describe_outcome(self.outcome)}"]
        lines += [f"harness: {h}" for h in self.harness]
        if self.violations:
            lines.append(f"invariants: {len(self.violations)} violation(s)")
            lines += [f"  {v}" for v in self.violations]
        else:
            lines.append(f"invariants: all {len(INVARIANTS)} hold ({', '.join(INVARIANTS)})")
        if self.problems:
            lines.append("script: " + f"{len(self.problems)} problem(s)")
            lines += [f"  {p}" for p in self.problems]
        if self.mismatches:
            lines.append(f"expectation: {len(self.mismatches)} mismatch(es)")
            lines += [f"  {m}" for m in self.mismatches]
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def describe_outcome(outcome: TerminalEvent | None) -> str:
    if outcome is None:
        return "none (the run ended without a terminal event)"
    if isinstance(outcome, RunCompleted):
        return f"completed at t={outcome.t:g} after {outcome.steps} step(s): {outcome.output!r}"
    if isinstance(outcome, RunFailed):
        return f"failed ({outcome.kind}) at t={outcome.t:g}: {outcome.message}"
    return f"cancelled ({outcome.reason}) at t={outcome.t:g}"


async def run_loop(
    loop: AgentLoop,
    *,
    request: RunRequest,
    provider: Provider,
    tools: Toolset,
    seed: int = 0,
    drop: DropAt | None = None,
) -> RunResult:
    """Run any loop through the protocol, collect its trace and check the invariants."""
    recorder = Recorder()
    recorder.watch(request.cancel)
    run = loop.run(
        request,
        provider=recorder.provider(provider),
        tools=recorder.tools(tools),
        runtime=Runtime(seed=seed),
    )
    events: list[AgentEvent] = []
    dropped = False
    try:
        async for event in run:
            if drop is not None and drop.at_time is not None and event.t >= drop.at_time:
                dropped = True
                break
            events.append(event)
            after = drop.after_event if drop is not None else None
            if after is not None and len(events) >= after and not _is_terminal(event):
                dropped = True
                break
    finally:
        await run.aclose()
    outcome = getattr(run, "outcome", None)
    if outcome is None and events and _is_terminal(events[-1]):
        outcome = events[-1]
    result = RunResult(
        seed=seed,
        events=tuple(events),
        history=tuple(run.history),
        outcome=outcome,
        options=request.options,
        dropped=dropped,
        initial_messages=len(request.messages),
        recording=recorder.freeze(),
    )
    return replace(result, violations=tuple(check_trace(result.trace)))


def _is_terminal(event: AgentEvent) -> bool:
    return isinstance(event, RunCompleted | RunFailed | RunCancelled)


def _options(scenario: Scenario) -> LoopOptions:
    return LoopOptions(**scenario.options.model_dump())


async def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    loop: AgentLoop | None = None,
    virtual_wall_clock: bool | None = None,
) -> RunResult:
    """Run `scenario` on the running (virtual) event loop; see `run_scenario`."""
    wall = scenario.virtual_wall_clock if virtual_wall_clock is None else virtual_wall_clock
    if wall:
        event_loop = asyncio.get_running_loop()
        if not isinstance(event_loop, VirtualEventLoop):
            raise HarnessError("virtual_wall_clock needs the run on a VirtualEventLoop")
        with wall_clock(event_loop):
            return await _simulate(scenario, seed=seed, loop=loop)
    return await _simulate(scenario, seed=seed, loop=loop)


async def _simulate(scenario: Scenario, *, seed: int | None, loop: AgentLoop | None) -> RunResult:
    cancel = CancelToken()
    at_chunk = None
    if scenario.cancel is not None and scenario.cancel.request is not None:
        assert scenario.cancel.before_chunk is not None
        at_chunk = (scenario.cancel.request, scenario.cancel.before_chunk, cancel)
    provider = ScriptedProvider(scenario.requests, cancel=at_chunk)
    if loop is None:
        loop = ReferenceLoop(
            hooks=scenario_hooks(scenario), guardrails=scenario_guardrails(scenario)
        )
    request = RunRequest(
        messages=scenario_messages(scenario), options=_options(scenario), cancel=cancel
    )
    timer = None
    if scenario.cancel is not None and scenario.cancel.at_time is not None:
        event_loop = asyncio.get_running_loop()
        timer = event_loop.call_at(event_loop.time() + scenario.cancel.at_time, cancel.cancel)
    try:
        result = await run_loop(
            loop,
            request=request,
            provider=provider,
            tools=scenario_tools(scenario),
            seed=scenario.seed if seed is None else seed,
            drop=scenario.drop,
        )
    finally:
        if timer is not None:
            timer.cancel()
    problems = tuple(provider.problems + provider.unused())
    mismatches = tuple(_compare(scenario.expect, result)) if scenario.expect else ()
    return replace(result, problems=problems, mismatches=mismatches)


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    seed: int | None = None,
    loop: AgentLoop | None = None,
    virtual_wall_clock: bool | None = None,
) -> RunResult:
    """Load (if given a path) and run a scenario on a fresh virtual event loop.

    `seed` overrides the scenario's own; `loop` replaces the reference loop (the scenario's hooks
    and guardrails configure only the reference loop). `virtual_wall_clock` (default: the
    scenario's key, off) makes ``time.time()``, ``datetime.now()`` and friends read the virtual
    clock for the run (`agentsim.harness._wall_clock`).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return run_virtual(
        simulate(scenario, seed=seed, loop=loop, virtual_wall_clock=virtual_wall_clock)
    )


def _compare(expect: Expectation, result: RunResult) -> list[str]:
    out: list[str] = []
    outcome = result.outcome
    got = {RunCompleted: "completed", RunFailed: "failed", RunCancelled: "cancelled"}.get(
        type(outcome), "none"
    )
    if got != expect.outcome:
        out.append(f"outcome: expected {expect.outcome}, got {describe_outcome(outcome)}")
        return out
    if expect.kind is not None and isinstance(outcome, RunFailed) and outcome.kind != expect.kind:
        out.append(f"kind: expected {expect.kind}, got {outcome.kind} ({outcome.message})")
    if (
        expect.reason is not None
        and isinstance(outcome, RunCancelled)
        and outcome.reason != expect.reason
    ):
        out.append(f"reason: expected {expect.reason}, got {outcome.reason}")
    if (
        expect.output is not None
        and isinstance(outcome, RunCompleted)
        and outcome.output != expect.output
    ):
        out.append(f"output: expected {expect.output!r}, got {outcome.output!r}")
    if expect.tools_run is not None:
        ran = [e.name for e in result.events if isinstance(e, ToolExecuted)]
        if ran != expect.tools_run:
            out.append(f"tools_run: expected {expect.tools_run}, got {ran}")
    if expect.steps is not None:
        steps = sum(1 for e in result.events if isinstance(e, StepStarted))
        if steps != expect.steps:
            out.append(f"steps: expected {expect.steps}, got {steps}")
    if expect.t is not None and outcome is not None and abs(outcome.t - expect.t) > 1e-9:
        out.append(f"t: expected the run to end at {expect.t:g}, got {outcome.t:g}")
    return out


def expectation_of(result: RunResult) -> dict[str, Any] | None:
    """The `expect` data a scenario needs to pin how `result` ended."""
    outcome = result.outcome
    if outcome is None:
        return None
    expect: dict[str, Any] = {}
    if isinstance(outcome, RunCompleted):
        expect = {"outcome": "completed", "output": outcome.output}
    elif isinstance(outcome, RunFailed):
        expect = {"outcome": "failed", "kind": outcome.kind}
    else:
        expect = {"outcome": "cancelled", "reason": outcome.reason}
    expect["tools_run"] = [e.name for e in result.events if isinstance(e, ToolExecuted)]
    expect["steps"] = sum(1 for e in result.events if isinstance(e, StepStarted))
    expect["t"] = outcome.t
    return expect
