"""Incident 2291, from the production recording to a regression test.

The path, each step checked here so that the committed files stay what the tools write:

1. ``recordings/incident-2291.yaml``: the recorded provider streams (``make_recording.py``).
2. ``pytest recordings/incident-2291.yaml --agentsim-loop support_agent_v1:SupportAgentLoopV1``
   replays it through the release that broke: H3 fails, the history is not what was streamed.
3. ``agentsim convert recordings/incident-2291.yaml -o scenarios/incident-2291.yaml``: an
   editable scenario with the same chunks and timing.
4. ``PYTHONPATH=../agent agentsim shrink scenarios/incident-2291.yaml --loop
   support_agent_v1:SupportAgentLoopV1``: the smallest scenario release 1 still fails the
   same way, ``scenarios/incident-2291.min.yaml`` - two chunks.
5. The regression tests below: the fixed loop passes both scenarios and the recording; release
   1 fails the small one, so the test would have caught the bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import make_recording
import yaml
from support_agent_v1 import SupportAgentLoopV1

from agentsim.cassettes import cassette_to_scenario, load_cassette
from agentsim.fuzzing import shrink_failing
from agentsim.testing import AgentsimReplay, AgentsimRun

HERE = Path(__file__).resolve().parent
RECORDING = HERE / "recordings" / "incident-2291.yaml"
CONVERTED = HERE / "scenarios" / "incident-2291.yaml"
MINIMAL = HERE / "scenarios" / "incident-2291.min.yaml"


def scenario_data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


# -- the regression tests -------------------------------------------------------------------------


def test_the_minimal_reproducer_passes(agentsim_run: AgentsimRun) -> None:
    result = agentsim_run("scenarios/incident-2291.min.yaml")
    assert result.passed, result.report()


def test_the_converted_conversation_passes(agentsim_run: AgentsimRun) -> None:
    result = agentsim_run("scenarios/incident-2291.yaml")
    assert result.passed, result.report()


def test_the_recording_replays_cleanly(agentsim_replay: AgentsimReplay) -> None:
    result = agentsim_replay("recordings/incident-2291.yaml")
    assert result.passed, result.report()


def test_release_1_fails_the_reproducer(agentsim_run: AgentsimRun) -> None:
    result = agentsim_run("scenarios/incident-2291.min.yaml", loop=SupportAgentLoopV1)
    assert [v.invariant for v in result.violations] == ["H3"]


# -- the committed files are what the tools write ----------------------------------------------


def test_the_recording_is_what_make_recording_writes(tmp_path: Path) -> None:
    make_recording.main(tmp_path / "incident.yaml")
    assert (tmp_path / "incident.yaml").read_bytes() == RECORDING.read_bytes()


def test_the_scenario_is_what_convert_writes() -> None:
    assert cassette_to_scenario(load_cassette(RECORDING)) == scenario_data(CONVERTED)


def test_the_reproducer_is_what_shrink_writes() -> None:
    small, result = shrink_failing(scenario_data(CONVERTED), loop=SupportAgentLoopV1)
    assert small == scenario_data(MINIMAL)
    assert not result.passed
