"""The recorder never leaks: every credential case issue #13 lists goes through a real proxy to a
loopback upstream, and no written file (nor what the command prints) holds any of them; usage
fields stay; a key-shaped string nothing names as a secret is refused, not written."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from agentsim.cassettes import SecretLeakError, SecretRules, load_cassette, write_cassette
from agentsim.cassettes._files import Interaction
from agentsim.cassettes._scrub import find_secret, is_credential_name
from agentsim.serve._http11 import Exchange, HttpRequest, HttpService
from agentsim.serve._recorder import RecordingProxy, display_url

httpx2 = pytest.importorskip("httpx2")

SSE = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,'
    b'"total_tokens":9}}\n\ndata: [DONE]\n\n'
)


class Upstream(HttpService):
    """Answers every request with a stream and token-carrying response headers; notes requests."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0)
        self.seen: list[HttpRequest] = []

    async def handle(self, request: HttpRequest, exchange: Exchange) -> None:
        self.seen.append(request)
        if request.target.startswith("/oauth"):
            body = json.dumps({"access_token": "SECRET-resp-json", "expires_in": 3600}).encode()
            await exchange.start(200, [("content-type", "application/json")])
            await exchange.send(body)
            await exchange.end()
            return
        await exchange.start(
            200,
            [
                ("content-type", "text/event-stream"),
                ("set-cookie", "sid=SECRET-set-cookie"),
                ("x-session-token", "SECRET-resp-session"),
                ("x-amzn-security-token", "SECRET-resp-amz"),
                ("openai-organization", "SECRET-resp-org"),
                ("x-ratelimit-remaining-tokens", "4000"),
            ],
        )
        await exchange.send(SSE[:40])
        await exchange.send(SSE[40:])
        await exchange.end()


REQUEST_HEADERS = {
    "authorization": "Bearer SECRET-authorization",
    "X-Auth-Token": "SECRET-x-auth-token",
    "Ocp-Apim-Subscription-Key": "SECRET-apim",
    "x-amz-security-token": "SECRET-amz",
    "anthropic-api-key": "SECRET-anthropic",
    "x-api-key": "SECRET-x-api-key",
    "OpenAI-Organization": "SECRET-org",
    "OpenAI-Project": "SECRET-project",
    "cookie": "session=SECRET-cookie",
    "x-custom-thing": "SECRET-user-rule",
}
QUERY = (
    "?client_secret=SECRET-q-client&access_key=SECRET-q-access&sig=SECRET-q-sig"
    "&auth=SECRET-q-auth&refresh_token=SECRET-q-refresh&key=SECRET-q-key&alt=sse"
)
BODY: dict[str, Any] = {
    "model": "m",
    "stream": True,
    "max_tokens": 100,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "hi"}],
    "metadata": {
        "api_key": "SECRET-json-api-key",
        "user": {"clientSecret": "SECRET-json-camel", "password": "SECRET-json-password"},
        "credentials": ["SECRET-json-list"],
    },
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "login",
                "parameters": {"type": "object", "properties": {"password": {"type": "string"}}},
            },
        }
    ],
}


