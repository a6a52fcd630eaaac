"""The sub-run invariants (issue #17 part 2): nested runs keep inside the calls they belong to.

A sub-run (`SubRunStarted` / `SubRunFinished`) is a run inside this one: an agent answering a
tool call (mode ``call``) or one a handoff call passed the run to (``handoff``). Both are spans of
the parent's trace, so the rules are about where the two events sit:

- **SR1** (inside its parent call): a sub-run names a call the trace completed before it
  started (``tool_call_completed``); a ``call`` sub-run starts before that call's result and
  finishes before it - the parent's ``tool_executed`` arrives after the sub-run's terminal
  event, since the sub-run's answer is the result; a ``handoff`` sub-run starts after the
  handoff call's result (the transfer happened) and carries on the run, so it finishes with it.
  Every sub-run finishes before the run's terminal event, whatever the ending (a cancelled or
  failed parent ends its sub-runs first), and sub-runs nest: one started inside another (for the
  same call, or for a call completed after that one started) finishes first. Sub-runs of
  different calls made side by side (a response's parallel delegating calls, all completed
  before either sub-run started) are siblings and may finish in any order.
- **SR2** (ids unique across the tree): each sub-run id is new (not the run's own id, not an
  earlier sub-run's), finishes once, and each finish names a sub-run that started.

Traces without sub-run events (the reference loop's, every bundled scenario's) have nothing to
judge. A trace cut short without a terminal event (a dropped consumer) is judged on what it has.
"""

from __future__ import annotations

from agentsim.check._trace import Trace, Violation, facts, invariant, terminal
from agentsim.core._events import SubRunFinished, SubRunStarted, ToolCallCompleted, ToolExecuted

__all__: list[str] = []

_SUB_RUN_EVENTS = frozenset({SubRunStarted, SubRunFinished})


@invariant("SR1")
def _sr1(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_SUB_RUN_EVENTS):
        return []
    events = trace.events
    completed: set[str] = set()
    completed_at: dict[str, int] = {}
    started_at: dict[str, int] = {}
    executed: set[str] = set()
    open_runs: list[SubRunStarted] = []
    for i, event in enumerate(events):
        if isinstance(event, ToolCallCompleted):
            completed.add(event.call_id)
            completed_at[event.call_id] = i
        elif isinstance(event, ToolExecuted):
            inside = [
                s for s in open_runs if s.mode == "call" and s.parent_call_id == event.call_id
            ]
            if inside:
                return [
                    Violation(
                        "SR1",
                        i,
                        f"the result of {event.call_id!r} after its sub-run "
                        f"{inside[-1].sub_run_id!r} finished",
                        "the result while the sub-run is still running",
                    )
                ]
            executed.add(event.call_id)
        elif isinstance(event, SubRunStarted):
            call = event.parent_call_id
            if call not in completed:
                return [
                    Violation(
                        "SR1", i, f"sub-run inside a completed call, {call!r}", "no such call yet"
                    )
                ]
            if (event.mode == "call") == (call in executed):
                wanted = "before" if event.mode == "call" else "after"
                return [
                    Violation(
                        "SR1",
                        i,
                        f"a {event.mode} sub-run to start {wanted} the result of {call!r}",
                        f"it started {'after' if call in executed else 'before'} it",
                    )
                ]
            open_runs.append(event)
            started_at.setdefault(event.sub_run_id, i)
        elif isinstance(event, SubRunFinished) and open_runs:
            mine = [k for k, s in enumerate(open_runs) if s.sub_run_id == event.sub_run_id]
            if not mine:
                continue  # not started: SR2's
            me = open_runs[mine[-1]]
            at = started_at[event.sub_run_id]
            inner = [  # started later, in the same call or in a call made inside this one
                s
                for s in open_runs[mine[-1] + 1 :]
                if s.parent_call_id == me.parent_call_id
                or completed_at.get(s.parent_call_id, -1) > at
            ]
            if inner:
                return [
                    Violation(
                        "SR1",
                        i,
                        f"sub-run {inner[-1].sub_run_id!r} (inside it) to finish first",
                        f"{event.sub_run_id!r} finished",
                    )
                ]
            open_runs.pop(mine[-1])
    found = terminal(trace)
    if found is not None and open_runs:
        return [
            Violation(
                "SR1",
                found[0],
                f"sub-run {open_runs[-1].sub_run_id!r} to finish before the run's end",
                "the run ended with it running",
            )
        ]
    return []


@invariant("SR2")
def _sr2(trace: Trace) -> list[Violation]:
    if not facts(trace).has(_SUB_RUN_EVENTS):
        return []
    seen: set[str] = set()
    finished: set[str] = set()
    for i, event in enumerate(trace.events):
        if isinstance(event, SubRunStarted):
            if event.sub_run_id == event.run_id or event.sub_run_id in seen:
                return [
                    Violation(
                        "SR2", i, "a sub-run id unique in the run's tree", repr(event.sub_run_id)
                    )
                ]
            seen.add(event.sub_run_id)
        elif isinstance(event, SubRunFinished):
            if event.sub_run_id not in seen or event.sub_run_id in finished:
                what = "finished twice" if event.sub_run_id in finished else "never started"
                return [
                    Violation(
                        "SR2",
                        i,
                        "each sub-run to finish once, after it started",
                        f"{event.sub_run_id!r} {what}",
                    )
                ]
            finished.add(event.sub_run_id)
    return []
