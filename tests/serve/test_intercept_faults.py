"""Wire-level faults (issue #16 part 4), each read by the real SDK through `agentsim.intercept`:
HTTP 429 / 500 / 503 / 529 answers (with Retry-After), an error event mid-stream, a connection
reset mid-body, a malformed event and a read stall past the client's timeout. Every SDK must
raise its documented error type, on the virtual clock (a 600 s read timeout costs no real time);
and scripted providers (protocol loops) raise `ProviderError` for the wire-only ones."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from agentsim import VirtualEventLoop, intercept, parse_scenario
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import run_guarded
from agentsim.loop._protocol import ProviderError, ProviderRequest
from agentsim.scenario._script import ScriptedProvider

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")
genai = pytest.importorskip("google.genai")
genai_errors = pytest.importorskip("google.genai.errors")
genai_types = pytest.importorskip("google.genai.types")

KEYS = {"api_key": "sk-agentsim-test"}
OK = [{"text": "fine"}, {"finish": "stop"}]
FAULTS: dict[str, list[dict[str, Any]]] = {
    "429": [{"error": {"kind": "rate_limit", "status": 429, "retry_after": 30}}],
    "500": [{"error": {"kind": "server", "status": 500}}],
    "503": [{"error": {"kind": "overloaded", "status": 503}}],
    "529": [{"error": {"kind": "overloaded", "status": 529}}],
    "mid-stream error": [{"text": "a"}, {"error": {"kind": "overloaded", "retryable": True}}],
    "reset": [{"text": "a"}, {"reset": True}],
    "malformed": [{"text": "a"}, {"malformed": "{not json"}],
    "read stall": [{"text": "a"}, {"stall": True}],
}


def _play(chunks: list[Any], call: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, float]:
    """What `call` returned or raised against the scripted answer, and the virtual time taken."""
    scenario = parse_scenario({"input": "hi", "requests": [{"chunks": chunks}]})

    async def main() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with intercept(scenario):
            try:
                value: Any = await call()
            except Exception as exc:
                value = exc
        return value, loop.time() - start

    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        return runner.run(main())


async def _chat() -> list[Any]:
    client = openai.AsyncOpenAI(max_retries=0, **KEYS)
    messages: Any = [{"role": "user", "content": "hi"}]
    stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
    return [chunk async for chunk in stream]


async def _responses() -> list[Any]:
    client = openai.AsyncOpenAI(max_retries=0, **KEYS)
    stream = await client.responses.create(model="m", input="hi", stream=True)
    return [event async for event in stream]


async def _anthropic() -> list[Any]:
    client = anthropic.AsyncAnthropic(max_retries=0, **KEYS)
    messages: Any = [{"role": "user", "content": "hi"}]
    stream = await client.messages.create(model="m", max_tokens=10, messages=messages, stream=True)
    return [event async for event in stream]


async def _gemini() -> list[Any]:
    options = genai_types.HttpOptions(timeout=600_000)  # google-genai has no default timeout
    client = genai.Client(api_key="agentsim-test", http_options=options)
    stream = await client.aio.models.generate_content_stream(
        model="gemini-2.0-flash", contents="hi"
    )
    return [piece async for piece in stream]


EXPECTED: dict[str, dict[str, Any]] = {
    "openai-chat": {
        "429": openai.RateLimitError,
        "500": openai.InternalServerError,
        "503": openai.InternalServerError,
        "529": openai.InternalServerError,
        "mid-stream error": openai.APIError,
        "reset": openai.APIConnectionError,
        "malformed": json.JSONDecodeError,
        "read stall": openai.APITimeoutError,
    },
    "anthropic": {
        "429": anthropic.RateLimitError,
        "500": anthropic.InternalServerError,
        "503": anthropic.ServiceUnavailableError,
        "529": anthropic.OverloadedError,
        "mid-stream error": anthropic.APIStatusError,
        "reset": httpx2.RemoteProtocolError,
        "malformed": json.JSONDecodeError,
        "read stall": httpx2.ReadTimeout,
    },
    "gemini": {
        "429": genai_errors.ClientError,
        "500": genai_errors.ServerError,
        "503": genai_errors.ServerError,
        "529": genai_errors.ServerError,
        "mid-stream error": genai_errors.ServerError,
        "reset": httpx2.RemoteProtocolError,
        "malformed": genai_errors.UnknownApiResponseError,
        "read stall": httpx2.ReadTimeout,
    },
}
CALLS = {"openai-chat": _chat, "anthropic": _anthropic, "gemini": _gemini}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("api", list(EXPECTED))
def test_each_fault_raises_the_sdks_documented_error(api: str, fault: str) -> None:
    wall = time.perf_counter()
    raised, took = _play(FAULTS[fault], CALLS[api])
    assert isinstance(raised, EXPECTED[api][fault]), raised
    if fault == "read stall":
        assert took == pytest.approx(600.0)  # the client's read timeout, on the virtual clock
    assert time.perf_counter() - wall < 5


@pytest.mark.parametrize("fault", ["429", "529", "reset", "malformed", "read stall"])
def test_the_responses_api_raises_too(fault: str) -> None:
    raised, _ = _play(FAULTS[fault], _responses)
    assert isinstance(raised, openai.APIError | json.JSONDecodeError), raised


def test_a_mid_stream_error_is_the_responses_apis_own_failed_event() -> None:
    events, _ = _play(FAULTS["mid-stream error"], _responses)
    assert not isinstance(events, Exception), events
    assert events[-1].type == "response.failed"  # the SDK yields it; the code must read it


def test_anthropics_overloaded_answer_is_its_529_overloaded_error_body() -> None:
    raised, _ = _play(FAULTS["529"], _anthropic)
    assert raised.status_code == 529
    assert raised.body["error"]["type"] == "overloaded_error"


def test_retry_after_is_obeyed_by_the_sdks_own_retry_on_virtual_time() -> None:
    async def retried() -> list[Any]:
        client = openai.AsyncOpenAI(max_retries=2, **KEYS)
        messages: Any = [{"role": "user", "content": "hi"}]
        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        return [chunk async for chunk in stream]

    scenario = {"input": "hi", "requests": [{"chunks": FAULTS["429"]}, {"chunks": OK}]}
    wall = time.perf_counter()

    async def main() -> tuple[list[Any], float, Any]:
        loop = asyncio.get_running_loop()
        with intercept(parse_scenario(scenario)) as seen:
            chunks = await retried()
        return chunks, loop.time(), seen

    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        start = runner.get_loop().time()
        chunks, end, seen = runner.run(main())
    assert end - start == pytest.approx(30.0)  # Retry-After: 30, slept on the virtual clock
    assert time.perf_counter() - wall < 5
    assert len(seen.calls) == 2
    assert seen.playback is not None
    assert seen.playback.passed
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fine"


def test_the_retry_after_header_is_sent() -> None:
    scenario = parse_scenario({"input": "hi", "requests": [{"chunks": FAULTS["429"]}]})

    async def main() -> Any:
        with intercept(scenario):
            async with httpx2.AsyncClient() as http:
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
                return await http.post("https://api.openai.com/v1/chat/completions", json=body)

    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        response = runner.run(main())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["type"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("item", "kind"), [({"reset": True}, "server"), ({"malformed": "{oops"}, "other")]
)
def test_a_scripted_provider_raises_a_provider_error_for_wire_only_faults(
    item: dict[str, Any], kind: str
) -> None:
    scenario = parse_scenario({"input": "hi", "requests": [{"chunks": [{"text": "a"}, item]}]})
    provider = ScriptedProvider(scenario.requests)

    got: list[Any] = []

    async def main() -> None:
        async for chunk in provider.stream(ProviderRequest(1, 1, (), ())):
            got.append(chunk)

    with (
        asyncio.Runner(loop_factory=VirtualEventLoop) as runner,
        pytest.raises(ProviderError) as raised,
    ):
        runner.run(main())
    assert raised.value.kind == kind
    assert not raised.value.retryable
    assert len(got) == 1
    assert provider.streams[0].error == (kind, False)


@pytest.mark.parametrize("fault", ["reset", "malformed", "429"])
def test_the_reference_loop_passes_every_check_on_wire_faults(fault: str) -> None:
    data = {"input": "hi", "requests": [{"chunks": FAULTS[fault]}, {"chunks": OK}]}
    result = run_guarded(data)
    assert result.violations == (), result.report()


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([{"error": {"kind": "rate_limit", "retry_after": 3}}], "give `status`"),
        ([{"reset": True}, {"text": "a"}], "`reset` ends the stream"),
        ([{"malformed": "x"}, {"finish": "stop"}], "`malformed` ends the stream"),
    ],
)
def test_bad_fault_items_are_input_errors(chunks: list[Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_scenario({"input": "hi", "requests": [{"chunks": chunks}]})
