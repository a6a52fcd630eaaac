"""Wire-level faults against an unmodified SDK app (issue #16 part 4), and the vacuous-pass gap.

The Vercel chat app (openai SDK, default max_retries=2) declares ``provider_errors`` and
``retries`` in `chat_errors_spec`: every fault ends its stream with an ``error`` part, its SDK's
own retries answer 429 / 5xx (after Retry-After, on the virtual clock), and no check fires.
Each planted failure-handling bug is found, by a direct case and by fuzzing on what the spec
declares; a reproducer replays it with ``--loop spec:loop``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsim import RunCompleted, RunFailed
from agentsim.adapters import sse_loop
from agentsim.fuzz._campaign import unreached
from agentsim.fuzz._properties import load_loop, run_guarded, run_with_loop, write_reproducer
from agentsim.fuzz._search import search

pytest.importorskip("fastapi")
pytest.importorskip("ag_ui")
os.environ.setdefault("OPENAI_API_KEY", "sk-agentsim-test")
os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-agentsim-test")

from .apps import chat_errors_spec, chat_vercel

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.adapters.apps.chat_errors_spec:loop"
OK = [{"text": "fine"}, {"finish": "stop"}]


def _case(*requests: list[dict[str, Any]]) -> dict[str, Any]:
    return {"input": "hi", "requests": [{"chunks": chunks} for chunks in requests]}


CASES: dict[str, dict[str, Any]] = {
    "429 with Retry-After, then an answer": _case(
        [{"error": {"kind": "rate_limit", "status": 429, "retry_after": 30}}], OK
    ),
    "529 three times": _case(*[[{"error": {"kind": "overloaded", "status": 529}}]] * 3),
    "503, then an answer": _case([{"error": {"kind": "overloaded", "status": 503}}], OK),
    "an error event mid-stream": _case([{"text": "a"}, {"error": {"kind": "overloaded"}}]),
    "a reset mid-body": _case([{"text": "a"}, {"reset": True}]),
    "a malformed event": _case([{"text": "a"}, {"malformed": "{not json"}]),
    "a read stall": _case([{"text": "a"}, {"text": "b", "delay": 660.0}, {"finish": "stop"}]),
    "a truncation": _case([{"text": "a"}, {"truncate": True}]),
}


@pytest.fixture
def bug(request: pytest.FixtureRequest) -> Iterator[str]:
    chat_vercel.BUGS.add(request.param)
    try:
        yield request.param
    finally:
        chat_vercel.BUGS.discard(request.param)


@pytest.mark.parametrize("name", list(CASES))
def test_the_correct_app_ends_every_fault_as_design_3_asks(name: str) -> None:
    result = run_guarded(CASES[name], loop=lambda: chat_errors_spec.loop)
    assert result.violations == (), result.report()
    assert result.crash is None
    if "then an answer" in name:  # the SDK's own retry got the answer
        assert isinstance(result.outcome, RunCompleted), result.report()
    else:
        assert isinstance(result.outcome, RunFailed), result.report()
    if name.startswith("429"):
        assert result.outcome.t == pytest.approx(30.0)  # Retry-After, on the virtual clock
    if name == "a read stall":
        assert result.outcome.t == pytest.approx(600.0)  # the SDK's read timeout fired


PLANTED = [
    ("narrow_except", "a malformed event", "S2.stream"),
    ("swallow_error", "an error event mid-stream", "EV10"),
    ("swallow_error", "a reset mid-body", "EV10"),
    ("ignore_truncation", "a truncation", "EV10"),
]


@pytest.mark.parametrize(
    ("bug", "case", "expected"), PLANTED, indirect=["bug"], ids=[f"{b}-{c}" for b, c, _ in PLANTED]
)
def test_each_failure_handling_bug_is_caught(bug: str, case: str, expected: str) -> None:
    result = run_guarded(CASES[case], loop=lambda: chat_errors_spec.loop)
    assert expected in {v.invariant for v in result.violations}, result.report()


@pytest.mark.slow  # the bug retries until the wall-clock budget (10 s) ends the run
@pytest.mark.parametrize("bug", ["retry_forever"], indirect=True)
def test_an_app_that_retries_forever_is_reported_not_hung(bug: str) -> None:
    result = run_guarded(CASES["529 three times"], loop=lambda: chat_errors_spec.loop)
    assert result.crash is not None
    assert "EV2" in {v.invariant for v in result.violations}


def test_the_correct_app_passes_fuzzing_with_provider_errors() -> None:
    loop = chat_errors_spec.loop
    found = search("run", lambda: loop, examples=60, seed=3, features=loop.features)
    assert found.failure is None, found.failure and found.failure.lines()


FUZZED = [
    ("swallow_error", "EV10"),
    pytest.param("ignore_truncation", "EV10", marks=pytest.mark.slow),  # ~10 s each
    pytest.param("narrow_except", "S2.stream", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("bug", "expected"), FUZZED, indirect=["bug"])
def test_fuzzing_on_what_the_spec_declares_finds_each_bug_with_a_reproducer(
    bug: str, expected: str, tmp_path: Path
) -> None:
    loop = chat_errors_spec.loop
    features = loop.features
    found = search("run", lambda: loop, examples=200, seed=3, features=features)
    assert found.failure is not None
    assert expected in found.failure.ids, found.failure.lines()
    path = write_reproducer(found.failure, tmp_path, loop=SPEC)
    replayed = run_with_loop(path, loop=SPEC)  # what `agentsim run --loop` runs
    assert expected in {v.invariant for v in replayed.violations}, replayed.report()


# -- the vacuous-pass gap --------------------------------------------------------------------------


def test_a_loop_whose_sdk_has_no_api_key_is_unreached(monkeypatch: pytest.MonkeyPatch) -> None:
    anthropic = pytest.importorskip("anthropic")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = anthropic.AsyncAnthropic()  # configured from the environment, as apps do

    async def agent(text: str) -> AsyncIterator[str]:
        try:
            reply = await client.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": text}]
            )
            yield f"data: {json.dumps({'type': 'text', 'text': str(reply.content)})}\n\n"
        except Exception as exc:
            yield f"data: {json.dumps({'type': 'error', 'message': str(exc)})}\n\n"

    loop = sse_loop(agent, api="anthropic", dialect="chat")
    message = unreached(lambda: loop)
    assert message is not None
    assert message.startswith("no provider request reached agentsim")
    assert "missing API key" in message
    assert "base URL that is not intercepted" in message


@pytest.mark.slow  # a subprocess importing the SDK and the app: ~10-20 s
def test_a_campaign_that_reaches_no_provider_fails_with_the_likely_cause(tmp_path: Path) -> None:
    """The AG-UI app's module-level AsyncAnthropic() without ANTHROPIC_API_KEY: the SDK refuses
    every request, so without the probe every case would pass."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "agentsim", "fuzz", "--loop"]
    command += ["tests.adapters.apps.agui_spec:loop", "--examples", "5", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no provider request reached agentsim" in done.stdout
    assert "missing API key" in done.stdout
    assert "Could not resolve authentication method" in done.stdout  # the SDK's own words


@pytest.mark.parametrize(
    "spec",
    [
        None,
        "support_agent:SupportAgentLoop",
        "tests.adapters.apps.chat_spec:loop",
        "tests.adapters.apps.agui_spec:loop",
        SPEC,
    ],
)
def test_loops_that_reach_their_provider_are_not_flagged(
    spec: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "agent"))
    if spec is None:
        from agentsim import ReferenceLoop

        assert unreached(ReferenceLoop) is None
    else:
        assert unreached(load_loop(spec)) is None


@pytest.mark.slow  # the whole default campaign, 2500 cases: ~4 minutes
def test_default_agentsim_fuzz_passes_the_correct_app_with_provider_errors(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agentsim", "fuzz", "--loop", SPEC, "--seed", "1"]
    command += ["--out", str(tmp_path), "--coverage"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "sk-test"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for shape in ("Retry-After", "connection reset", "malformed event", "read stall"):
        line = next(line for line in done.stdout.splitlines() if shape in line)
        assert "NEVER" not in line, line
