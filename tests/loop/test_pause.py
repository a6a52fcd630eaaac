"""A paused turn (finish reason ``pause``, Anthropic's ``pause_turn``): the reference loop sends the
response back as it is and continues with a new step, bounded by max_steps; ``other`` and the
provider errors keep their meaning. A loop that completes at a pause is caught by the script check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentsim import (
    AssistantMessage,
    ErrorChunk,
    FinishChunk,
    LoopOptions,
    ProviderRequest,
    ReasoningBlock,
    ReasoningChunk,
    RunCompleted,
    RunFailed,
    StepFinished,
    TextBlock,
    TextChunk,
    UserMessage,
    check_trace,
)
from agentsim.harness._run import run_scenario
from agentsim.loop._driver import ReferenceLoop
from agentsim.scenario._schema import parse_scenario
from tests._support import run_script

PAUSE = FinishChunk("pause")
STOP = FinishChunk("stop")


def _checked(result: Any) -> Any:
    assert result.violations == (), "\n".join(map(str, result.violations))
    return result


def test_a_paused_turn_continues_with_a_new_step_that_sends_the_response_back() -> None:
    requests: list[ProviderRequest] = []
    result = _checked(
        run_script(
            [
                [ReasoningChunk("plan", "sig"), TextChunk("Searching."), PAUSE],
                [TextChunk("Done."), STOP],
            ],
            requests=requests,
        )
    )
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.steps == 2
    assert result.outcome.output == "Done."  # the final step's text, as after a tool step (EV7)
    paused = AssistantMessage((ReasoningBlock("plan", "sig"), TextBlock("Searching.")))
    # The continuation sends the paused response back as it is, with nothing after it.
    assert requests[1].messages == (UserMessage("hi"), paused)
    assert requests[1].step == 2
    assert [e.finish_reason for e in result.events if isinstance(e, StepFinished)] == [
        "pause",
        "stop",
    ]
    assert tuple(result.history[-2:]) == (paused, AssistantMessage((TextBlock("Done."),)))


def test_pauses_are_bounded_by_max_steps_like_steps_that_ask_for_tools() -> None:
    result = _checked(run_script([[TextChunk("a"), PAUSE]] * 2, options=LoopOptions(max_steps=2)))
    assert isinstance(result.outcome, RunFailed)
    assert result.outcome.kind == "max_steps"
    assert result.outcome.message == "step 2 of max_steps=2 paused its turn"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_paused_scenario_runs_to_its_end_on_both_backends(backend: str) -> None:
    scenario = parse_scenario(
        {
            "input": "search",
            "requests": [
                {"chunks": [{"text": "one"}, {"finish": "pause"}]},
                {
                    "expect": {"last_role": "assistant"},
                    "chunks": [{"text": "two"}, {"finish": "stop"}],
                },
            ],
            "expect": {"outcome": "completed", "output": "two", "steps": 2},
        }
    )
    result = run_scenario(scenario, backend=backend)
    assert result.passed, result.report()


def test_other_still_completes_the_run() -> None:
    result = _checked(run_script([[TextChunk("x"), FinishChunk("other")]]))
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.steps == 1


def test_a_non_retryable_error_still_fails_the_run() -> None:
    error = ErrorChunk("invalid_request", "bad tool call", False, 400)
    result = _checked(run_script([[ReasoningChunk("r"), error]]))
    assert isinstance(result.outcome, RunFailed)
    assert (result.outcome.kind, result.outcome.message) == (
        "provider",
        "invalid_request error (not retryable): bad tool call",
    )


class _IgnoresPause(ReferenceLoop):
    """A planted bug: a loop that takes a paused response as the final answer."""

    def run(self, request: Any, *, provider: Any, tools: Any, runtime: Any) -> Any:
        class _Provider:
            async def stream(self, req: ProviderRequest) -> AsyncIterator[Any]:
                async for chunk in provider.stream(req):
                    yield FinishChunk("stop") if chunk == PAUSE else chunk

        return super().run(request, provider=_Provider(), tools=tools, runtime=runtime)


def test_a_loop_that_completes_at_a_pause_is_caught_by_the_script_check() -> None:
    data = {
        "input": "search",
        "requests": [
            {"chunks": [{"text": "one"}, {"finish": "pause"}]},
            {"chunks": [{"text": "two"}, {"finish": "stop"}]},
        ],
    }
    assert run_scenario(parse_scenario(data)).passed  # no false alarm on the reference loop
    result = run_scenario(parse_scenario(data), loop=_IgnoresPause())
    assert not result.passed
    assert any("never" in p and "requests[1]" in p for p in result.problems), result.problems


def test_ev8_takes_a_pause_for_a_step_that_asks_for_another() -> None:
    result = _checked(run_script([[TextChunk("a"), PAUSE]], options=LoopOptions(max_steps=1)))
    assert isinstance(result.outcome, RunFailed)
    # A planted bug: the same failure after a step that neither asked for tools nor paused.
    events = [
        dataclasses.replace(e, finish_reason="stop") if isinstance(e, StepFinished) else e
        for e in result.events
    ]
    found = check_trace(dataclasses.replace(result.trace, events=events))
    assert [v.invariant for v in found] == ["EV8"], found
    assert "without tool calls or a pause" in str(found[0])
