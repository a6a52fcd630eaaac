"""`agentsim fuzz` and `agentsim shrink`: loading loops, running them guarded, the command lines
(exit codes 0 / 1 / 2, progress, reproducers), delta debugging, and the hypothesis profiles."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

from agentsim import (
    AgentEvent,
    InputError,
    Message,
    Provider,
    ReferenceLoop,
    RunRequest,
    RunStarted,
    Runtime,
    Toolset,
    load_scenario,
    run_scenario,
)
from agentsim.cli._fuzz import add_fuzz_commands
from agentsim.fuzz._profiles import PROFILES, default_profile, load_profile
from agentsim.fuzz._properties import (
    Failure,
    load_loop,
    make_loop,
    run_guarded,
    run_with_loop,
    write_reproducer,
)
from agentsim.fuzz._search import search
from agentsim.fuzz._shrink import shrink_data, shrink_failing
from agentsim.fuzz._strategies import scenarios
from agentsim.loop._features import ALL_FEATURES
from agentsim.sse import encode_native
from tests.buggy_loops import BUGS, BuggyLoop

ROOT = Path(__file__).resolve().parents[2]
SIMPLE: dict[str, Any] = {
    "input": "hi",
    "requests": [{"chunks": [{"text": "hello"}, {"finish": "stop"}]}],
}


# -- loading loops --------------------------------------------------------------------------------


class _BrokenRun:
    """A run that starts, then misbehaves according to `how`."""

    def __init__(self, how: str) -> None:
        self.how = how

    @property
    def history(self) -> Sequence[Message]:
        return ()

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[AgentEvent]:
        yield RunStarted(1, 0.0, "run_1")
        if self.how == "raises":
            raise RuntimeError("boom")
        if self.how == "hangs":
            await asyncio.get_running_loop().create_future()
        while True:  # runs away: sleeps forever on virtual time
            await asyncio.sleep(60)

    async def aclose(self) -> None:
        pass


class BrokenLoop:
    def __init__(self, how: str = "raises") -> None:
        self.how = how

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> _BrokenRun:
        return _BrokenRun(self.how)


hanging_loop = BrokenLoop("hangs")


def not_a_loop() -> int:
    return 3


def test_load_loop_accepts_factories_classes_and_loop_objects() -> None:
    assert load_loop("agentsim:ReferenceLoop") is ReferenceLoop
    assert load_loop("tests.buggy_loops:partial_text_lost") is BUGS["partial_text_lost"]
    factory = load_loop("tests.fuzz.test_fuzz:hanging_loop")
    assert factory() is hanging_loop


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("agentsim", "expected module:factory"),
        ("nowhere.at_all:x", "cannot import 'nowhere.at_all'"),
        ("agentsim:NoSuchThing", "has no attribute 'NoSuchThing'"),
        ("agentsim:__version__", "neither a loop nor a factory"),
    ],
)
def test_load_loop_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_loop(spec)


def test_a_loop_module_that_raises_on_import_is_one_line_of_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "needs_a_key.py").write_text(
        "raise RuntimeError('Missing credentials: set OPENAI_API_KEY')\nloop = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match="importing 'needs_a_key' raised RuntimeError: Missing"):
        load_loop("needs_a_key:loop")
    from agentsim.cli._main import main

    assert main(["run", str(ROOT / "scenarios" / "tool_call_then_answer.yaml"),
                 "--loop", "needs_a_key:loop"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_make_loop_passes_hooks_only_to_factories_that_take_them() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "hook_terminates_on_tool_call.yaml")
    loop = make_loop(BUGS["phase_flapping"], scenario)
    assert isinstance(loop, BuggyLoop)
    assert loop.hooks is not None
    assert loop.hooks.on_tool_call is not None
    assert isinstance(make_loop(BrokenLoop, scenario), BrokenLoop)
    with pytest.raises(InputError, match="not a loop"):
        make_loop(not_a_loop, scenario)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("raises", "the loop raised RuntimeError: boom"),
        ("hangs", "the run hung: nothing could ever wake it again"),
        ("runs away", "still going at the watchdog"),
    ],
)
def test_a_broken_loop_is_reported_not_raised(how: str, problem: str) -> None:
    result = run_guarded(SIMPLE, loop=lambda: BrokenLoop(how))
    assert result.crash is not None
    assert problem in result.crash
    assert not result.problems
    assert [v.invariant for v in result.violations] == ["EV2"]
    assert len(result.events) == 1
    assert not result.passed


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_run_with_loop_runs_the_reference_loop_as_run_scenario_does(path: Path) -> None:
    expected, got = run_scenario(path), run_with_loop(path)
    assert encode_native(got.events) == encode_native(expected.events)
    assert (got.history, got.problems, got.mismatches) == (
        expected.history,
        expected.problems,
        expected.mismatches,
    )


def test_run_with_loop_is_what_run_does_with_a_loop() -> None:
    path = ROOT / "scenarios" / "cancel_mid_stream_reports_partials.yaml"
    assert run_with_loop(path).passed
    assert not run_with_loop(path, loop="tests.buggy_loops:partial_text_lost").passed


# -- the command lines ----------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="agentsim")
    add_fuzz_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    status: int = args.handler(args, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_fuzz_passes_the_reference_loop(tmp_path: Path) -> None:
    status, out, err = cli("fuzz", "--examples", "40", "--seed", "3", "--out", str(tmp_path))
    assert status == 0, out
    assert out.rstrip().endswith("PASS")
    assert "with seed 3" in out
    assert "fuzz run:" in err
    assert not list(tmp_path.iterdir())


def test_fuzz_finds_a_bug_and_writes_a_reproducer(tmp_path: Path) -> None:
    spec = "tests.buggy_loops:phase_flapping"
    status, out, _ = cli(
        "fuzz", "--loop", spec, "--examples", "200", "--seed", "1", "--out", str(tmp_path),
        "--property", "run", "--property", "m2", "--max-failures", "1",
    )  # fmt: skip
    assert status == 1
    assert "FAIL run:EV6" in out
    assert "M2" in out
    [path] = tmp_path.glob("run-EV6-*.yaml")
    text = path.read_text()
    assert text.startswith(f"# replay: agentsim run {path} --loop {spec}\n")
    assert "EV6 at event" in text
    assert load_scenario(path).description.startswith("Reproducer: run:EV6")
    assert not run_with_loop(path, loop=spec).passed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fuzz", "--loop", "nowhere:x"], "cannot import"),
        (["shrink", "missing.yaml"], "no such file"),
        (["shrink", "scenarios/tool_call_then_answer.yaml", "--loop", "x"], "module:factory"),
    ],
)
def test_bad_input_exits_2(argv: list[str], message: str) -> None:
    status, _, err = cli(*argv)
    assert status == 2
    assert message in err


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["fuzz", "--examples", "0"], ["fuzz", "--property", "M9"]):
        with pytest.raises(SystemExit):
            cli(*argv)
    assert "expected" in capsys.readouterr().err


def test_shrink_minimizes_a_failing_scenario(tmp_path: Path) -> None:
    source = ROOT / "scenarios" / "usage_summed_over_steps_last_chunk_counts.yaml"
    output = tmp_path / "small.yaml"
    spec = "tests.buggy_loops:usage_not_summed"
    status, out, _ = cli("shrink", str(source), "--loop", spec, "-o", str(output))
    assert status == 0
    assert "-> 4 chunk items" in out
    assert "expect" not in load_scenario(output).model_fields_set
    assert not run_with_loop(output, loop=spec).passed
    assert run_with_loop(output).passed


def test_shrink_of_a_passing_scenario_exits_1() -> None:
    status, _, err = cli("shrink", str(ROOT / "scenarios" / "tool_call_then_answer.yaml"))
    assert status == 1
    assert "nothing to shrink" in err


def never_retries(*, hooks: Any = None, guardrails: Any = None) -> BuggyLoop:
    """Not an invariant bug: a loop that never retries, and says so (no ``retries`` feature),
    only misses a scenario's expectation."""
    return BuggyLoop(
        options=lambda o: dataclasses.replace(o, max_retries=0),
        hooks=hooks,
        features=ALL_FEATURES - {"retries"},
    )


