"""Reproducers that reproduce, reported once (issue 12 part 5): every reproducer fails its own
``# replay:`` command; shrinking keeps no request check the reference loop fails; a failure
that shrinks into a known one (same key, same file) and a crash (whatever property met it) are
reported once; ``--examples`` bounds a property's cases in total; M3 is not tripped by float
rounding of virtual durations but still catches a duration that depends on stream timing."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shlex
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentsim import AgentEvent, Message, ReferenceLoop, ToolExecuted
from agentsim.cli._main import main
from agentsim.fuzz import _search
from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._properties import Failure, check_m3, load_loop, run_guarded
from agentsim.fuzz._shrink import shrink_failing
from tests.buggy_loops import BUGS
from tests.fuzz.test_fuzz import BrokenLoop

ROOT = Path(__file__).resolve().parents[2]


def replay(path: Path) -> int:
    """Run the file's own ``# replay:`` line through the command line; its exit status."""
    line = path.read_text(encoding="utf-8").splitlines()[0]
    assert line.startswith("# replay: agentsim ")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(shlex.split(line.removeprefix("# replay: agentsim ")))


def test_every_reproducer_fails_its_own_replay_command(tmp_path: Path) -> None:
    """The M1 file of this bug passes a plain `agentsim run` (its pinned `expect` holds: only
    the merged events differ); its replay line checks the relation itself."""
    spec = "tests.buggy_loops:first_fragment_swallowed"
    report = fuzz(spec, examples=150, seed=1, out=tmp_path, properties=("M1", "M3"))
    assert {f.prop for f, _ in report.failures} == {"M1"}
    for _, path in report.failures:
        assert replay(path) == 1, path.read_text()
    [m1] = [path for f, path in report.failures if f.prop == "M1"]
    assert "--relation M1 --original" in m1.read_text().splitlines()[0]


def test_shrinking_drops_request_checks_the_reference_loop_would_fail() -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "tool_call_then_answer.yaml").read_text())
    small, result = shrink_failing(data, loop=BUGS["phase_flapping"])
    assert [v.invariant for v in result.violations] == ["EV6"]
    assert run_guarded(small).passed, run_guarded(small).report()


def always_raises() -> BrokenLoop:
    return BrokenLoop("raises")


def test_a_crash_is_reported_once_as_a_crash_and_examples_bound_the_search(
    tmp_path: Path,
) -> None:
    report = fuzz("tests.fuzz.test_reproducers:always_raises", examples=20, seed=1, out=tmp_path)
    [(failure, path)] = report.failures
    assert failure.key == "crash:the loop raised RuntimeError"
    assert report.examples == {"run": 20, "sweep": 2, "M1": 10, "M2": 10, "M3": 10}
    result = run_guarded(path, loop=always_raises)
    assert "crash: the loop raised RuntimeError: boom" in result.report()
    assert "script:" not in result.report()


def test_failures_that_shrink_into_a_known_one_are_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first: list[Failure] = []

    def polish_to_the_first(failure: Failure, *_: Any, **__: Any) -> Failure:
        first[:] = first or [failure]
        return first[0]

    monkeypatch.setattr(_search, "polish", polish_to_the_first)
    report = fuzz(
        "tests.buggy_loops:results_out_of_order",
        examples=100,
        seed=1,
        out=tmp_path,
        properties=("run",),
        max_failures=2,
    )
    assert len(report.failures) == 1
    assert len(list(tmp_path.iterdir())) == 1


# The project's own example loop on this scenario was reported to break M3: its tool took
# 0.5 s in one run and 0.49999999999999994 s in the stretched one.
SLOW_TOOL: dict[str, Any] = {
    "input": "Plan my trip",
    "tools": {"slow": {"result": "done", "delay": 0.5}},
    "requests": [
        {
            "chunks": [
                {"tool_call_start": {"index": 0, "id": "call_1_0", "name": "slow"}, "delay": 0.1},
                {"tool_call_args": {"index": 0, "delta": '{"city":"São Paulo"}'}},
                {"finish": "tool_calls"},
            ]
        }
    ],
}


class _TimedFromRunStart:
    """A planted timing bug: tool durations measured from the start of the run."""

    def __init__(self, run: Any) -> None:
        self._run = run

    @property
    def history(self) -> Sequence[Message]:
        history: Sequence[Message] = self._run.history
        return history

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[AgentEvent]:
        async for event in self._run:
            if isinstance(event, ToolExecuted):
                event = dataclasses.replace(event, duration=event.t)
            yield event

    async def aclose(self) -> None:
        await self._run.aclose()


class TimedFromRunStart(ReferenceLoop):
    def run(self, *args: Any, **kwargs: Any) -> Any:
        return _TimedFromRunStart(super().run(*args, **kwargs))


@pytest.mark.parametrize("factor", [2.0, 3.5, 10.0])
def test_m3_tolerates_float_rounding_and_catches_timing_bugs(factor: float) -> None:
    example_loop = load_loop("examples.agent.support_agent:SupportAgentLoop")
    assert check_m3((SLOW_TOOL, factor), example_loop) is None
    assert check_m3((SLOW_TOOL, factor), None) is None
    failure = check_m3((SLOW_TOOL, factor), TimedFromRunStart)
    assert failure is not None
    assert failure.ids == ("M3",)
