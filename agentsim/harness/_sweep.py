"""The cancellation sweep (DESIGN §3.7, §4 EV7/H2): interrupt a scenario at every point, one by one.

`cancel_points` lists, for a scenario and one uninterrupted run of it, every place a cancellation
can land: before each chunk of each request the run reached (``cancel: {request, before_chunk}``:
the loop is waiting for that chunk when the user cancels), halfway through each tool that took
time and each retry backoff (``cancel: {at_time}``), and, with ``drops=True``, a consumer drop
after each event (``drop: {after_event}``). `sweep` runs the scenario once per point and yields
the results; the invariants - EV7 (partial text, thinking and pending calls agree with the
trace) and H2 (the history is resumable after any ending) above all - must hold for every one.

Points are scenario data (the keys a scenario file holds), so a failing point is saved as a
reproducer with the point in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agentsim.core._events import RetryScheduled, StepStarted, ToolExecuted
from agentsim.harness._result import RunResult
from agentsim.scenario._schema import RequestScript
from agentsim.scenario._script import Delay, Malformed, Reset, RetryAfter, Stall, compile_request

__all__ = ["cancel_points", "sweep", "with_point"]


def _chunks(request: Mapping[str, Any], number: int) -> int:
    """How many chunks a scripted request delivers (what `before_chunk` counts)."""
    stream = compile_request(RequestScript.model_validate(request), number)
    return sum(
        1 for item in stream if not isinstance(item, Delay | Stall | RetryAfter | Reset | Malformed)
    )


def cancel_points(
    data: Mapping[str, Any], result: RunResult, *, drops: bool = False
) -> list[dict[str, Any]]:
    """Every cancellation (and, with `drops`, consumer drop) point of `data`'s run `result`."""
    requests = data["requests"]
    made = sum(1 for e in result.events if isinstance(e, StepStarted | RetryScheduled))
    points: list[dict[str, Any]] = []
    for r in range(min(made, len(requests))):
        for c in range(_chunks(requests[r], r + 1)):
            points.append({"cancel": {"request": r + 1, "before_chunk": c + 1}})
    for event in result.events:
        if isinstance(event, ToolExecuted) and event.duration > 0:
            points.append({"cancel": {"at_time": event.t - event.duration / 2}})
        elif isinstance(event, RetryScheduled) and event.delay > 0:
            points.append({"cancel": {"at_time": event.t + event.delay / 2}})
    if drops:
        points += [{"drop": {"after_event": k}} for k in range(1, len(result.events))]
    return points


def with_point(data: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """`data` interrupted at `point` instead of wherever it was interrupted before."""
    out = {k: v for k, v in data.items() if k not in ("cancel", "drop", "expect")}
    out.update(point)
    return out


def sweep(
    data: Mapping[str, Any],
    run: Callable[[Mapping[str, Any]], RunResult],
    *,
    drops: bool = False,
) -> Iterator[tuple[dict[str, Any], RunResult]]:
    """Run `data` uninterrupted, then once per point; yields (the interrupted data, its result).

    The uninterrupted run comes first, as (data without cancel or drop, result).
    """
    base = with_point(data, {})
    first = run(base)
    yield base, first
    for point in cancel_points(base, first, drops=drops):
        variant = with_point(base, point)
        yield variant, run(variant)
