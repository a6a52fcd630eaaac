"""The reference loop, rule by rule (DESIGN §3). Every run must also keep every invariant."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentsim import (
    AssistantMessage,
    Continue,
    Delay,
    ErrorChunk,
    FinishChunk,
    Guardrails,
    Hooks,
    LoopOptions,
    ProviderError,
    ProviderRequest,
    ReasoningBlock,
    ReasoningChunk,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunResult,
    Skip,
    Stall,
    Terminate,
    TextBlock,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallBlock,
    ToolCallEndChunk,
    ToolCallStartChunk,
    ToolError,
    ToolExecuted,
    ToolResultMessage,
    Usage,
    UsageChunk,
    UserMessage,
)
from agentsim.scenario._schema import DropAt
from agentsim.scenario._script import StreamItem
from tests._support import run_script, types

STOP = FinishChunk("stop")
TOOLS = FinishChunk("tool_calls")


def call(index: int, call_id: str, name: str, arguments: str) -> list[StreamItem]:
    return [
        ToolCallStartChunk(index, call_id, name),
        ToolCallArgsChunk(index, arguments),
        ToolCallEndChunk(index),
    ]


def checked(result: RunResult) -> RunResult:
    assert result.violations == (), "\n".join(map(str, result.violations))
    return result


def failed(result: RunResult, kind: str) -> RunFailed:
    assert isinstance(result.outcome, RunFailed), result.outcome
    assert result.outcome.kind == kind, result.outcome
    return result.outcome


def weather(city: str) -> str:
    return f"sunny in {city}"


# -- rule 1: steps --------------------------------------------------------------------------------


def test_a_step_without_tool_calls_completes_the_run_with_its_text() -> None:
    result = checked(run_script([[TextChunk("Hel"), TextChunk("lo"), STOP]]))
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Hello"
    assert result.outcome.steps == 1
    assert result.history[-1] == AssistantMessage((TextBlock("Hello"),))


def test_tool_results_are_sent_back_in_the_next_request() -> None:
    requests: list[ProviderRequest] = []
    result = checked(
        run_script(
            [[*call(0, "c1", "weather", '{"city": "Oslo"}'), TOOLS], [TextChunk("ok"), STOP]],
            tools=[weather],
            requests=requests,
        )
    )
    assert isinstance(result.outcome, RunCompleted)
    assert requests[1].messages[-1] == ToolResultMessage("c1", "sunny in Oslo")
    assert requests[1].step == 2
    assert [t.name for t in requests[0].tools] == ["weather"]


# -- rule 2: merged blocks ------------------------------------------------------------------------


def test_consecutive_deltas_of_one_kind_merge_and_order_is_kept() -> None:
    result = checked(
        run_script(
            [
                [
                    ReasoningChunk("a"),
                    ReasoningChunk("b", signature="sig"),
                    TextChunk("c"),
                    TextChunk("d"),
                    ReasoningChunk("e"),
                    STOP,
                ]
            ]
        )
    )
    assert result.history[-1] == AssistantMessage(
        (ReasoningBlock("ab", "sig"), TextBlock("cd"), ReasoningBlock("e"))
    )


# -- rule 3: tools --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "error_part"),
    [
        ("nope", "{}", "unknown tool 'nope'"),
        ("weather", '{"city": ', "not valid JSON"),
        ("weather", "[1, 2]", "not a JSON object"),
        ("weather", '{"town": "x"}', "TypeError"),
    ],
)
def test_bad_tool_calls_become_error_results_and_the_run_goes_on(
    name: str, arguments: str, error_part: str
) -> None:
    result = checked(
        run_script(
            [[*call(0, "c1", name, arguments), TOOLS], [TextChunk("sorry"), STOP]],
            tools=[weather],
        )
    )
    assert isinstance(result.outcome, RunCompleted)
    executed = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert len(executed) == 1
    assert not executed[0].ok
    assert executed[0].error is not None
    assert error_part in executed[0].error
    tool_result = result.history[2]
    assert isinstance(tool_result, ToolResultMessage)
    assert tool_result.is_error
    assert error_part in tool_result.content


def test_a_tool_that_raises_or_reports_an_error_becomes_an_error_result() -> None:
    def broken() -> str:
        raise RuntimeError("database down")

    def refusing() -> str:
        raise ToolError("not allowed")

    result = checked(
        run_script(
            [
                [*call(0, "c1", "broken", ""), *call(1, "c2", "refusing", "{}"), TOOLS],
                [TextChunk("done"), STOP],
            ],
            tools=[broken, refusing],
        )
    )
    results = [m for m in result.history if isinstance(m, ToolResultMessage)]
    assert results == [
        ToolResultMessage("c1", "RuntimeError: database down", True),
        ToolResultMessage("c2", "not allowed", True),
    ]


def test_an_empty_argument_text_means_no_arguments() -> None:
    def now() -> str:
        return "noon"

    result = checked(
        run_script(
            [
                [ToolCallStartChunk(0, "c1", "now"), ToolCallEndChunk(0), TOOLS],
                [TextChunk("it is noon"), STOP],
            ],
            tools=[now],
        )
    )
    assert ToolResultMessage("c1", "noon") in result.history


def test_parallel_calls_run_in_call_order_and_results_follow_in_call_order() -> None:
    order: list[str] = []

    def record(tag: str) -> str:
        order.append(tag)
        return tag

    interleaved: list[StreamItem] = [
        ToolCallStartChunk(0, "a", "record"),
        ToolCallStartChunk(1, "b", "record"),
        ToolCallArgsChunk(1, '{"tag": "B"}'),
        ToolCallArgsChunk(0, '{"tag": "A"}'),
        TOOLS,
    ]
    result = checked(run_script([interleaved, [TextChunk("ok"), STOP]], tools=[record]))
    assert order == ["A", "B"]
    assert [m.call_id for m in result.history if isinstance(m, ToolResultMessage)] == ["a", "b"]


def test_concurrent_tools_overlap_in_virtual_time_and_results_keep_call_order() -> None:
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    result = checked(
        run_script(
            [
                [
                    *call(0, "a", "slow", '{"seconds": 5}'),
                    *call(1, "b", "slow", '{"seconds": 2}'),
                    TOOLS,
                ],
                [TextChunk("ok"), STOP],
            ],
            tools=[slow],
            options=LoopOptions(concurrent_tools=True),
        )
    )
    executed = [(e.call_id, e.t) for e in result.events if isinstance(e, ToolExecuted)]
    assert executed == [("b", 2.0), ("a", 5.0)]  # events as they finish, together: 5 s, not 7
    assert [m.call_id for m in result.history if isinstance(m, ToolResultMessage)] == ["a", "b"]


# -- rule 4: max_steps ----------------------------------------------------------------------------


def test_max_steps_runs_the_last_steps_tools_then_fails() -> None:
    step = [*call(0, "c1", "weather", '{"city": "Rome"}'), TOOLS]
    step2 = [*call(0, "c2", "weather", '{"city": "Oslo"}'), TOOLS]
    result = checked(run_script([step, step2], tools=[weather], options=LoopOptions(max_steps=2)))
    failed(result, "max_steps")
    assert result.history[-1] == ToolResultMessage("c2", "sunny in Oslo")
    assert types(result).count("step_started") == 2


def test_max_steps_zero_fails_before_any_request() -> None:
    result = checked(run_script([], options=LoopOptions(max_steps=0)))
    failed(result, "max_steps")
    assert types(result) == ["run_started", "run_failed"]


# -- rule 5: timeouts -----------------------------------------------------------------------------


def test_a_stalled_stream_fails_at_exactly_the_deadline_in_milliseconds() -> None:
    started = time.perf_counter()
    result = checked(run_script([[TextChunk("partial "), Stall()]]))
    elapsed = time.perf_counter() - started
    outcome = failed(result, "timeout")
    assert outcome.t == 300.0
    assert outcome.partial_text == "partial "
    assert elapsed < 1.0  # a sanity bound; speed is measured in bench/, not here
    assert result.history[-1] == AssistantMessage((TextBlock("partial "),))


def test_the_deadline_bounds_a_slow_tool_and_the_call_gets_a_result() -> None:
    async def slow() -> str:
        await asyncio.sleep(1000)
        return "late"

    result = checked(
        run_script(
            [[*call(0, "c1", "slow", "{}"), TOOLS]], tools=[slow], options=LoopOptions(deadline=60)
        )
    )
    outcome = failed(result, "timeout")
    assert outcome.t == 60.0
    assert outcome.pending_tool_calls == ("c1",)
    last = result.history[-1]
    assert isinstance(last, ToolResultMessage)
    assert last.is_error


def test_an_idle_gap_before_any_chunk_is_retried() -> None:
    result = checked(
        run_script(
            [[Delay(10), TextChunk("late")], [TextChunk("hi"), STOP]],
            options=LoopOptions(idle_timeout=5, backoff_initial=1),
        )
    )
    retry = next(e for e in result.events if isinstance(e, RetryScheduled))
    assert (retry.t, retry.error_kind, retry.delay) == (5.0, "timeout", 1.0)
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.t == 6.0


def test_an_idle_gap_after_output_fails_the_run() -> None:
    result = checked(
        run_script(
            [[TextChunk("a"), Delay(2), TextChunk("b"), Delay(9), STOP]],
            options=LoopOptions(idle_timeout=5),
        )
    )
    outcome = failed(result, "provider")
    assert outcome.t == 7.0
    assert outcome.partial_text == "ab"


# -- rule 6: retries ------------------------------------------------------------------------------


def test_retryable_errors_before_any_chunk_back_off_exponentially() -> None:
    limited = [ErrorChunk("rate_limit", "slow down", retryable=True, status=429)]
    result = checked(
        run_script(
            [limited, limited, [TextChunk("hi"), STOP]],
            options=LoopOptions(max_retries=2, backoff_initial=2, backoff_factor=3),
        )
    )
    delays = [(e.attempt, e.delay, e.t) for e in result.events if isinstance(e, RetryScheduled)]
    assert delays == [(1, 2.0, 0.0), (2, 6.0, 2.0)]
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.t == 8.0


def test_retries_exhausted_fail_the_run() -> None:
    overloaded = [ErrorChunk("overloaded", retryable=True)]
    result = checked(run_script([overloaded] * 3, options=LoopOptions(max_retries=2)))
    assert "retries exhausted" in failed(result, "provider").message


def test_a_raised_provider_error_is_handled_like_an_error_chunk() -> None:
    def respond(request: ProviderRequest) -> list[StreamItem]:
        raise ProviderError("boom", kind="server", retryable=True)

    attempts = [0]

    def flaky(request: ProviderRequest) -> list[StreamItem]:
        attempts[0] += 1
        if attempts[0] == 1:
            raise ProviderError("boom", kind="server", retryable=True)
        return [TextChunk("ok"), STOP]

    from agentsim import FunctionProvider, ReferenceLoop, RunRequest, Toolset, run_loop, run_virtual

    result = run_virtual(
        run_loop(
            ReferenceLoop(),
            request=RunRequest(messages=(UserMessage("x"),)),
            provider=FunctionProvider(flaky),
            tools=Toolset(),
        )
    )
    assert checked(result).outcome is not None
    assert isinstance(result.outcome, RunCompleted)
    assert types(result).count("retry_scheduled") == 1


@pytest.mark.parametrize(
    "response",
    [
        [ErrorChunk("invalid_request", "bad", retryable=False)],
        [TextChunk("half"), ErrorChunk("server", "oops", retryable=True)],
    ],
    ids=["not-retryable", "after-output"],
)
def test_errors_that_may_not_be_retried_fail_the_run(response: list[StreamItem]) -> None:
    result = checked(run_script([response]))
    failed(result, "provider")
    assert "retry_scheduled" not in types(result)


def test_a_stream_that_ends_without_a_finish_is_truncated() -> None:
    result = checked(run_script([[TextChunk("cut")]]))
    assert failed(result, "stream_truncated").partial_text == "cut"


# -- rule 7: cancellation -------------------------------------------------------------------------


def test_cancellation_mid_stream_reports_partials_and_pending_calls() -> None:
    response: list[StreamItem] = [
        ReasoningChunk("think"),
        TextChunk("so far"),
        ToolCallStartChunk(0, "c1", "weather"),
        ToolCallArgsChunk(0, '{"ci'),
        Delay(10),
        ToolCallArgsChunk(0, 'ty": "x"}'),
        TOOLS,
    ]
    result = checked(run_script([response], tools=[weather], cancel_at=4))
    outcome = result.outcome
    assert isinstance(outcome, RunCancelled)
    assert (outcome.reason, outcome.t) == ("cancelled", 4.0)
    assert (outcome.partial_text, outcome.partial_thinking) == ("so far", "think")
    assert outcome.pending_tool_calls == ("c1",)
    assert result.events[-1] is outcome
    # The incomplete call stays out of the history, so the history needs no result for it.
    assert result.history[-1] == AssistantMessage((ReasoningBlock("think"), TextBlock("so far")))


def test_cancellation_during_a_tool_gives_every_call_a_result() -> None:
    async def slow() -> str:
        await asyncio.sleep(10)
        return "done"

    result = checked(
        run_script(
            [[*call(0, "c1", "slow", "{}"), *call(1, "c2", "slow", "{}"), TOOLS]],
            tools=[slow],
            cancel_at=15,
        )
    )
    assert isinstance(result.outcome, RunCancelled)
    assert result.outcome.pending_tool_calls == ("c2",)
    results = [m for m in result.history if isinstance(m, ToolResultMessage)]
    assert [(r.call_id, r.is_error) for r in results] == [("c1", False), ("c2", True)]


def test_cancellation_during_backoff() -> None:
    result = checked(
        run_script(
            [[ErrorChunk("rate_limit", retryable=True)]],
            options=LoopOptions(backoff_initial=30),
            cancel_at=12.5,
        )
    )
    assert isinstance(result.outcome, RunCancelled)
    assert result.outcome.t == 12.5


def test_a_consumer_drop_cancels_and_delivers_nothing_more() -> None:
    result = checked(
        run_script(
            [[*call(0, "c1", "weather", '{"city": "Rome"}'), TOOLS], [TextChunk("x"), STOP]],
            tools=[weather],
            drop=DropAt(after_event=5),
        )
    )
    assert result.dropped
    assert len(result.events) == 5
    assert isinstance(result.outcome, RunCancelled)
    assert result.outcome.reason == "consumer_dropped"
    assert result.outcome not in result.events


# -- rules 8-9: history and phases ----------------------------------------------------------------


def test_phases_change_only_on_change_and_end_in_summarize() -> None:
    result = checked(
        run_script(
            [
                [
                    ReasoningChunk("a"),
                    ReasoningChunk("b"),
                    *call(0, "c", "weather", '{"city": "x"}'),
                    TOOLS,
                ],
                [TextChunk("y"), STOP],
            ],
            tools=[weather],
        )
    )
    phases = [e.phase for e in result.events if e.type == "phase_changed"]  # type: ignore[union-attr]
    assert phases == ["think", "act", "answer", "summarize"]


# -- rule 10: hooks -------------------------------------------------------------------------------


def test_a_skip_hook_answers_the_call_with_its_reason() -> None:
    hooks = Hooks(on_tool_call=lambda c: Skip("not today") if c.name == "weather" else Continue())
    result = checked(
        run_script(
            [[*call(0, "c1", "weather", '{"city": "x"}'), TOOLS], [TextChunk("ok"), STOP]],
            tools=[weather],
            hooks=hooks,
        )
    )
    assert ToolResultMessage("c1", "skipped: not today", True) in result.history
    assert isinstance(result.outcome, RunCompleted)


@pytest.mark.parametrize(
    "hooks",
    [
        Hooks(on_tool_call=lambda c: Terminate("stop")),
        Hooks(before_step=lambda step, history: Terminate("stop") if step == 2 else None),
        Hooks(on_tool_result=lambda c, r: Terminate("stop")),
        Hooks(after_step=lambda step, message: Terminate("stop")),
        Hooks(on_text_delta=lambda text: Terminate("stop") if "secret" in text else None),
    ],
    ids=["on_tool_call", "before_step", "on_tool_result", "after_step", "on_text_delta"],
)
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
def test_a_terminating_hook_ends_the_run_with_nothing_after_it(
    hooks: Hooks, concurrent: bool
) -> None:
    ran: list[str] = []

    def note(city: str) -> str:
        ran.append(city)
        return "ok"

    result = checked(
        run_script(
            [
                [
                    *call(0, "c0", "note", '{"city": "a"}'),
                    *call(1, "c1", "note", '{"city": "b"}'),
                    TOOLS,
                ],
                [TextChunk("the secret"), STOP],
            ],
            tools=[note],
            hooks=hooks,
            options=LoopOptions(concurrent_tools=concurrent),
        )
    )
    failed(result, "hook")
    executed = [e.call_id for e in result.events if isinstance(e, ToolExecuted)]
    if concurrent:
        # The batch started together: a terminate on one result cannot un-run the others.
        assert len(ran) >= len(executed)
    else:
        assert len(ran) == len(executed)  # no tool ran without its result being reported


# -- rule 11: guardrails and limits ---------------------------------------------------------------


def test_guardrails_refuse_requests_and_responses() -> None:
    refuse_second = Guardrails(request=lambda r: "too many" if r.step == 2 else None)
    result = checked(
        run_script(
            [[*call(0, "c1", "weather", '{"city": "x"}'), TOOLS]],
            tools=[weather],
            guardrails=refuse_second,
        )
    )
    failed(result, "guardrail")
    refuse_word = Guardrails(response=lambda m: "leak" if "password" in m.text else None)
    result = checked(run_script([[TextChunk("the password is x"), STOP]], guardrails=refuse_word))
    assert "leak" in failed(result, "guardrail").message


def test_usage_limits() -> None:
    usage = UsageChunk(Usage(100, 50))
    tokens = checked(
        run_script(
            [[usage, *call(0, "c", "weather", '{"city": "x"}'), TOOLS]],
            tools=[weather],
            options=LoopOptions(max_total_tokens=120),
        )
    )
    failed(tokens, "usage_limit")
    assert tokens.history[-1] == ToolResultMessage(
        "c", "no result: the run failed (usage_limit) before this call's result came", True
    )
    calls = checked(
        run_script(
            [
                [
                    *call(0, "a", "weather", '{"city": "x"}'),
                    *call(1, "b", "weather", '{"city": "y"}'),
                    TOOLS,
                ]
            ],
            tools=[weather],
            options=LoopOptions(max_tool_calls=1),
        )
    )
    failed(calls, "usage_limit")
    requests = checked(
        run_script(
            [[*call(0, "a", "weather", '{"city": "x"}'), TOOLS]],
            tools=[weather],
            options=LoopOptions(max_requests=1),
        )
    )
    failed(requests, "usage_limit")


def test_a_response_over_max_response_bytes_fails() -> None:
    result = checked(
        run_script(
            [[TextChunk("é" * 10), TextChunk("more"), STOP]],
            options=LoopOptions(max_response_bytes=20),
        )
    )
    assert failed(result, "response_too_large").partial_text == "é" * 10


# -- rule 12: usage -------------------------------------------------------------------------------


def test_run_usage_is_the_sum_of_step_usages_and_the_last_usage_chunk_counts() -> None:
    result = checked(
        run_script(
            [
                [
                    UsageChunk(Usage(1, 1)),
                    *call(0, "c", "weather", '{"city": "x"}'),
                    UsageChunk(Usage(10, 5)),
                    TOOLS,
                ],
                [TextChunk("ok"), STOP, UsageChunk(Usage(20, 7, 3, 4))],
            ],
            tools=[weather],
        )
    )
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.usage == Usage(30, 12, 3, 4)


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_run_and_another_seed_another_run_id() -> None:
    script: list[list[StreamItem]] = [
        [*call(0, "c", "weather", '{"city": "x"}'), TOOLS],
        [TextChunk("ok"), STOP],
    ]
    first = run_script(script, tools=[weather], seed=7)
    again = run_script(script, tools=[weather], seed=7)
    other = run_script(script, tools=[weather], seed=8)
    assert first.events == again.events
    assert first.events[0].run_id != other.events[0].run_id


def test_history_contains_the_signature_of_reasoning() -> None:
    result = checked(
        run_script(
            [[ReasoningChunk("x"), ReasoningChunk("", signature="s1"), TextChunk("y"), STOP]]
        )
    )
    assert result.history[-1] == AssistantMessage((ReasoningBlock("x", "s1"), TextBlock("y")))


def test_unused_tool_call_block_type_is_exported() -> None:
    assert ToolCallBlock("a", "b", "{}").arguments == "{}"


def test_a_usage_chunk_alone_does_not_prevent_a_retry() -> None:
    result = checked(
        run_script(
            [
                [UsageChunk(Usage(12, 0)), ErrorChunk("overloaded", retryable=True)],
                [TextChunk("ok"), STOP],
            ]
        )
    )
    assert isinstance(result.outcome, RunCompleted)
    assert types(result).count("retry_scheduled") == 1
