"""Judgement follows declared features (issue 16 part 3): a loop is never failed for a feature it
does not declare, and never spared for one it declares. Each case is a planted bug in one
feature's semantics, run on the bundled scenario that exercises it: declaring every feature but
that one, the loop keeps every invariant; declaring it, the loop breaks the clause named.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from agentsim import run_scenario
from agentsim.check._invariants import check_trace
from agentsim.fuzz._properties import run_guarded
from agentsim.loop._features import ALL_FEATURES
from tests.buggy_loops import BUGS, BuggyLoop
from tests.buggy_loops_more import MORE_BUGS

ROOT = Path(__file__).resolve().parents[2]
SLOW: dict[str, Any] = {
    "input": "hi",
    "options": {"deadline": 5},
    "requests": [{"chunks": [{"text": "late", "delay": 8}, {"finish": "stop"}]}],
}
SIGNED: dict[str, Any] = {
    "input": "hi",
    "requests": [
        {
            "chunks": [
                {"reasoning": "think", "signature": "sig-1"},
                {"text": "answer"},
                {"finish": "stop"},
            ]
        }
    ],
}

# (bug, the feature it breaks, the scenario, the invariant and a word of the clause it breaks)
CASES: list[tuple[str, str, str | dict[str, Any], str, str]] = [
    ("stalled_stream_unbounded", "deadline", SLOW, "EV8", "deadline"),
    (
        "max_retries_off_by_one",
        "retries",
        "retries_exhausted_fails_provider",
        "EV8",
        "retry",
    ),
    (
        "max_steps_off_by_one",
        "max_steps",
        "max_steps_reached_while_still_asking_for_tools",
        "EV4",
        "max_steps",
    ),
    ("late_cancel_after_tool", "cancellation", "cancel_while_tool_runs", "EV9", "cancellation"),
    (
        "ignores_idle_timeout",
        "idle_timeout",
        "idle_timeout_before_first_chunk_is_retried",
        "EV8",
        "idle_timeout",
    ),
    ("reasoning_signature_lost", "reasoning", SIGNED, "H3", "signatures"),
    (
        "truncation_completes",
        "provider_errors",
        "truncated_stream_fails_stream_truncated",
        "EV10",
        "finished",
    ),
    (
        "request_limit_ignored",
        "limits",
        "usage_limit_requests_counts_retries",
        "EV10",
        "max_requests",
    ),
]
ALL_BUGS = {**BUGS, **MORE_BUGS}


def _data(scenario: str | dict[str, Any]) -> Any:
    return ROOT / "scenarios" / f"{scenario}.yaml" if isinstance(scenario, str) else scenario


@pytest.mark.parametrize(("bug", "feature", "scenario", "invariant", "word"), CASES)
def test_a_loop_without_the_feature_is_not_failed_for_lacking_it(
    bug: str, feature: str, scenario: Any, invariant: str, word: str
) -> None:
    loop = partial(ALL_BUGS[bug], features=ALL_FEATURES - {feature})
    result = run_guarded(_data(scenario), loop=loop)
    assert result.features == ALL_FEATURES - {feature}
    assert result.violations == (), [str(v) for v in result.violations]


@pytest.mark.parametrize(("bug", "feature", "scenario", "invariant", "word"), CASES)
def test_a_loop_declaring_the_feature_is_failed_when_it_breaks_it(
    bug: str, feature: str, scenario: Any, invariant: str, word: str
) -> None:
    loop = partial(ALL_BUGS[bug], features={feature})  # only the feature it breaks
    result = run_guarded(_data(scenario), loop=loop)
    broken = [v for v in result.violations if v.invariant == invariant]
    assert broken, [str(v) for v in result.violations]
    assert any(word in v.expected for v in broken), [str(v) for v in broken]


def test_the_reference_loop_is_judged_on_everything() -> None:
    result = run_scenario(ROOT / "scenarios" / "tool_call_then_answer.yaml")
    assert result.features == ALL_FEATURES
    assert result.trace.features == ALL_FEATURES
    assert result.passed


def test_the_features_keyword_overrides_what_the_loop_declares() -> None:
    path = ROOT / "scenarios" / "cancel_while_tool_runs.yaml"
    bug = MORE_BUGS["late_cancel_after_tool"]()
    judged_on_all = run_scenario(path, loop=bug)
    assert {v.invariant for v in judged_on_all.violations} == {"EV9"}
    spared = run_scenario(path, loop=bug, features=ALL_FEATURES - {"cancellation"})
    assert spared.features == ALL_FEATURES - {"cancellation"}
    assert spared.violations == ()
    # check_trace's own keyword does the same on a recorded trace, either way.
    assert check_trace(judged_on_all.trace, features=ALL_FEATURES - {"cancellation"}) == []
    assert check_trace(spared.trace, features=ALL_FEATURES)


def test_a_loop_declaring_nothing_is_judged_on_everything() -> None:
    class Undeclared(BuggyLoop):
        features = None  # type: ignore[assignment]

    result = run_scenario(ROOT / "scenarios" / "tool_call_then_answer.yaml", loop=Undeclared())
    assert result.features is None
    assert result.passed


def test_run_guarded_takes_a_features_override() -> None:
    path = ROOT / "scenarios" / "cancel_while_tool_runs.yaml"
    bug = MORE_BUGS["late_cancel_after_tool"]
    assert {v.invariant for v in run_guarded(path, loop=bug).violations} == {"EV9"}
    spared = run_guarded(path, loop=bug, features=ALL_FEATURES - {"cancellation"})
    assert spared.violations == ()


def test_a_stall_after_the_finish_chunk_may_be_retried_as_an_idle_stall() -> None:
    """Found by the property suite: a stream that sends its finish and then nothing is still a
    stream the loop waits on; the idle timeout ends it as a retryable stall (DESIGN §3.5)."""
    from agentsim import parse_scenario

    data = {
        "input": "Plan my trip",
        "options": {"deadline": 20.0, "idle_timeout": 5.0, "backoff_initial": 5.0},
        "requests": [
            {"chunks": [{"finish": "stop"}, {"usage": {"input_tokens": 1}, "delay": 20.2}]},
            {"chunks": [{"text": "ok"}, {"finish": "stop"}]},
        ],
    }
    result = run_scenario(parse_scenario(data))
    assert [e.type for e in result.events].count("retry_scheduled") == 1
    assert result.violations == (), result.report()