def test_no_listed_secret_reaches_any_written_file(tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    rules = SecretRules(scrub=(r"x-custom-.*",))

    async def main() -> Upstream:
        async with Upstream() as upstream:
            host = upstream.url.removeprefix("http://")
            with_password = f"http://alice:SECRET-userinfo@{host}"
            proxy = RecordingProxy(with_password, out, rules=rules)
            assert "SECRET" not in proxy.upstream
            async with proxy, httpx2.AsyncClient(timeout=10) as http:
                url = proxy.url + "/v1/chat/completions" + QUERY
                answer = await http.post(url, json=BODY, headers=REQUEST_HEADERS)
                assert answer.status_code == 200
                assert answer.content == SSE
                token = await http.post(proxy.url + "/oauth/token", data={"grant_type": "x"})
                assert token.json()["access_token"] == "SECRET-resp-json"
        return upstream

    upstream = asyncio.run(main())
    # User info is sent as Basic auth (only where the client sent no Authorization), never
    # in the Host header.
    hosts = [dict(r.headers)["host"] for r in upstream.seen]
    assert all("SECRET" not in h and "@" not in h for h in hosts)
    basic = dict(upstream.seen[1].headers)["authorization"]
    assert basic.startswith("Basic ")
    assert dict(upstream.seen[0].headers)["authorization"] == "Bearer SECRET-authorization"

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [out]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert "SECRET" not in text, [line for line in text.splitlines() if "SECRET" in line]
    # What must stay stays: usage, limits, tool parameter names, the stream itself.
    cassette = load_cassette(out)
    first = cassette.interactions[0]
    request = first.request_json()
    assert request["max_tokens"] == 100
    assert request["stream_options"] == {"include_usage": True}
    assert request["metadata"]["api_key"] == "REDACTED"
    assert "password" in request["tools"][0]["function"]["parameters"]["properties"]
    assert first.response_body == SSE
    assert first.timing is not None  # nothing in the stream needed scrubbing
    assert first.response_headers["x-ratelimit-remaining-tokens"] == ["4000"]
    assert "alt=sse" in first.uri
    assert first.uri.startswith("http://127.0.0.1:")


def test_the_command_never_prints_the_upstream_password() -> None:
    assert (
        display_url("https://u:SECRET-pw@api.example.com/v1") == "https://u:***@api.example.com/v1"
    )
    with pytest.raises(ValueError, match="http:// or https://") as error:
        RecordingProxy("ftp://u:SECRET-pw@host", "x.yaml")
    assert "SECRET" not in str(error.value)


@pytest.mark.parametrize(
    "name",
    [
        "X-Auth-Token",
        "Ocp-Apim-Subscription-Key",
        "x-amz-security-token",
        "anthropic-api-key",
        "apiKey",
        "api_key",
        "client_secret",
        "access_key",
        "sig",
        "auth",
        "refresh_token",
        "password",
        "set-cookie",
        "sessionToken",
        "x-goog-api-key",
        "privateKey",
        "accesstoken",
    ],
)
def test_names_that_look_like_credentials_are_scrubbed(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "max_output_tokens",
        "prompt_tokens",
        "input_tokens",
        "promptTokenCount",
        "totalTokenCount",
        "thoughtsTokenCount",
        "cache_creation_input_tokens",
        "prompt_tokens_details",
        "budget_tokens",
        "x-ratelimit-remaining-tokens",
        "thoughtSignature",
        "content-type",
        "x-goog-api-client",
        "user-agent",
        "stream_options",
        "author",
        "monkey",
    ],
)
def test_usage_and_ordinary_names_stay(name: str) -> None:
    assert not is_credential_name(name)


def test_json_scrubbing_keeps_numbers_and_model_blobs() -> None:
    rules = SecretRules(keep=("session_id",))
    data = {
        "usage": {"input_tokens": 3, "output_tokens": 5},
        "token": 12,  # a number is never a secret
        "session_id": "kept-by-rule",
        "content": [{"type": "thinking", "thinking": "hm", "signature": "EqQBblob"}],
        "logprobs": {"content": [{"token": "Hi", "logprob": -0.1}]},
        "auth": {"nested": ["a", {"deeper": "b"}], "n": 1},
    }
    scrubbed = rules.json(data)
    assert scrubbed["usage"] == data["usage"]
    assert scrubbed["token"] == 12
    assert scrubbed["session_id"] == "kept-by-rule"
    assert scrubbed["content"] == data["content"]
    assert scrubbed["logprobs"] == data["logprobs"]
    assert scrubbed["auth"] == {"nested": ["REDACTED", {"deeper": "REDACTED"}], "n": 1}


def test_a_key_shape_nothing_named_is_refused_not_written(tmp_path: Path) -> None:
    leaky = Interaction(
        method="POST",
        uri="https://api.example.com/v1/chat/completions",
        request_body=b'{"messages":[{"role":"user","content":"use sk-proj-abcdefghijklmnop1234"}]}',
    )
    out = tmp_path / "leak.yaml"
    with pytest.raises(SecretLeakError) as error:
        write_cassette(out, [leaky])
    assert "OpenAI-style key" in str(error.value)
    assert "abcdefghijklmnop" not in str(error.value)
    assert not out.exists()
    for text, shape in [
        ("x-goog: AIzaSyA1234567890abcdefghijklmnopqrstu", "Google"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwx", "Anthropic"),
        ("Authorization: bearer abcdefghijklmnop.qrs", "bearer"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "JWT"),
        ("AKIAIOSFODNN7EXAMPLE", "AWS"),
    ]:
        found = find_secret(text)
        assert found is not None, text
        assert shape in found[0], text
    for harmless in ("task-1234567890abcdefghij", "Bearer REDACTED", "sk-short", "risk-free"):
        assert find_secret(harmless) is None, harmless


def test_the_proxy_drops_an_exchange_holding_a_key_shape(tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"

    async def main() -> RecordingProxy:
        async with (
            Upstream() as upstream,
            RecordingProxy(upstream.url, out) as proxy,
            httpx2.AsyncClient(timeout=10) as http,
        ):
            body = {"stream": True, "messages": [{"content": "sk-abcdefghijklmnopqrstuv"}]}
            await http.post(proxy.url + "/v1/chat/completions", json=body)
            await http.post(proxy.url + "/v1/chat/completions", json=BODY)
        return proxy

    proxy = asyncio.run(main())
    assert len(load_cassette(out).interactions) == 1
    assert "sk-abc" not in out.read_text()
    [problem] = proxy.problems
    assert "not recorded" in problem
    assert "sk-abc" not in problem
