"""The timeline: what the harness records, what the page draws, escaping, determinism, and the
command line's ``--html`` (run, replay, check, fuzz)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from agentsim import (
    FinishChunk,
    FunctionProvider,
    LoopOptions,
    ProviderError,
    RunRequest,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    Toolset,
    UserMessage,
)
from agentsim.cli._main import main
from agentsim.core._chunks import Chunk
from agentsim.core._virtual_loop import run_virtual
from agentsim.fuzz._properties import load_loop, run_guarded
from agentsim.harness._result import RunResult
from agentsim.harness._run import run_loop, run_scenario
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import ProviderRequest
from agentsim.report import render_html, run_html, timeline_of_run
from agentsim.scenario._script import Delay, Stall
from tests.report._support import CANCEL, ROOT, SCENARIOS, payloads


def test_the_cancel_scenario_records_the_tool_left_running_and_the_cancel() -> None:
    result = run_scenario(CANCEL)
    recording = result.recording
    assert recording is not None
    [request] = recording.requests
    assert (request.step, request.attempt, request.t, request.end) == (1, 1, 0.0, 0.5)
    assert [c.t for c in request.chunks] == [0.5] * 5
    [tool] = recording.tools
    assert (tool.name, tool.start, tool.end, tool.outcome) == (
        "export_report",
        0.5,
        5.0,
        "cancelled",
    )
    assert recording.cancel_at == 5.0


def test_the_page_has_every_lane_and_the_cancel_marker() -> None:
    result = run_scenario(CANCEL)
    timeline = timeline_of_run(result)
    groups = {row.group for row in timeline.rows}
    assert groups == {"provider", "tools", "events", "sse"}
    assert [m.kind for m in timeline.markers] == ["cancel"]
    page = render_html(timeline)
    assert page.count('class="marker marker-cancel"') == 1
    # every event and every SSE frame is an item; each item's payload is in the page
    data = payloads(page)
    assert sum(1 for key in data if re.fullmatch(r"e\d+", key)) == len(result.events)
    assert sum(1 for key in data if re.fullmatch(r"f\d+", key)) == len(result.events)
    assert data["tool0"]["detail"]["outcome"] == "cancelled"
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "src=" not in page  # nothing loaded from anywhere


def test_the_same_run_gives_the_same_bytes_and_another_run_others() -> None:
    first = run_html(run_scenario(CANCEL))
    assert run_html(run_scenario(CANCEL)) == first
    assert run_html(run_scenario(CANCEL), dialect="agui") != first


def test_retries_and_the_idle_timeout_are_drawn() -> None:
    retried = timeline_of_run(
        run_scenario(SCENARIOS / "idle_timeout_before_first_chunk_is_retried.yaml")
    )
    assert [m.kind for m in retried.markers] == ["idle"]
    assert [r.title for r in retried.rows if r.group == "provider"] == [
        "request 1 · step 1 · try 1",
        "request 2 · step 1 · try 2",
        "retries · backoff",
    ]
    backoff = [i for i in retried.items if i.kind == "backoff"]
    assert len(backoff) == 1
    assert backoff[0].end == 11.0
    stalled = timeline_of_run(run_scenario(SCENARIOS / "deadline_bounds_a_stalled_stream.yaml"))
    assert "deadline" in [m.kind for m in stalled.markers]
    [request] = [i for i in stalled.items if i.kind == "stream"]
    assert request.detail["ended"] == "closed"


def test_a_violation_is_pinned_to_its_event() -> None:
    loop = load_loop("tests.buggy_loops:partial_text_lost")
    result = run_guarded(CANCEL, loop=loop)
    [violation] = result.violations
    timeline = timeline_of_run(result)
    [pin] = timeline.pins
    assert (pin.check, pin.item) == ("EV7", f"e{violation.index}")
    assert timeline.verdict == "FAIL"
    page = render_html(timeline)
    assert page.count('class="violation"') == 1
    assert 'data-check="EV7" data-target="e' in page
    # a correct loop on the same scenario: nothing pinned
    assert 'class="violation"' not in run_html(run_guarded(CANCEL))


def test_user_text_cannot_break_out_of_the_page() -> None:
    evil = '</script><script>alert(1)</script><b onclick="x">&amp;\u2028'

    def reply(_request: ProviderRequest) -> list[Chunk | Delay | Stall]:
        return [TextChunk(evil), Delay(1.0)]

    async def main_() -> RunResult:
        return await run_loop(
            ReferenceLoop(),
            request=RunRequest(messages=(UserMessage(evil),), options=LoopOptions()),
            provider=FunctionProvider(reply),
            tools=Toolset(),
        )

    result = run_virtual(main_())
    page = run_html(result, title=evil)
    assert page.count("<script") == 2
    assert page.count("</script>") == 2
    assert "<b onclick" not in page
    script = page[page.index('id="payloads">') :]
    assert "\u2028" not in script  # a raw U+2028 would end a JS string in older engines
    texts = [v["detail"].get("chunk", {}).get("text") for v in payloads(page).values()]
    assert evil in texts  # the payload survives intact


def test_a_loop_of_ones_own_is_recorded_too() -> None:
    # any loop run through run_loop gets the recording: a stall never ends, the deadline ends it
    def reply(_request: ProviderRequest) -> list[Chunk | Delay | Stall]:
        return [TextChunk("thinking"), Stall()]

    async def main_() -> RunResult:
        return await run_loop(
            ReferenceLoop(),
            request=RunRequest(messages=(UserMessage("hi"),), options=LoopOptions(deadline=30)),
            provider=FunctionProvider(reply),
            tools=Toolset(),
        )

    result = run_virtual(main_())
    assert result.recording is not None
    [request] = result.recording.requests
    assert (request.end, request.ended) == (30.0, "closed")
    timeline = timeline_of_run(result)
    assert [m.kind for m in timeline.markers] == ["deadline"]


def test_run_and_replay_write_the_page_only_where_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "t.html"
    assert main(["run", str(CANCEL), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "marker-cancel" in page
    assert main(["replay", str(ROOT / "cassettes" / "anthropic.yaml"), "--html", "r.html"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "t.html"]
    capsys.readouterr()
    assert main(["run", str(CANCEL), "--html", str(tmp_path / "missing" / "t.html")]) == 2
    assert "cannot write the timeline" in capsys.readouterr().err


def test_check_writes_the_page_of_a_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = tmp_path / "run.sse"
    loop = "tests.buggy_loops:partial_text_lost"
    assert main(["run", str(CANCEL), "--loop", loop]) == 1
    transcript.write_text(capsys.readouterr().out, encoding="utf-8")
    page_path = tmp_path / "check.html"
    assert main(["check", str(transcript), "--html", str(page_path)]) == 1
    page = page_path.read_text(encoding="utf-8")
    assert 'data-check="EV7"' in page
    assert payloads(page)["f0"]["detail"]["kind"] == "run_started"


def test_fuzz_writes_a_timeline_beside_each_reproducer(tmp_path: Path) -> None:
    import argparse

    from agentsim.cli._fuzz import add_fuzz_commands

    parser = argparse.ArgumentParser()
    add_fuzz_commands(parser.add_subparsers(dest="command", required=True))
    spec = "tests.buggy_loops:partial_text_lost"
    args = parser.parse_args(
        ["fuzz", "--loop", spec, "--examples", "60", "--seed", "1", "--out", str(tmp_path),
         "--property", "sweep", "--max-failures", "1"]
    )  # fmt: skip
    out = io.StringIO()
    assert args.handler(args, stdout=out, stderr=io.StringIO()) == 1
    [reproducer] = tmp_path.glob("sweep-EV7-*.yaml")
    page = reproducer.with_suffix(".html").read_text(encoding="utf-8")
    assert f"its timeline: {reproducer.with_suffix('.html')}" in out.getvalue()
    assert 'class="violation" data-check="EV7"' in page
    assert "fuzz property sweep failed against tests.buggy_loops:partial_text_lost" in page


def test_a_hung_loop_keeps_what_was_recorded_before_it_hung() -> None:
    loop = load_loop("tests.buggy_loops:stalled_stream_unbounded")
    result = run_guarded(SCENARIOS / "deadline_bounds_a_stalled_stream.yaml", loop=loop)
    assert (result.crash or "").startswith("the run hung")
    assert result.recording is not None
    [request] = result.recording.requests
    assert [c.t for c in request.chunks] == [0.8, 0.8, 0.8]
    timeline = timeline_of_run(result)
    assert "deadline" in [m.kind for m in timeline.markers]  # the stream outlived the deadline
    assert {p.check for p in timeline.pins} == {"EV2", "H3"}
    assert all(p.item is None for p in timeline.pins)  # about the whole run


def test_a_raising_provider_and_a_sync_tool_are_recorded() -> None:
    calls: list[str] = []

    def lookup(city: str) -> str:
        calls.append(city)
        return "sunny"

    def reply(request: ProviderRequest) -> list[Chunk | Delay | Stall]:
        if request.step == 1:
            return [
                ToolCallStartChunk(0, "c1", "lookup"),
                ToolCallArgsChunk(0, '{"city":"Paris"}'),
                ToolCallEndChunk(0),
                FinishChunk("tool_calls"),
            ]
        raise ProviderError("gone", kind="server", retryable=False)

    async def main_() -> RunResult:
        return await run_loop(
            ReferenceLoop(),
            request=RunRequest(messages=(UserMessage("hi"),), options=LoopOptions()),
            provider=FunctionProvider(reply),
            tools=Toolset([lookup]),
        )

    result = run_virtual(main_())
    assert calls == ["Paris"]  # the wrapped sync tool ran, once
    assert result.recording is not None
    first, second = result.recording.requests
    assert (first.ended, second.ended) == ("finished", "raised")
    assert second.error == "ProviderError: gone"
    [tool] = result.recording.tools
    assert (tool.name, tool.arguments, tool.outcome) == ("lookup", {"city": "Paris"}, "returned")
    kinds = {i.kind for i in timeline_of_run(result).items}
    assert {"stream stream-failed", "tool tool-returned"} <= kinds


def test_a_transcripts_rule_violation_is_pinned_to_its_frame(tmp_path: Path) -> None:
    from agentsim.report import timeline_of_transcript
    from agentsim.sse import check_transcript, encode_dialect

    transcript = encode_dialect(
        run_scenario(SCENARIOS / "tool_call_then_answer.yaml").events, "agui"
    )
    frames = transcript.split(b"\n\n")
    frames.remove(next(f for f in frames if b'"TEXT_MESSAGE_START"' in f))
    data = b"\n\n".join(frames)
    report = check_transcript(data, dialect="agui")
    timeline = timeline_of_transcript(report, data)
    rule = next(p for p in timeline.pins if p.check == "S2.agui.not-open")
    assert rule.item is not None
    assert rule.item.startswith("f")
    assert timeline.verdict == "FAIL"
