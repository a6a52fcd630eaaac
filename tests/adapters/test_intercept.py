"""`agentsim.intercept`: the official SDKs, unmodified and with clients created before it started,
are answered in-process from a scenario or a provider, on virtual time; other hosts are not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import agentsim
from agentsim import FinishChunk, FunctionProvider, ProviderRequest, TextChunk, VirtualEventLoop
from agentsim.serve import OFFICIAL_HOSTS, intercept

from ..serve._sdk_conversations import CONVERSATIONS, EXPECTED, SCRIPTED_DELAY, scenario

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")

BASES = {
    "openai-chat": "https://api.openai.com",
    "openai-responses": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def _virtual(main: Any) -> Any:
    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        return runner.run(main)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("api", list(CONVERSATIONS))
def test_sdk_clients_made_before_the_intercept_are_answered(api: str, stream: bool) -> None:
    http = httpx2.AsyncClient()  # built before: only the transport class is patched
    httpx = pytest.importorskip("httpx")
    http_old = httpx.AsyncClient()
    client = http_old if api == "gemini" else http  # google-genai speaks httpx

    async def main() -> tuple[list[Any], float]:
        turns = await CONVERSATIONS[api](BASES[api], client, stream=stream)
        return turns, asyncio.get_running_loop().time()

    with agentsim.intercept(scenario()) as seen:
        turns, elapsed = _virtual(main())
    assert turns == EXPECTED
    assert seen.playback is not None
    assert seen.playback.passed, seen.playback.report()
    assert [call.api for call in seen.calls] == [api, api]
    assert elapsed == pytest.approx(SCRIPTED_DELAY)


def test_a_module_level_client_and_a_provider_source() -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="sk-test", max_retries=0)  # as at import time
    asked: list[ProviderRequest] = []

    def answer(request: ProviderRequest) -> list[Any]:
        asked.append(request)
        return [agentsim.Delay(2.5), TextChunk("Bon"), TextChunk("jour"), FinishChunk("stop")]

    async def main() -> tuple[str, float]:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Say hello"}],
            tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return text, asyncio.get_running_loop().time()

    with intercept(FunctionProvider(answer)) as seen:
        text, elapsed = _virtual(main())
    assert (text, elapsed) == ("Bonjour", 2.5)
    assert [m.text for m in asked[0].messages] == ["Say hello"]  # type: ignore[union-attr]
    assert [t.name for t in seen.offered_tools] == ["lookup"]


def test_named_base_urls_are_answered_and_other_hosts_are_not() -> None:
    import openai

    local = openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/llm/v1", max_retries=0)
    other = httpx2.AsyncClient()

    async def ask() -> str:
        answer = await local.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        return answer.choices[0].message.content or ""

    provider = FunctionProvider(lambda _: [TextChunk("ok"), FinishChunk("stop")])
    with intercept(provider, base_urls=["http://127.0.0.1:9/llm"]):
        assert asyncio.run(ask()) == "ok"
        with pytest.raises(httpx2.ConnectError):  # not a provider URL: the real transport
            asyncio.run(other.get("http://127.0.0.1:9/elsewhere"))
    assert "api.openai.com" in OFFICIAL_HOSTS
    with pytest.raises(openai.APIConnectionError):  # the interception is over
        asyncio.run(ask())


def test_a_bad_source_is_refused() -> None:
    with pytest.raises(TypeError, match="scenario"):
        intercept(42)  # type: ignore[arg-type]


def test_arguments_after_a_calls_end_cannot_be_sent_as_anthropic_or_gemini() -> None:
    """Found by fuzzing the AG-UI app: a generated stream with an argument fragment after the
    call's end was sent to the Anthropic SDK without it, and the app was blamed for the bytes
    agentsim dropped. Such a stream is unsendable there (a script problem), as in the real API."""
    from agentsim import ToolCallArgsChunk, ToolCallEndChunk, ToolCallStartChunk
    from agentsim.scenario._script import StreamItem
    from agentsim.serve._intercept import _unsendable

    items: list[StreamItem] = [
        ToolCallStartChunk(0, "call_1", "ghost"),
        ToolCallArgsChunk(0, '{"a": '),
        ToolCallEndChunk(0),
        ToolCallArgsChunk(0, "1}"),
    ]
    for api in ("anthropic", "gemini"):
        assert "after the call ended" in (_unsendable(api, list(items)) or "")
    assert _unsendable("openai-chat", list(items)) is None
    assert _unsendable("anthropic", [*items[:2], ToolCallArgsChunk(0, "1}"), items[2]]) is None
