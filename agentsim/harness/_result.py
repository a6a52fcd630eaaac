"""What one simulated run produced (`RunResult`), its report, and how it meets an `expect`.

Kept apart from `_run`, which produces results, so that everything reading a result (reports,
fuzzing, conversion, the pytest plugin) depends on this small module and not on how runs are
driven. `expectation_of` is the inverse of `compare_expectation`: the `expect` data a scenario
needs to pin how a run ended (what `agentsim convert` and reproducers write).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentsim.check._invariants import INVARIANTS, StreamLog, Trace, Violation
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
from agentsim.harness._recording import Recording
from agentsim.loop._features import Feature
from agentsim.loop._protocol import LoopOptions, ProviderRequest
from agentsim.scenario._schema import Expectation
from agentsim.sse._common import clip

__all__ = ["RunResult", "compare_expectation", "describe_outcome", "expectation_of", "unmet"]


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
    crash: str | None = None  # what the loop did wrong, if it raised, hung or ran away
    # agentsim could not run the loop at all (its own limitation, never the loop's fault)
    harness: tuple[str, ...] = ()
    recording: Recording | None = None  # requests, chunks, tool runs, cancel (harness/_recording)
    # What the harness saw from outside the loop (see `Trace`): the features judged (None: all),
    # when cancellation was requested, the requests the provider got and what it sent on each.
    features: frozenset[Feature] | None = None
    cancel_requested_at: float | None = None
    requests: tuple[ProviderRequest, ...] | None = None
    streams: tuple[StreamLog, ...] | None = None

    @property
    def passed(self) -> bool:
        return not (
            self.crash or self.violations or self.problems or self.mismatches or self.harness
        )

    @property
    def trace(self) -> Trace:
        return Trace(
            events=self.events,
            history=self.history,
            options=self.options,
            dropped=self.dropped,
            initial_messages=self.initial_messages,
            features=self.features,
            cancel_requested_at=self.cancel_requested_at,
            requests=self.requests,
            streams=self.streams,
        )

    def report(self) -> str:
        """A short human-readable report: outcome, invariants, script and expectations, and
        apart from them any harness error (agentsim's own failure to run the loop)."""
        lines = [f"outcome: {describe_outcome(self.outcome)}"]
        if self.crash:
            lines.append(f"crash: {self.crash}")
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


_SHOWN = 400


def describe_outcome(outcome: TerminalEvent | None) -> str:
    if outcome is None:
        return "none (the run ended without a terminal event)"
    if isinstance(outcome, RunCompleted):
        # A long answer (a replayed recording's) is clipped: the report is a screenful.
        output = outcome.output
        shown = (
            repr(output)
            if len(output) <= _SHOWN
            else f"{clip(output, _SHOWN)} ({len(output):,} characters)"
        )
        return f"completed at t={outcome.t:g} after {outcome.steps} step(s): {shown}"
    if isinstance(outcome, RunFailed):
        return f"failed ({outcome.kind}) at t={outcome.t:g}: {outcome.message}"
    return f"cancelled ({outcome.reason}) at t={outcome.t:g}"


def compare_expectation(expect: Expectation, result: RunResult) -> list[str]:
    """What of the scenario's `expect` the run did not meet (empty: all of it)."""
    return unmet(expect, result.outcome, result.events)


def unmet(
    expect: Expectation, outcome: TerminalEvent | None, events: Sequence[AgentEvent]
) -> list[str]:
    """`compare_expectation` of a run's outcome and events (before its result is built)."""
    out: list[str] = []
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
        ran = [e.name for e in events if isinstance(e, ToolExecuted)]
        if ran != expect.tools_run:
            out.append(f"tools_run: expected {expect.tools_run}, got {ran}")
    if expect.steps is not None:
        steps = sum(1 for e in events if isinstance(e, StepStarted))
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
