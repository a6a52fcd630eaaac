"""The recording proxy in front of `agentsim serve` (all on loopback): the cassette it writes
replays to the very chunks the server sent, with the pieces' timing, and never holds a secret."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agentsim import ProviderRequest, parse_scenario
from agentsim.cassettes import CassetteProvider, load_cassette
from agentsim.cassettes._provider import decoded_chunks
from agentsim.serve._recorder import RecordingProxy
from agentsim.serve._server import ScenarioServer
from agentsim.wire import decoder_for

from ._sdk_conversations import CONVERSATIONS, EXPECTED, SCENARIO_DATA

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")

SECRETS = (
    "sk-test",
    "sk-ant-test",
    "gemini-test-key",
    "azure-secret",
    "cookie-secret",
    "qs-secret",
)


def recording_scenario() -> Any:
    raw = {"chunks": [{"text": "raw"}, {"finish": "stop"}]}
    return parse_scenario({**SCENARIO_DATA, "requests": SCENARIO_DATA["requests"] * 4 + [raw]})


def test_the_proxy_records_what_the_server_sent_and_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "recorded.yaml"

    async def main() -> tuple[ScenarioServer, RecordingProxy]:
        async with (
            ScenarioServer(recording_scenario(), speed=10) as server,
            RecordingProxy(server.url, out) as proxy,
            httpx2.AsyncClient(timeout=10) as http,
        ):
            for converse in CONVERSATIONS.values():
                assert await converse(proxy.url, http, stream=True) == EXPECTED
            query = "?key=qs-secret&api_key=qs-secret&access_token=qs-secret&alt=1"
            response = await http.post(
                proxy.url + "/v1/chat/completions" + query,
                json={"model": "m", "messages": [], "stream": True},
                headers={"api-key": "azure-secret", "cookie": "session=cookie-secret"},
            )
            assert response.status_code == 200
        return server, proxy

    server, proxy = asyncio.run(main())
    assert server.playback.passed, server.playback.report()
    text = out.read_text()
    assert [secret for secret in SECRETS if secret in text] == []
    assert text.count("REDACTED") >= 12
    assert [p.name for p in tmp_path.iterdir()] == ["recorded.yaml"]  # atomic: no leftovers

    cassette = load_cassette(out)
    assert len(cassette.interactions) == 9
    assert [x.api for x in cassette.interactions[:8:2]] == list(CONVERSATIONS)
    assert "alt=1" in cassette.interactions[8].uri
    for number, (recorded, sent) in enumerate(
        zip(cassette.interactions, proxy.interactions, strict=True)
    ):
        assert recorded.response_body == sent.response_body
        assert recorded.timing is not None
        assert len(recorded.timing) > 1
        offsets = [offset for offset, _ in recorded.timing]
        assert offsets == sorted(offsets)
        assert recorded.api is not None
        decoder = decoder_for(recorded.api)
        expected = decoder.feed(recorded.response_body) + decoder.close()
        assert decoded_chunks(recorded, number=number) == expected
    # The scripted delays (0.02 + 0.01 s, at speed 10) show in the recorded timing.
    first = cassette.interactions[0].timing
    assert first is not None
    assert first[-1][0] >= 0.003

    async def replay() -> list[list[Any]]:
        provider = CassetteProvider(cassette)
        request = ProviderRequest(1, 1, (), ())
        return [[c async for c in provider.stream(request)] for _ in cassette.interactions]

    replayed = asyncio.run(replay())
    for number, (chunks, recorded) in enumerate(zip(replayed, cassette.interactions, strict=True)):
        assert chunks == decoded_chunks(recorded, number=number)


def test_an_unreachable_upstream_gets_a_502_and_a_vanishing_client_a_partial_record(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(
        {"input": "hi", "requests": [{"chunks": [{"text": "a"}, {"text": "b", "delay": 30}]}]}
    )

    async def main() -> RecordingProxy:
        async with ScenarioServer(scenario) as server:
            dead = RecordingProxy("http://127.0.0.1:9", tmp_path / "dead.yaml")
            async with dead, httpx2.AsyncClient(timeout=10) as http:
                response = await http.post(dead.url + "/v1/messages", json={})
                assert response.status_code == 502
                assert response.json()["error"]["type"] == "api_error"
            assert dead.interactions == []
            async with RecordingProxy(server.url, tmp_path / "partial.yaml") as proxy:
                async with httpx2.AsyncClient(timeout=10) as http:
                    body = {"model": "m", "messages": [], "stream": True}
                    url = proxy.url + "/v1/chat/completions"
                    async with http.stream("POST", url, json=body) as answer:
                        async for _ in answer.aiter_bytes():
                            break
                await asyncio.sleep(0.1)
        return proxy

    proxy = asyncio.run(main())
    [partial] = load_cassette(tmp_path / "partial.yaml").interactions
    assert partial.status == 200
    assert b'"content":"a"' in partial.response_body
    assert b'"content":"b"' not in partial.response_body
    assert proxy.interactions[0].response_body == partial.response_body
