"""Context management (seed 004, loop/_context.py) and H4: every request the loop sends is valid.

A three-step run whose history outgrows a small token budget: the reference loop announces each
request's size (`context_info`), compresses (`context_compressed`) by whole turns with either
strategy, and every request keeps each tool call next to its result. The classic bug of such
code - dropping single messages, cutting between a call and its result - is caught by H4. The
new events go through every SSE dialect: native carries them, the others drop them on purpose.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentsim import (
    ContextCompressed,
    ContextInfo,
    ToolResultMessage,
    UserMessage,
)
from agentsim.fuzz._properties import run_guarded
from agentsim.loop._context import SUMMARY_PREFIX, compress, turns
from agentsim.loop._machine import LoopMachine
from agentsim.sse import (
    DIALECT_NAMES,
    check_transcript,
    decode_dialect,
    encode_dialect,
    project_dialect,
)
from tests.buggy_loops import BuggyLoop


def _call(n: int) -> dict[str, Any]:
    return {
        "chunks": [
            {"text": f"Looking up part {n} of the long report, please wait."},
            {"tool_call": {"name": "lookup", "arguments": {"part": n}}},
            {"finish": "tool_calls"},
        ]
    }


def scenario(strategy: str, budget: int = 60) -> dict[str, Any]:
    return {
        "system": "You are a research assistant.",
        "input": "Summarize the long report for me.",
        "options": {"context_budget": budget, "context_strategy": strategy},
        "tools": {"lookup": {"result": "A long section of the report " * 4}},
        "requests": [
            _call(1),
            _call(2),
            _call(3),
            {"chunks": [{"text": "Done."}, {"finish": "stop"}]},
        ],
    }


@pytest.mark.parametrize("strategy", ["truncate", "summarize"])
def test_the_reference_loop_fits_each_request_and_keeps_it_valid(strategy: str) -> None:
    result = run_guarded(scenario(strategy))
    assert result.passed, result.report()
    infos = [e for e in result.events if isinstance(e, ContextInfo)]
    assert len(infos) == 4  # one before each request
    compressed = [e for e in result.events if isinstance(e, ContextCompressed)]
    assert compressed
    assert compressed[-1].strategy == strategy
    assert {e.strategy for e in compressed} <= {strategy, "truncate (summary too long)"}
    assert all(e.compressed_tokens < e.original_tokens for e in compressed)
    assert all(e.messages_after < e.messages_before for e in compressed)
    assert result.requests is not None
    last = result.requests[-1].messages
    assert len(last) < len(result.history)  # the request was compressed, the history was not
    assert isinstance(last[-1], ToolResultMessage)
    summaries = [
        m for m in last if isinstance(m, UserMessage) and m.text.startswith(SUMMARY_PREFIX)
    ]
    assert len(summaries) == (1 if strategy == "summarize" else 0)


def test_no_context_events_without_a_budget() -> None:
    data = scenario("truncate")
    del data["options"]
    result = run_guarded(data)
    assert result.passed
    assert not any(isinstance(e, ContextInfo | ContextCompressed) for e in result.events)


def test_compression_drops_whole_turns() -> None:
    result = run_guarded(scenario("truncate", budget=10_000))
    history = tuple(result.history)
    assert compress(history, budget=10_000, strategy="truncate") is None  # fits: unchanged
    fitted, name = compress(history, budget=1, strategy="truncate") or ((), "")
    assert name == "truncate"
    assert fitted[:2] == history[:2]  # system and first user message kept
    assert fitted[2:] == history[-1:]  # only the newest turn (the answer) is left
    middle = turns(history[2:-1])
    assert all(len(unit) == 2 for unit in middle)  # each call turn is its call and its result
    assert compress(history[:-1], budget=1, strategy="truncate") == (
        (*history[:2], *history[-3:-1]),
        "truncate",
    )  # a call is never kept without its result


class CutsSingleMessages(LoopMachine):
    """Context truncation by message, not by turn: drops the oldest messages one at a time."""

    def _compress(self, messages: Any, *, budget: int, strategy: str) -> Any:
        done = super()._compress(messages, budget=budget, strategy=strategy)
        if done is None:
            return None
        fitted, name = done
        return (*fitted[:2], *messages[len(messages) - len(fitted) + 3 :]), name


def test_cutting_between_a_call_and_its_result_breaks_h4() -> None:
    loop = lambda **kw: BuggyLoop(machine=CutsSingleMessages, **kw)  # noqa: E731
    result = run_guarded(scenario("truncate"), loop=loop)
    h4 = [v for v in result.violations if v.invariant == "H4"]
    assert h4, result.report()
    assert "request" in h4[0].expected
    assert {v.invariant for v in result.violations} == {"H4"}  # the history itself stays valid


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_context_events_in_every_dialect(dialect: str) -> None:
    result = run_guarded(scenario("summarize"))
    data = encode_dialect(result.events, dialect)
    decoded = decode_dialect(data, dialect)
    assert decoded == project_dialect(result.events, dialect)
    kept = any(isinstance(e, ContextInfo | ContextCompressed) for e in decoded)
    assert kept == (dialect == "native")  # the others drop them, as documented
    report = check_transcript(data, options=result.options, dropped=result.dropped)
    assert not report.invariant_violations, report.render()
