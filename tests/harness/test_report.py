"""The run report (`RunResult.report()`): a screenful whatever the run."""

from __future__ import annotations

from agentsim import run_scenario
from agentsim.scenario._schema import parse_scenario


def _answer(text: str) -> str:
    scenario = parse_scenario(
        {"input": "hi", "requests": [{"chunks": [{"text": text}, {"finish": "stop"}]}]}
    )
    return run_scenario(scenario).report().splitlines()[0]


def test_a_short_answer_is_shown_whole() -> None:
    assert _answer("Hello.") == "outcome: completed at t=0 after 1 step(s): 'Hello.'"


def test_a_long_answer_is_clipped_with_its_length() -> None:
    line = _answer("word " * 20_000)
    assert len(line) < 500
    assert line.endswith("...' (100,000 characters)")
    assert line.startswith("outcome: completed at t=0 after 1 step(s): 'word word ")
