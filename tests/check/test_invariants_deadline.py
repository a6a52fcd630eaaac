"""EV8 also bounds every event by the deadline: a loop whose deadline misses a slow stream is
caught even when the run then ends well."""

from __future__ import annotations

from agentsim.fuzz._properties import run_guarded
from tests.buggy_loops import BUGS

SLOW: dict[str, object] = {
    "input": "hi",
    "options": {"deadline": 5},
    "requests": [{"chunks": [{"text": "late", "delay": 8}, {"finish": "stop"}]}],
}


def test_the_reference_loop_fails_at_the_deadline() -> None:
    result = run_guarded(SLOW)
    assert result.violations == ()
    assert result.outcome is not None
    assert (result.outcome.type, result.outcome.t) == ("run_failed", 5.0)


def test_events_after_the_deadline_break_ev8() -> None:
    result = run_guarded(SLOW, loop=BUGS["stalled_stream_unbounded"])
    assert result.outcome is not None
    assert result.outcome.type == "run_completed"
    violation, closed = result.violations
    assert violation.invariant == closed.invariant == "EV8"
    assert violation.expected == "no event after the deadline 5"
    assert violation.seen.endswith("at t = 8")
    # What the provider saw says the same: its stream stayed open past the deadline.
    assert closed.expected == "every stream closed by the deadline 5"
    assert closed.seen == "request 1 closed at t = 8"