def test_shrink_keeps_an_expectation_the_reference_loop_meets() -> None:
    """A failure that is only a missed `expect` shrinks differentially: the reference loop must
    keep passing, so the file cannot shrink into something no loop could pass."""
    path = ROOT / "scenarios" / "retryable_errors_retried_with_exponential_backoff.yaml"
    data = yaml.safe_load(path.read_text())
    small, result = shrink_failing(data, loop=never_retries)
    assert not result.passed
    assert not result.violations
    assert run_guarded(small).passed
    assert "expect" in small
    assert len(small["requests"]) <= len(data["requests"])


def test_shrink_data_is_greedy_and_bounded() -> None:
    data = {"input": "x", "requests": [{"chunks": [{"text": str(i)} for i in range(20)]}]}
    calls = []

    def needs_seven(candidate: dict[str, Any]) -> bool:
        calls.append(1)
        return any(c.get("text") == "7" for r in candidate["requests"] for c in r["chunks"])

    small = shrink_data(data, needs_seven)
    assert small == {"input": "x", "requests": [{"chunks": [{"text": "7"}]}]}
    assert len(calls) < 40
    assert shrink_data(data, needs_seven, max_runs=3) != small


def test_write_reproducer_names_and_validates(tmp_path: Path) -> None:
    failure = Failure("run", dict(SIMPLE), ())
    path = write_reproducer(failure, tmp_path / "new", loop=None, seed=9)
    assert path.name.startswith("run--")
    assert "--seed 9" in path.read_text()
    with pytest.raises(InputError):
        write_reproducer(Failure("run", {"input": 1}, ()), tmp_path, loop=None)


