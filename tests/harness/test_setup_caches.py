"""What a run's setup keeps between runs or builds lazily still means exactly what it did."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from agentsim import parse_scenario
from agentsim.core._tools import Tool, Toolset
from agentsim.core._virtual_loop import run_virtual
from agentsim.fuzz._properties import run_guarded
from agentsim.harness._recording import Recorder
from agentsim.harness._run import _options
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._hooks import Hooks
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


# -- event loops reused between reference runs (harness/_guard, VirtualEventLoop.reset) -------

_TOOL_RUN = {
    "input": "hi",
    "tools": {"lookup": {"result": "found", "delay": 2}},
    "options": {"idle_timeout": 5},
    "requests": [
        {
            "chunks": [
                {"tool_call": {"name": "lookup", "arguments": {"q": "x"}}, "delay": 1},
                {"finish": "tool_calls"},
            ]
        },
        {"chunks": [{"text": "done", "delay": 3}, {"finish": "stop"}]},
    ],
}


class _FreshLoop(ReferenceLoop):
    """The reference loop under another name: a loop under test, never on a reused loop."""


def _factory(kind: type[ReferenceLoop], hooks: Hooks) -> Callable[[], ReferenceLoop]:
    return lambda: kind(hooks=hooks)  # (no `hooks` keyword: the scenario's would replace it)


def _loops_seen(hook: Callable[[asyncio.AbstractEventLoop], object] = lambda loop: None) -> Any:
    seen: list[asyncio.AbstractEventLoop] = []

    def before_step(step: int, messages: object) -> None:
        if step == 1:
            loop = asyncio.get_running_loop()
            seen.append(loop)
            hook(loop)

    return seen, Hooks(before_step=before_step)


def test_reference_runs_reuse_a_clean_loop_and_get_the_same_results() -> None:
    scenario = parse_scenario(_TOOL_RUN)
    seen, hooks = _loops_seen()
    reused = [run_guarded(scenario, loop=_factory(ReferenceLoop, hooks)) for _ in range(3)]
    assert len(seen) == 3
    assert len({id(loop) for loop in seen}) < len(seen)  # a loop served several runs
    fresh_seen, fresh_hooks = _loops_seen()
    fresh = [run_guarded(scenario, loop=_factory(_FreshLoop, fresh_hooks)) for _ in range(3)]
    assert not set(map(id, fresh_seen)) & set(map(id, seen))  # a loop under test: never reused
    assert len(set(map(id, fresh_seen))) == 3
    assert reused[0].passed
    assert reused[0].outcome is not None
    assert reused[0].outcome.t == 6.0
    assert [repr(r) for r in reused] == [repr(r) for r in fresh]


def test_a_run_that_leaves_a_timer_does_not_pass_its_loop_on() -> None:
    scenario = parse_scenario(_TOOL_RUN)
    fired: list[float] = []
    seen, hooks = _loops_seen(lambda loop: loop.call_later(100, lambda: fired.append(loop.time())))
    results = [run_guarded(scenario, loop=_factory(ReferenceLoop, hooks)) for _ in range(3)]
    assert all(r.passed for r in results)
    assert len({id(loop) for loop in seen}) == len(seen) == 3  # each run on a loop of its own
    assert fired == []  # the timer of one run never fired in another


def test_a_run_that_crashed_does_not_pass_its_loop_on() -> None:
    scenario = parse_scenario(_TOOL_RUN)
    seen, hooks = _loops_seen(lambda loop: time.sleep(5))
    crashed = run_guarded(scenario, loop=_factory(ReferenceLoop, hooks))
    assert crashed.crash is not None
    assert "time.sleep(5)" in crashed.crash
    after, clean = _loops_seen()
    assert run_guarded(scenario, loop=_factory(ReferenceLoop, clean)).passed
    assert after[0] is not seen[0]
