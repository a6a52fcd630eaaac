"""Two recorded endings that continue the run: Anthropic's ``pause_turn`` (the client sends the
response back and the model continues) and Groq's ``tool_use_failed`` with the call in
``failed_generation`` (the client answers the rejected call and the model tries again). Replay
follows both with no script problem and no request difference; a loop that completes at a pause
is caught; the provider's rejection message stays visible in the chunk views."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentsim.cassettes import load_cassette, replay_cassette
from agentsim.cassettes._bodies import body_messages
from agentsim.cassettes._convert import cassette_to_scenario
from agentsim.cli._main import main
from agentsim.core._chunks import (
    Chunk,
    FinishChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    chunk_from_dict,
    chunk_to_dict,
)
from agentsim.core._events import RunCompleted, StepFinished, ToolExecuted
from agentsim.core._history import AssistantMessage, ReasoningBlock, TextBlock
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentRun, Provider, ProviderRequest, RunRequest

from .test_cassettes import CORPUS, cassette, stream

RECORDED = CORPUS / "pydantic-ai/tests/models/cassettes"
GROQ = RECORDED / "test_groq/test_tool_use_failed_error_streaming.yaml"
PAUSE = RECORDED / "test_anthropic/test_pause_turn_web_search_streaming_vcr.yaml"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="recorded corpus not found")


class _PauseIsStop:
    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    async def stream(self, request: ProviderRequest) -> AsyncIterator[Chunk]:
        async for chunk in self._provider.stream(request):
            yield FinishChunk("stop") if chunk == FinishChunk("pause") else chunk


class IgnoresPause:
    """A planted bug: the reference loop, except that it takes a paused response as final."""

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        return ReferenceLoop().run(
            request, provider=_PauseIsStop(provider), tools=tools, runtime=runtime
        )


# -- made here (no corpus needed) -----------------------------------------------------------------

USER = {"role": "user", "content": [{"type": "text", "text": "Search, then sum up."}]}
PAUSED: list[Chunk] = [TextChunk("Searching."), FinishChunk("pause")]


def _paused_cassette(tmp_path: Path) -> Any:
    back = {"role": "assistant", "content": [{"type": "text", "text": "Searching."}]}
    return cassette(
        tmp_path,
        stream("anthropic", PAUSED, request={"messages": [USER]}),
        stream(
            "anthropic",
            [TextChunk("Found it."), FinishChunk("stop")],
            request={"messages": [USER, back]},
        ),
    )


def test_a_paused_anthropic_turn_replays_as_one_run_of_two_steps(tmp_path: Path) -> None:
    result = replay_cassette(_paused_cassette(tmp_path))
    assert result.passed, result.report()
    assert result.problems == ()
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Found it."
    reasons = [e.finish_reason for e in result.events if isinstance(e, StepFinished)]
    assert reasons == ["pause", "stop"]


def test_a_loop_that_completes_at_a_pause_fails_the_replay(tmp_path: Path) -> None:
    result = replay_cassette(_paused_cassette(tmp_path), loop=IgnoresPause())
    assert not result.passed
    assert any("interactions[1]" in p and "was never requested" in p for p in result.problems)


def _rejected_cassette(tmp_path: Path) -> Any:
    chunks: list[Chunk] = [
        ToolCallStartChunk(0, "x", "lookup"),
        ToolCallArgsChunk(0, '{"q": 1}'),
        ToolCallEndChunk(0, "Tool call validation failed: q must be a string"),
    ]
    first = [{"role": "user", "content": "find it"}]
    call = {
        "role": "assistant",
        "tool_calls": [{"id": "c9", "function": {"name": "lookup", "arguments": '{"q":1}'}}],
    }
    result = {"role": "tool", "tool_call_id": "c9", "content": "q: Input should be a string"}
    return cassette(
        tmp_path,
        stream("openai-chat", chunks, request={"messages": first}),
        stream(
            "openai-chat",
            [TextChunk("Sorry."), FinishChunk("stop")],
            request={"messages": [*first, call, result]},
        ),
    )


def test_a_rejected_groq_call_is_answered_with_the_recorded_result(tmp_path: Path) -> None:
    loaded = _rejected_cassette(tmp_path)
    assert b"tool_use_failed" in loaded.interactions[0].response_body
    result = replay_cassette(loaded)
    assert result.passed, result.report()
    assert result.problems == ()
    executed = [e for e in result.events if isinstance(e, ToolExecuted)]
    assert [(e.name, e.ok, e.output) for e in executed] == [
        ("lookup", True, "q: Input should be a string")
    ]
    # The provider's message is kept in the chunks: the converted scenario states it.
    scenario = cassette_to_scenario(loaded)
    ends = [c for c in scenario["requests"][0]["chunks"] if "tool_call_end" in c]
    assert ends == [
        {
            "tool_call_end": {
                "index": 0,
                "rejected": "Tool call validation failed: q must be a string",
            }
        }
    ]


# -- the recorded corpus --------------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("path", [GROQ, PAUSE], ids=["groq-tool-use-failed", "anthropic-pause"])
def test_the_recorded_continuations_replay_with_no_problem(path: Path) -> None:
    for requests in ("loose", "strict"):
        result = replay_cassette(load_cassette(path), requests=requests)
        assert result.passed, result.report()
        assert result.problems == ()


@needs_corpus
def test_the_recorded_pause_is_followed_and_a_loop_ignoring_it_is_caught() -> None:
    result = replay_cassette(load_cassette(PAUSE))
    reasons = [e.finish_reason for e in result.events if isinstance(e, StepFinished)]
    assert reasons == ["pause", "stop"]
    ignored = replay_cassette(load_cassette(PAUSE), loop=IgnoresPause())
    uri = "https://api.anthropic.com/v1/messages?beta=true"
    assert ignored.problems == (f"interactions[1] (POST {uri}) was never requested",)


@needs_corpus
def test_the_recorded_rejection_is_visible_where_chunks_are_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = replay_cassette(load_cassette(GROQ))
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.steps == 3
    first = next(e for e in result.events if isinstance(e, ToolExecuted))
    assert first.call_id == "rejected_call_0_0"
    assert first.output is not None
    assert first.output.startswith("2 validation errors")  # what pydantic-ai sent back
    assert main(["inspect", str(GROQ)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "rejected=" in x)
    assert "tool_call_end" in line
    assert json.dumps("Tool call validation failed")[:-1] in line


# -- the pieces -----------------------------------------------------------------------------------


def test_reasoning_sent_back_between_thinking_tags_reads_back_as_reasoning() -> None:
    # pydantic-ai's Groq model writes a ThinkingPart as "<think>\n...\n</think>", joined to the
    # text with a blank line; the request diff then compares it as the reasoning it is.
    content = "<think>\nplan it\n</think>\n\nmaybe"
    body = {"messages": [{"role": "assistant", "content": content}]}
    (message,), _ = body_messages("openai-chat", body)
    assert message == AssistantMessage((ReasoningBlock("plan it"), TextBlock("\n\nmaybe")))
    for text in ("I use <think>tags</think> in prose", "<think>\nunclosed"):
        body = {"messages": [{"role": "assistant", "content": text}]}
        (message,), _ = body_messages("openai-chat", body)
        assert message == AssistantMessage((TextBlock(text),))


def test_a_rejection_message_is_in_the_chunk_dict_only_when_there_is_one() -> None:
    assert chunk_to_dict(ToolCallEndChunk(1)) == {"type": "tool_call_end", "index": 1}
    rejected = ToolCallEndChunk(1, "bad arguments")
    data = chunk_to_dict(rejected)
    assert data == {"type": "tool_call_end", "index": 1, "rejected": "bad arguments"}
    assert chunk_from_dict(data) == rejected
    assert chunk_from_dict({"type": "tool_call_end", "index": 1}) == ToolCallEndChunk(1)
    assert repr(ToolCallEndChunk(1)) == "ToolCallEndChunk(index=1)"  # encoders digest reprs
