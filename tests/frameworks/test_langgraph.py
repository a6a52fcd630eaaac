"""`langgraph_loop`: LangGraph's prebuilt ReAct agent on ChatOpenAI, run and judged by agentsim.

Fast: a bundled scenario through the agent holds every invariant, a planted break (the ReAct
agent's "Sorry, need more steps" answer at the step limit) is caught, and bad options are refused
eagerly. Slow: `agentsim fuzz --loop spec:loop` from a one-file spec outside the project ends with
exit 0 or 1, and every reproducer it writes replays with `agentsim run`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph", reason="langgraph is the `langgraph` extra")
pytest.importorskip("langchain_openai", reason="langchain-openai is the `langgraph` extra")

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agentsim import run_scenario
from agentsim.core._errors import InputError
from agentsim.core._events import ToolExecuted
from agentsim.frameworks import langgraph_loop

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "frameworks" / "langgraph_spec.py"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def get_local_time(city: str) -> str:
    """The local time in a city."""
    return f"22:40 in {city}"


def _agent() -> Any:
    from langgraph.prebuilt import create_react_agent

    model = ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("sk-test"), max_retries=0)
    with warnings.catch_warnings():  # deprecated in favour of langchain.agents, still shipped
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(model, [get_weather, get_local_time])


def test_a_react_agent_run_holds_every_invariant() -> None:
    loop = langgraph_loop(_agent())
    result = run_scenario(ROOT / "scenarios" / "parallel_calls_run_in_call_order.yaml", loop=loop)
    assert not result.violations, result.violations
    names = [type(e).__name__ for e in result.events]
    assert names.count("ToolExecuted") == 2
    assert names[-1] == "RunCompleted"
    assert [t.name for t in loop.offered_tools()] == [
        "get_weather",
        "get_local_time",
    ]


def test_the_step_limit_answer_is_caught() -> None:
    result = run_scenario(
        ROOT / "scenarios" / "max_steps_reached_while_still_asking_for_tools.yaml",
        loop=langgraph_loop(_agent()),
    )
    found = {v.invariant for v in result.violations}
    assert "EV7" in found  # "Sorry, need more steps..." was never streamed


def test_bad_options_are_refused_eagerly() -> None:
    with pytest.raises(InputError, match="astream_events"):
        langgraph_loop(object())
    with pytest.raises(InputError, match="supersteps_per_step"):
        langgraph_loop(_agent(), supersteps_per_step=0)
    with pytest.raises(InputError, match="unknown feature"):
        langgraph_loop(_agent(), features=["telepathy"])


@pytest.mark.slow
def test_fuzzing_a_react_agent_from_a_spec_outside_the_project(tmp_path: Path) -> None:
    shutil.copy(SPEC, tmp_path / "spec.py")
    agentsim = [sys.executable, "-m", "agentsim"]
    done = subprocess.run(
        [*agentsim, "fuzz", "--loop", "spec:loop", "--examples", "200", "--seed", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    for reproducer in sorted((tmp_path / "fuzz-failures").glob("*.yaml")):
        replay = subprocess.run(
            [*agentsim, "run", "--loop", "spec:loop", str(reproducer)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert replay.returncode == 1, (reproducer.name, replay.stderr[-2000:])


def test_a_tool_error_event_without_a_call_id_is_mapped_from_toolnode_message() -> None:
    # Regression: on_tool_error carries the tool's kwargs, not its call id; the result must come
    # from the ToolMessage ToolNode makes of the error (EV5 fired on a call id of '' before).
    result = run_scenario(
        Path(__file__).with_name("langgraph_tool_error_without_call_id.yaml"),
        loop=langgraph_loop(_agent()),
    )
    assert not result.violations, result.violations
    failed = [e for e in result.events if isinstance(e, ToolExecuted) and not e.ok]
    assert sorted(e.call_id for e in failed) == ["call_1_0", "call_1_1"]
