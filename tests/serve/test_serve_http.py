"""`agentsim serve` over real loopback HTTP: bad input gets each API's error shape, scripted errors,
stalls and truncations reach the SDKs as the real APIs' would, and nothing stops the server from
serving the next request (malformed HTTP, clients that vanish mid-stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentsim import ErrorChunk, Scenario, TextChunk, parse_scenario
from agentsim.serve._server import ScenarioServer, serve_scenario
from agentsim.wire import decoder_for
from agentsim.wire._gemini import GeminiArrayDecoder

httpx2 = pytest.importorskip("httpx2")
openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
genai = pytest.importorskip("google.genai")

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
PATHS = {
    "openai-chat": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/m:streamGenerateContent?alt=sse",
}
BODIES: dict[str, dict[str, Any]] = {
    "openai-chat": {**CHAT, "stream": True},
    "openai-responses": {"model": "m", "input": "hi", "stream": True},
    "anthropic": {**CHAT, "max_tokens": 5, "stream": True},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


def one_request(*chunks: dict[str, Any]) -> Scenario:
    return parse_scenario({"input": "hi", "requests": [{"chunks": list(chunks)}]})


TEXT = one_request({"text": "Hello"}, {"finish": "stop"})


@pytest.fixture
def server() -> Iterator[ScenarioServer]:
    with serve_scenario(TEXT, models=["m"]) as running:
        yield running


def post(server: ScenarioServer, path: str, body: bytes | dict[str, Any]) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx2.post(server.url + path, content=content, timeout=10)


def error_of(api: str, response: Any) -> ErrorChunk:
    decoder = decoder_for(api, status=response.status_code)  # type: ignore[arg-type]
    chunks = decoder.feed(response.content) + decoder.close()
    assert len(chunks) == 1
    assert isinstance(chunks[0], ErrorChunk)
    return chunks[0]


@pytest.mark.parametrize("api", list(PATHS))
def test_bad_requests_get_the_apis_error_shape_and_the_server_goes_on(
    server: ScenarioServer, api: str
) -> None:
    path = PATHS[api]
    cases: list[tuple[bytes | dict[str, Any], int]] = [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        ({k: v for k, v in BODIES[api].items() if k not in ("messages", "input", "contents")}, 400),
    ]
    for body, status in cases:
        response = post(server, path, body)
        assert response.status_code == status, response.text
        assert error_of(api, response).kind == "invalid_request"
    if api != "gemini":
        wrong_model = post(server, path, {**BODIES[api], "model": "gpt-unknown"})
    else:
        wrong_model = post(server, path.replace("/m:", "/other:"), BODIES[api])
    assert wrong_model.status_code == 404
    assert "does not exist" in error_of(api, wrong_model).message
    wrong_method = httpx2.get(server.url + path, timeout=10)
    assert wrong_method.status_code == 405
    assert post(server, path, BODIES[api]).status_code == 200  # the script is still untouched
    assert server.playback.passed, server.playback.report()
    assert len(server.playback.rejections) == 5


def test_wrong_paths_get_a_404_in_the_shape_their_prefix_suggests(server: ScenarioServer) -> None:
    for path, api in [
        ("/v1/chat/completion", "openai-chat"),
        ("/v1/messages/count_tokens", "anthropic"),
        ("/v1beta/models/m:countTokens", "gemini"),
        ("/", "openai-chat"),
    ]:
        response = post(server, path, BODIES["openai-chat"])
        assert response.status_code == 404
        assert error_of(api, response).kind == "invalid_request"


def test_the_sdks_raise_their_own_errors_for_unknown_models_and_requests_beyond_the_script(
    server: ScenarioServer,
) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="gpt-x"):
        client.chat.completions.create(model="gpt-x", messages=CHAT["messages"])
    assert client.chat.completions.create(**CHAT).choices[0].message.content == "Hello"
    with pytest.raises(openai.BadRequestError, match="beyond the scenario's requests"):
        client.chat.completions.create(**CHAT)
    assert not server.playback.passed
    assert "request 2 (step 1, attempt 2) is beyond" in server.playback.report()
    claude = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="claude-x", max_tokens=5, messages=CHAT["messages"])
    options = genai.types.HttpOptions(base_url=server.url)
    gemini = genai.Client(api_key="k", http_options=options)
    with pytest.raises(genai.errors.ClientError) as raised:
        gemini.models.generate_content(model="gemini-x", contents="hi")
    assert raised.value.code == 404


def test_malformed_http_gets_a_400_and_the_next_connection_is_served(
    server: ScenarioServer,
) -> None:
    async def raw(data: bytes) -> bytes:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(data)
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer

    assert asyncio.run(raw(b"NOT HTTP AT ALL\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    cut_short = asyncio.run(raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"))
    assert cut_short.startswith(b"HTTP/1.1 400 ")
    assert post(server, PATHS["openai-chat"], BODIES["openai-chat"]).status_code == 200


STALLED = parse_scenario(
    {
        "input": "hi",
        "requests": [
            {"chunks": [{"text": "Hel"}, {"stall": True}]},
            {"chunks": [{"text": "lo", "delay": 30}, {"finish": "stop"}]},
            {"chunks": [{"text": "Bye"}, {"finish": "stop"}]},
        ],
    }
)


async def drain(stream: Any) -> None:
    async with stream as response:
        async for _ in response.aiter_bytes():
            pass


def test_clients_that_leave_mid_stream_or_time_out_do_not_disturb_the_server() -> None:
    async def main() -> None:
        async with ScenarioServer(STALLED) as server:
            url = server.url + PATHS["openai-chat"]
            async with httpx2.AsyncClient() as http:
                # 1: stalls after "Hel"; the client's read timeout ends it.
                with pytest.raises(httpx2.ReadTimeout):
                    await drain(http.stream("POST", url, json=BODIES["openai-chat"], timeout=0.3))
                # 2: the client reads the first event and disconnects during a 30 s delay.
                async with http.stream("POST", url, json=BODIES["openai-chat"]) as response:
                    async for piece in response.aiter_bytes():
                        assert b"role" in piece
                        break
            async with httpx2.AsyncClient() as http:
                started = asyncio.get_running_loop().time()
                response = await http.post(url, json=CHAT, timeout=10)
                assert response.json()["choices"][0]["message"]["content"] == "Bye"
                assert asyncio.get_running_loop().time() - started < 5
            for _ in range(200):  # every connection is closed and forgotten (within 2 s)
                if not server._http._tasks:
                    break
                await asyncio.sleep(0.01)
            assert not server._http._tasks
            assert server.playback.passed, server.playback.report()

    asyncio.run(main())


def test_a_scripted_http_error_reaches_each_sdk_as_that_apis_error() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [
                {
                    "chunks": [
                        {"error": {"kind": "rate_limit", "message": "slow down", "status": 429}}
                    ]
                }
            ]
            * 4,
        }
    )
    with serve_scenario(scenario) as server:
        client = openai.OpenAI(api_key="k", base_url=server.url + "/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError, match="slow down"):
            client.chat.completions.create(**CHAT, stream=True)
        with pytest.raises(openai.RateLimitError, match="slow down"):
            client.responses.create(model="m", input="hi")
        claude = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        with pytest.raises(anthropic.RateLimitError, match="slow down"):
            claude.messages.create(model="m", max_tokens=5, messages=CHAT["messages"])
        options = genai.types.HttpOptions(base_url=server.url)
        gemini = genai.Client(api_key="k", http_options=options)
        with pytest.raises(genai.errors.ClientError, match="slow down") as raised:
            list(gemini.models.generate_content_stream(model="m", contents="hi"))
        assert raised.value.code == 429
        assert server.playback.passed, server.playback.report()


def test_in_stream_errors_and_truncated_whole_answers() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [
                {"chunks": [{"text": "Hel"}, {"error": {"kind": "overloaded", "message": "busy"}}]},
                {"chunks": [{"text": "Hel"}, {"truncate": True}]},
            ],
        }
    )
    with serve_scenario(scenario) as server:
        claude = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        stream = claude.messages.stream(model="m", max_tokens=5, messages=CHAT["messages"])
        with pytest.raises(anthropic.APIStatusError, match="busy"), stream as events:
            events.get_final_message()
        with pytest.raises(httpx2.RemoteProtocolError):
            httpx2.post(server.url + PATHS["openai-chat"], json=CHAT, timeout=10)


def test_gemini_without_alt_sse_streams_a_json_array_of_the_same_responses() -> None:
    scenario = parse_scenario(
        {"input": "hi", "requests": [{"chunks": [{"text": "Hello there", "split": 4}]}] * 2}
    )
    path = "/v1beta/models/m:streamGenerateContent"
    chunks = {}
    with serve_scenario(scenario) as server:
        for query, decoder in [("?alt=sse", decoder_for("gemini")), ("", GeminiArrayDecoder())]:
            response = post(server, path + query, BODIES["gemini"])
            chunks[query] = decoder.feed(response.content) + decoder.close()
    assert chunks[""] == chunks["?alt=sse"]
    assert [c for c in chunks[""] if isinstance(c, TextChunk)] == [
        TextChunk("Hell"),
        TextChunk("o th"),
        TextChunk("ere"),
    ]


def test_request_checks_are_recorded_and_the_answer_still_sent() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [
                {
                    "expect": {"messages": 3, "last_role": "tool", "tools": ["lookup"]},
                    "chunks": [{"text": "ok"}, {"finish": "stop"}],
                }
            ],
        }
    )
    with serve_scenario(scenario) as server:
        assert post(server, PATHS["openai-chat"], CHAT).json()["choices"][0]["message"]["content"]
        problems = server.playback.problems
    assert problems == [
        "request 1: expected 3 messages, got 1",
        "request 1: expected the last message's role 'tool', got 'user'",
        "request 1: expected tools ['lookup'], got []",
    ]


def test_a_whole_answer_that_stalls_sends_nothing_until_the_client_gives_up() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [
                {"chunks": [{"text": "never"}, {"stall": True}]},
                {"chunks": [{"text": "ok"}, {"finish": "stop"}]},
            ],
        }
    )
    with serve_scenario(scenario) as server:
        url = server.url + PATHS["openai-chat"]
        with pytest.raises(httpx2.ReadTimeout):
            httpx2.post(url, json=CHAT, timeout=0.3)
        answer = httpx2.post(url, json=CHAT, timeout=10)
        assert answer.json()["choices"][0]["message"]["content"] == "ok"