# -- profiles -------------------------------------------------------------------------------------


def test_profiles_are_registered_by_the_package() -> None:
    assert set(PROFILES) == {"dev", "ci", "fuzz"}
    assert PROFILES["ci"].derandomize
    assert PROFILES["ci"].database is None
    assert PROFILES["fuzz"].max_examples == 5_000
    assert default_profile({}) == "dev"
    assert default_profile({"CI": "1"}) == "ci"
    assert default_profile({"CI": "1", "HYPOTHESIS_PROFILE": "fuzz"}) == "fuzz"
    current = settings()
    try:
        assert load_profile("fuzz") == "fuzz"
        assert settings().max_examples == 5_000
    finally:
        settings.load_profile(default_profile())
    assert settings().max_examples == current.max_examples


def test_search_draws_from_a_given_strategy() -> None:
    seen: list[dict[str, Any]] = []

    def keep(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data)
        return data

    restricted = scenarios(inject_faults=False, cancellation=False, hooks=False).map(keep)
    assert search("run", None, examples=20, seed=0, strategy=restricted).failure is None
    assert seen
    assert not any({"cancel", "drop", "hooks", "guardrails"} & set(data) for data in seen)
    found = search("M1", BUGS["usage_not_summed"], examples=30, seed=0, strategy=restricted)
    assert found.examples > 0  # the property's own parameter (a seed) still comes with each case


def test_a_loop_that_fails_a_case_only_once_is_reported_flaky_not_raised() -> None:
    # A nondeterministic loop: its bug shows in one run, every later run (hypothesis' shrinking
    # and its final replay of the case) passes. Hypothesis calls that Flaky; fuzz reports the
    # failure it saw, marked flaky, instead of a traceback.
    from tests.buggy_loops import ForgetsActPhase

    shown = False

    class FlapsOnce(ForgetsActPhase):
        def _enter(self, phase: Any, t: float) -> None:
            nonlocal shown
            shown = shown or (phase == "act" and self._phase == "act")
            super()._enter(phase, t)

    def once_buggy() -> ReferenceLoop:
        return ReferenceLoop() if shown else BuggyLoop(machine=FlapsOnce)

    found = search("run", once_buggy, examples=200, seed=1)
    assert shown
    assert found.failure is not None
    assert found.failure.key == "run:EV6"
    assert found.failure.note.startswith("flaky:")
