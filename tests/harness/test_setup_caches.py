"""What a run's setup keeps between runs or builds lazily still means exactly what it did."""

from __future__ import annotations

import math
from typing import Any

from agentsim import parse_scenario
from agentsim.core._tools import Tool, Toolset
from agentsim.core._virtual_loop import run_virtual
from agentsim.harness._recording import Recorder
from agentsim.harness._run import _options
from agentsim.loop._protocol import LoopOptions
from agentsim.scenario._script import ScriptedProvider


def _scenario(**options: Any) -> Any:
    return parse_scenario({"input": "hi", "options": options, "requests": []})


def test_loop_options_are_those_the_values_build() -> None:
    for options in ({}, {"deadline": 4.0, "max_retries": 0}, {"max_steps": 3}, {"deadline": 0}):
        scenario = _scenario(**options)
        assert _options(scenario) == LoopOptions(**scenario.options.model_dump())
    assert _options(_scenario(max_steps=3)) is _options(_scenario(max_steps=3))
    # 0.0 and -0.0 are equal but not the same option: each keeps its own.
    assert math.copysign(1, _options(_scenario(deadline=0.0)).deadline) == 1
    assert math.copysign(1, _options(_scenario(deadline=-0.0)).deadline) == -1


def test_recorded_tools_are_wrapped_when_looked_up() -> None:
    def lookup(q: str) -> str:
        return q

    def fail() -> str:
        raise ValueError("no")

    async def check() -> None:  # a recorder reads the clock of the running (virtual) loop
        inner = Toolset([Tool("lookup", lookup, "finds"), Tool("fail", fail)])
        recorder = Recorder()
        tools = recorder.tools(inner)
        assert list(tools) == ["lookup", "fail"]
        assert len(tools) == 2
        assert tools.specs() == inner.specs()
        assert "lookup" in tools
        assert "ghost" not in tools
        assert tools.get("ghost") is None
        assert tools["lookup"] is tools["lookup"]  # one wrapper per tool
        assert tools["lookup"].call({"q": "x"}) == "x"
        assert [t.name for t in recorder.freeze().tools] == ["lookup"]

    run_virtual(check())


def test_a_scripted_provider_compiles_what_is_played() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [{"chunks": [{"text": "a"}, {"finish": "stop"}]}] * 3,
        }
    )
    provider = ScriptedProvider(scenario.requests)
    compiled = provider._compiled
    assert len(compiled) == 3
    assert compiled[-1] == compiled[2] == compiled[0]
    try:
        compiled[3]
    except IndexError:
        pass
    else:
        raise AssertionError("expected an IndexError past the script")
