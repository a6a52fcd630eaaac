"""The clauses built on what the harness saw from outside the loop (issue 12 part 1): each catches
its planted bug on the bundled scenario that exercises the rule, and the reference loop passes the
same scenario (no false alarm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsim.fuzz._properties import run_guarded
from tests.buggy_loops_more import MORE_BUGS

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("late_cancel_after_backoff", "cancel_during_retry_backoff", "EV9", "cancellation"),
    ("late_cancel_after_stream", "cancel_mid_stream_reports_partials", "EV9", "cancellation"),
    ("retries_fatal_errors", "non_retryable_error_fails_at_once", "EV8", "retryable"),
    ("retries_rate_limits_only", "idle_timeout_before_first_chunk_is_retried", "EV8", "retry"),
    ("error_after_output_ends_stream", "error_after_output_fails_provider", "EV10", "kind"),
    ("tool_errors_not_flagged", "unknown_tool_becomes_error_result", "H3", "is_error"),
    (
        "backoff_exponent_off_by_one",
        "retryable_errors_retried_with_exponential_backoff",
        "EV8",
        "backoff",
    ),
]


@pytest.mark.parametrize(("bug", "scenario", "invariant", "word"), CASES)
def test_the_clause_catches_its_bug_and_spares_the_reference(
    bug: str, scenario: str, invariant: str, word: str
) -> None:
    path = ROOT / "scenarios" / f"{scenario}.yaml"
    assert run_guarded(path).passed, "the reference loop passes"
    result = run_guarded(path, loop=MORE_BUGS[bug])
    broken = [v for v in result.violations if v.invariant == invariant]
    assert broken, result.report()
    assert any(word in v.expected for v in broken), [str(v) for v in broken]


def test_the_trace_carries_the_outside_facts() -> None:
    result = run_guarded(ROOT / "scenarios" / "idle_timeout_before_first_chunk_is_retried.yaml")
    trace = result.trace
    assert trace.cancel_requested_at is None
    assert trace.requests is not None
    assert trace.streams is not None
    assert len(trace.requests) == len(trace.streams) == 2
    stalled, answered = trace.streams
    assert trace.options.idle_timeout is not None
    assert stalled.longest_wait == pytest.approx(trace.options.idle_timeout)
    assert (stalled.finished, answered.finished) == (False, True)
    cancelled = run_guarded(ROOT / "scenarios" / "cancel_while_tool_runs.yaml").trace
    assert cancelled.cancel_requested_at == 5.0
