"""Cassettes: loading every layout safely, replaying with chunk timing, converting to scenarios.

The project's own cassettes (`cassettes/`, written by `cassettes/make_cassettes.py`) cover every
provider API without `../shared`; the recorded corpus (`../shared/corpus`) is the ground truth
for the layouts real tools write, and its tests skip when it is absent.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agentsim import (
    Chunk,
    ErrorChunk,
    FinishChunk,
    InputError,
    ProviderError,
    ProviderRequest,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    ToolCallStarted,
    UserMessage,
    parse_scenario,
    run_scenario,
    run_virtual,
)
from agentsim.cassettes._convert import (
    NO_RESULT,
    cassette_to_scenario,
    replay_cassette,
    scenario_yaml,
)
from agentsim.cassettes._files import Cassette, Interaction, load_cassette
from agentsim.cassettes._provider import (
    CHUNKINGS,
    CassetteProvider,
    Chunking,
    decoded_chunks,
    split_body,
    stream_items,
)
from agentsim.cassettes._runs import split_runs
from agentsim.cassettes._scrub import is_credential_name
from agentsim.cassettes._writing import write_cassette
from agentsim.cli._main import main
from agentsim.scenario._script import Delay
from agentsim.wire._base import API_NAMES, ApiName
from agentsim.wire._registry import decoder_for, encode_stream

ROOT = Path(__file__).resolve().parents[2]
OWN = sorted((ROOT / "cassettes").glob("*.yaml"))
OWN_INTERACTIONS = [x for path in OWN for x in load_cassette(path).interactions]
CORPUS = Path(os.environ.get("AGENTSIM_CORPUS") or ROOT.parent / "shared" / "corpus")
CORPUS_FILES = sorted(CORPUS.rglob("*.yaml")) if CORPUS.is_dir() else []
NO_CORPUS = f"recorded corpus not found at {CORPUS} (see ../shared/corpus/README.md)"
URI: dict[ApiName, str] = {
    "openai-chat": "https://api.example.com/v1/chat/completions",
    "openai-responses": "https://api.example.com/v1/responses",
    "anthropic": "https://api.example.com/v1/messages",
    "gemini": "https://example.com/v1beta/models/m:streamGenerateContent?alt=sse",
}


def chunks_of(interaction: Interaction, chunking: Chunking = "whole", seed: int = 0) -> list[Chunk]:
    items = stream_items(interaction, chunking=chunking, seed=seed)
    return [item for item in items if not isinstance(item, Delay)]


def stream(
    api: ApiName,
    chunks: Sequence[Chunk],
    *,
    request: dict[str, Any] | None = None,
) -> Interaction:
    body = encode_stream(api, chunks)
    return Interaction(
        method="POST",
        uri=URI[api],
        request_body=json.dumps({"stream": True, **(request or {})}).encode(),
        response_headers={"content-type": ["text/event-stream"]},
        response_body=body,
    )


def answer(text: str) -> list[Chunk]:
    return [TextChunk(text), FinishChunk("stop")]


def call(call_id: str, name: str = "lookup", arguments: str = "{}") -> list[Chunk]:
    return [
        ToolCallStartChunk(0, call_id, name),
        ToolCallArgsChunk(0, arguments),
        ToolCallEndChunk(0),
        FinishChunk("tool_calls"),
    ]


def cassette(tmp_path: Path, *interactions: Interaction, name: str = "c.yaml") -> Cassette:
    write_cassette(tmp_path / name, interactions)
    return load_cassette(tmp_path / name)


# -- the project's own cassettes ------------------------------------------------------------------


def _make_cassettes() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_cassettes", ROOT / "cassettes" / "make_cassettes.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_cassette_per_api_and_they_are_what_the_script_writes(tmp_path: Path) -> None:
    assert [p.name for p in OWN] == sorted(f"{api}.yaml" for api in API_NAMES)
    assert _make_cassettes().main(tmp_path) == 0
    for path in OWN:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.stem)
def test_own_cassette_replays_and_converts(path: Path, tmp_path: Path) -> None:
    loaded = load_cassette(path)
    assert [x.api for x in loaded.interactions] == [path.stem, path.stem]
    assert all(x.streaming and x.timing for x in loaded.interactions)
    replayed = replay_cassette(loaded)
    assert replayed.violations == ()
    assert replayed.problems == ()
    assert replayed.passed
    assert replayed.outcome is not None
    assert replayed.outcome.type == "run_completed"
    assert replayed.outcome.t > 1.0  # the recorded timing was slept on the virtual clock

    data = cassette_to_scenario(loaded)
    assert data["tools"] == {
        "get_weather": {
            "description": "Current weather for a city.",  # as the recording offered it
            "result": _tool_result(path.stem),
        }
    }
    assert data["input"] == "What's the weather in Paris right now?"
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(scenario_yaml(data), encoding="utf-8")
    assert yaml.safe_load(scenario_file.read_text(encoding="utf-8")) == data
    run = run_scenario(scenario_file)
    assert run.passed, run.report()
    assert run.events == replayed.events
    assert run.history == replayed.history


def _tool_result(api: str) -> Any:
    result = "18 °C, light breeze, sunny"
    return {"result": result} if api == "gemini" else result


# -- the recorded corpus --------------------------------------------------------------------------


def test_corpus_replays_per_api() -> None:
    if not CORPUS_FILES:
        pytest.skip(NO_CORPUS)
    interactions: Counter[str] = Counter()
    cassettes: Counter[str] = Counter()
    for path in CORPUS_FILES:
        loaded = load_cassette(path)
        for api in {x.api for _, x in loaded.replayable}:
            cassettes[str(api)] += 1
        interactions.update(str(x.api) for _, x in loaded.replayable)
    print(
        f"corpus cassettes per API: {dict(cassettes)}; streaming interactions: {dict(interactions)}"
    )
    assert interactions["openai-chat"] >= 60
    assert interactions["openai-responses"] >= 30
    assert interactions["anthropic"] >= 40
    assert interactions["gemini"] >= 15


@pytest.mark.parametrize(
    "path",
    CORPUS_FILES or [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS))],
    ids=lambda p: str(p.relative_to(CORPUS)) if isinstance(p, Path) else "corpus",
)
def test_corpus_cassette_replays_with_invariants(path: Path) -> None:
    loaded = load_cassette(path)
    if not loaded.replayable:
        pytest.skip("no streaming provider interaction in this cassette (uploads, MCP only)")
    for run in split_runs(loaded):  # recorded errors are provider errors, never exceptions
        replayed = replay_cassette(run)
        assert replayed.violations == (), replayed.report()
        assert replayed.outcome is not None
        scenario = parse_scenario(cassette_to_scenario(run), file=str(path))
        assert run_scenario(scenario).events == replayed.events


def corpus_sample() -> list[Interaction]:
    """Streams with CRLF framing (Gemini), gzip bodies, UTF-8 text, tool calls."""
    if not CORPUS_FILES:
        return []
    wanted = (
        "test_google_model_iter_stream",
        "test_stream_events_tool_calls",
        "test_openai_responses_stream",
        "test_complex_agent_run_in_flow",
    )
    return [
        x for path in CORPUS_FILES if path.stem in wanted for _, x in load_cassette(path).replayable
    ]


# -- chunking policies ----------------------------------------------------------------------------


def test_chunking_policies_give_the_same_chunks() -> None:
    interactions = [x for path in OWN for x in load_cassette(path).interactions] + corpus_sample()
    for interaction in interactions:
        whole = chunks_of(interaction)
        assert whole
        for chunking in CHUNKINGS:
            assert chunks_of(interaction, chunking, seed=7) == whole, (interaction.uri, chunking)


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_random_chunking_gives_the_same_chunks(seed: int) -> None:
    for interaction in OWN_INTERACTIONS:
        assert chunks_of(interaction, "random", seed) == chunks_of(interaction)


def test_random_chunking_cuts_inside_characters_and_between_cr_and_lf() -> None:
    gemini = load_cassette(ROOT / "cassettes" / "gemini.yaml").interactions[1]
    body = gemini.response_body
    assert b"\r\n" in body
    assert "°".encode() in body
    inside_char = between_cr_lf = False
    for seed in range(5):
        pieces = [p for _, p in split_body(gemini, chunking="random", seed=seed, number=1)]
        assert b"".join(pieces) == body
        assert pieces == [p for _, p in split_body(gemini, chunking="random", seed=seed, number=1)]
        inside_char |= any(p[:1] and 0x80 <= p[0] < 0xC0 for p in pieces)
        between_cr_lf |= any(p.endswith(b"\r") for p in pieces)
    assert inside_char
    assert between_cr_lf


def test_recorded_timing_is_slept_and_other_policies_do_not_sleep() -> None:
    interaction = load_cassette(ROOT / "cassettes" / "anthropic.yaml").interactions[0]
    delays = [i.seconds for i in stream_items(interaction) if isinstance(i, Delay)]
    assert interaction.timing is not None
    assert interaction.timing[0][0] == 0.4
    assert interaction.timing[-1][0] == 0.883
    # message_start, content_block_start and ping (0.400-0.463) complete no chunk; the first
    # thinking delta arrives at 0.484. message_stop (0.862-0.883) comes after the finish: time
    # after the last chunk is not replayed.
    assert delays[0] == 0.484
    assert sum(delays) == pytest.approx(0.841, abs=1e-9)
    unslept: tuple[Chunking, ...] = ("whole", "events", "random")
    for chunking in unslept:
        assert not any(isinstance(i, Delay) for i in stream_items(interaction, chunking=chunking))


def test_chunking_changes_only_deltas_and_time_in_a_run() -> None:
    loaded = load_cassette(OWN[0])
    runs = [replay_cassette(loaded, chunking=c, seed=3) for c in CHUNKINGS]
    for run in runs:
        assert run.passed, run.report()
        assert run.history == runs[0].history
        assert [e.type for e in run.events] == [e.type for e in runs[0].events]


# -- reading and writing --------------------------------------------------------------------------


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.stem)
def test_write_read_round_trip_is_exact_and_deterministic(path: Path, tmp_path: Path) -> None:
    loaded = load_cassette(path)
    write_cassette(tmp_path / "a.yaml", loaded.interactions)
    write_cassette(tmp_path / "b.yaml", load_cassette(tmp_path / "a.yaml").interactions)
    assert load_cassette(tmp_path / "a.yaml").interactions == loaded.interactions
    assert (
        (tmp_path / "a.yaml").read_bytes()
        == (tmp_path / "b.yaml").read_bytes()
        == path.read_bytes()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]  # no temp files


def test_corpus_round_trip_decompresses_gzip(tmp_path: Path) -> None:
    if not CORPUS_FILES:
        pytest.skip(NO_CORPUS)
    gzipped = CORPUS / "llm-anthropic/tests/cassettes/test_anthropic/test_tools.yaml"
    loaded = load_cassette(gzipped)
    assert [x.response_body[:6] for x in loaded.interactions] == [b"event:", b"event:"]
    assert all(
        "content-encoding" not in {k.lower() for k in x.response_headers}
        for x in loaded.interactions
    )
    for interactions in (loaded.interactions, tuple(corpus_sample())):
        written = cassette(tmp_path, *interactions).interactions  # secrets redacted, once
        assert [x.response_body for x in written] == [x.response_body for x in interactions]
        assert [x.request_body for x in written] == [x.request_body for x in interactions]
        assert cassette(tmp_path, *written).interactions == written


def test_secrets_are_never_written(tmp_path: Path) -> None:
    secret = Interaction(
        method="POST",
        uri="https://example.com/v1beta/models/m:streamGenerateContent?alt=sse&key=AIzaSECRET",
        request_headers={"Authorization": ["Bearer sk-SECRET"], "x-api-key": ["SECRET"]},
        response_headers={"Set-Cookie": ["session=SECRET"], "Content-Type": ["text/event-stream"]},
    )
    loaded = cassette(tmp_path, secret).interactions[0]
    assert "SECRET" not in (tmp_path / "c.yaml").read_text(encoding="utf-8")
    assert loaded.uri.endswith("?alt=sse&key=REDACTED")
    assert loaded.request_headers == {"Authorization": ["REDACTED"], "x-api-key": ["REDACTED"]}
    assert loaded.response_headers["Content-Type"] == ["text/event-stream"]


text_or_bytes = st.one_of(st.text(), st.binary())


@given(
    bodies=st.lists(st.tuples(text_or_bytes, text_or_bytes), min_size=1, max_size=3),
    # A credential-like header name is scrubbed by rule, by design (hypothesis found "Passphrase").
    header=st.text(min_size=1).filter(lambda h: not is_credential_name(h, header=True)),
    offsets=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=4),
)
def test_round_trip_of_arbitrary_bodies(
    bodies: list[tuple[str | bytes, str | bytes]],
    header: str,
    offsets: list[float],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    interactions = []
    for request, response in bodies:
        raw = response.encode() if isinstance(response, str) else response
        if raw[:2] == b"\x1f\x8b":
            continue  # would be taken for gzip
        timing = None
        if len(raw) >= len(offsets):
            sizes = [1] * (len(offsets) - 1) + [len(raw) - len(offsets) + 1]
            timing = tuple(zip(sorted(offsets), sizes, strict=True))
        interactions.append(
            Interaction(
                method="POST",
                uri="https://example.com/x?q=1",
                request_headers={"X-Header": [header, header]},
                request_body=request.encode() if isinstance(request, str) else request,
                reason=header,
                response_headers={header: [header]},
                response_body=raw,
                timing=timing,
            )
        )
    directory = tmp_path_factory.mktemp("round-trip")
    assert cassette(directory, *interactions).interactions == tuple(interactions)


def test_vcrpy_replays_agentsims_cassettes() -> None:
    vcr = pytest.importorskip("vcr", reason="vcrpy is a test-only check of compatibility")
    path = ROOT / "cassettes" / "anthropic.yaml"
    with vcr.use_cassette(str(path), record_mode="none") as played:
        for x in load_cassette(path).interactions:
            request = urllib.request.Request(x.uri, data=x.request_body, method=x.method)
            with urllib.request.urlopen(request) as response:
                assert response.read() == x.response_body
        assert played.all_played


def test_reads_pydantic_ai_langchain_and_legacy_httpx_layouts(tmp_path: Path) -> None:
    body = encode_stream("openai-chat", answer("hé"))
    parsed = {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": URI["openai-chat"],
                    "parsed_body": {
                        "stream": True,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    "headers": {"Content-Type": "application/json"},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": body.decode()},
                },
            }
        ],
        "version": 1,
    }
    (tmp_path / "pydantic.yaml").write_text(yaml.safe_dump(parsed), encoding="utf-8")
    first = load_cassette(tmp_path / "pydantic.yaml").interactions[0]
    assert json.loads(first.request_body)["stream"] is True
    assert first.request_headers == {"Content-Type": ["application/json"]}
    assert first.replayable

    gz_body = gzip.compress(body, mtime=0)
    langchain = {
        "requests": [
            {"method": "POST", "uri": URI["openai-chat"], "body": '{"stream": true}', "headers": {}}
        ],
        "responses": [
            {
                "status": {"code": 200, "message": "OK"},
                "headers": {"Content-Encoding": ["gzip"]},
                "body": {"string": gz_body},
            }
        ],
    }
    (tmp_path / "langchain.yaml").write_bytes(gzip.compress(yaml.safe_dump(langchain).encode()))
    second = load_cassette(tmp_path / "langchain.yaml").interactions[0]
    assert second.response_body == body
    assert second.response_headers == {}

    legacy = {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": URI["openai-chat"],
                    "body": '{"stream": true}',
                    "headers": {},
                },
                "response": {
                    "status_code": 200,
                    "http_version": "HTTP/1.1",
                    "headers": {},
                    "content": body.decode(),
                },
            }
        ],
        "version": 1,
    }
    (tmp_path / "legacy.yaml").write_text(yaml.safe_dump(legacy), encoding="utf-8")
    third = load_cassette(tmp_path / "legacy.yaml").interactions[0]
    assert chunks_of(first) == chunks_of(second) == chunks_of(third) == answer("hé")


# -- bad input ------------------------------------------------------------------------------------


def _vcr(response: dict[str, Any] | None = None, **request: Any) -> dict[str, Any]:
    return {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": URI["anthropic"],
                    "body": None,
                    "headers": {},
                    **request,
                },
                "response": response
                if response is not None
                else {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": ""},
                },
            }
        ],
        "version": 1,
    }


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    del data["interactions"][0]["request"][key]
    return data


BAD: dict[str, tuple[bytes, str]] = {
    "garbage": (bytes(range(256)) * 4, "not UTF-8 text"),
    "not-yaml": (b"interactions: [\n  - {request: ", "invalid YAML"),
    "not-a-cassette": (b"- just\n- a list\n", "not a cassette"),
    "scenario": (b"input: hi\nrequests: []\n", "not a cassette"),
    "unsafe-tag": (
        b"interactions: !!python/object/apply:os.system [echo]\n",
        "unsupported YAML tag",
    ),
    "truncated-gzip-file": (gzip.compress(b"interactions: []\n")[:-6], "gzip"),
    "missing-uri": (
        yaml.safe_dump(_without(_vcr(), "uri")).encode(),
        "interactions[0].request: missing key `uri`",
    ),
    "missing-response": (
        b"interactions:\n- request: {method: GET, uri: 'http://x/'}\n",
        "interactions[0]: missing key `response`",
    ),
    "missing-status": (
        yaml.safe_dump(_vcr({"headers": {}, "body": {"string": ""}})).encode(),
        "interactions[0].response: missing key `status`",
    ),
    "missing-body": (
        yaml.safe_dump(_vcr({"status": {"code": 200}, "headers": {}})).encode(),
        "interactions[0].response: missing key `body`",
    ),
    "bad-status": (
        yaml.safe_dump(
            _vcr({"status": {"code": "OK"}, "headers": {}, "body": {"string": ""}})
        ).encode(),
        "interactions[0].response.status.code: expected an HTTP status code",
    ),
    "truncated-gzip-body": (
        yaml.safe_dump(
            _vcr(
                {
                    "status": {"code": 200},
                    "headers": {"Content-Encoding": ["gzip"]},
                    "body": {"string": gzip.compress(b"data: x\n\n")[:-4]},
                }
            )
        ).encode(),
        "interactions[0].response.body: gzip data is truncated",
    ),
    "bad-timing": (
        yaml.safe_dump(
            {
                **_vcr(),
                "interactions": [{**_vcr()["interactions"][0], "agentsim": {"chunks": [[0.5, 3]]}}],
            }
        ).encode(),
        "interactions[0].agentsim.chunks: the chunk sizes add up to 3 bytes but the response "
        "body has 0",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_clear_input_error(case: str, tmp_path: Path) -> None:
    content, expected = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "Traceback" not in message
    assert main(["inspect", str(path)]) == 2


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in items:
        found += _paths(child, (*at, key))
    return found


VALID = yaml.safe_load((ROOT / "cassettes" / "openai-chat.yaml").read_text(encoding="utf-8"))
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@given(where=st.sampled_from(_paths(VALID)[1:]), value=VALUES, delete=st.booleans())
def test_mutated_cassettes_load_or_raise_input_error(
    where: tuple[Any, ...], value: Any, delete: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = yaml.safe_load(yaml.safe_dump(VALID))
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    path = tmp_path_factory.mktemp("mutated") / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    error: InputError | None = None
    try:
        loaded = load_cassette(path)
    except InputError as exc:
        error = exc
    if error is not None:
        assert str(error).startswith(str(path))
        return
    for index, interaction in loaded.replayable:  # whatever loads also plays
        list(stream_items(interaction, chunking="random", number=index))


def test_invalid_utf8_in_a_stream_is_what_the_codec_decides(tmp_path: Path) -> None:
    inside_text = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a\xffb"},"finish_reason":"stop"}]}'
        b"\n\ndata: [DONE]\n\n"
    )
    outside_json = b"data: \xff{}\n\n"
    made = [
        replace(stream("openai-chat", answer("x")), response_body=inside_text),
        replace(stream("openai-chat", answer("x")), response_body=outside_json),
    ]
    assert chunks_of(made[0]) == [TextChunk("a\ufffdb"), FinishChunk("stop")]
    broken = chunks_of(made[1])
    assert len(broken) == 1
    assert isinstance(broken[0], ErrorChunk)
    assert broken[0].kind == "other"
    assert "not a valid stream" in broken[0].message
    with pytest.raises(InputError, match=r"interactions\[0\]\.response\.body\.string: .*not JSON"):
        replay_cassette(cassette(tmp_path, made[1]))  # a corrupt recording is bad input


# -- provider behaviour ---------------------------------------------------------------------------


def test_provider_is_strict_and_skips_what_it_cannot_play(tmp_path: Path) -> None:
    upload = Interaction(method="POST", uri="https://example.com/v1/files", response_body=b"{}")
    not_streaming = replace(upload, uri=URI["openai-chat"], request_body=b'{"stream": false}')
    loaded = cassette(tmp_path, upload, stream("anthropic", answer("one")), not_streaming)
    assert [i for i, _ in loaded.skipped] == [0, 2]
    provider = CassetteProvider(loaded)
    assert provider.unused() == [f"interactions[1] (POST {URI['anthropic']}) was never requested"]
    request = ProviderRequest(step=1, attempt=1, messages=(UserMessage("hi"),), tools=())

    async def consume() -> list[Chunk]:
        return [chunk async for chunk in provider.stream(request)]

    assert run_virtual(consume()) == decoded_chunks(loaded.interactions[1])
    assert provider.unused() == []
    with pytest.raises(ProviderError, match="beyond the cassette"):
        run_virtual(consume())
    assert provider.problems == [
        "request 2 (step 1, attempt 1) is beyond the cassette's streaming interactions, which has 1"
    ]
    with pytest.raises(InputError, match="unknown chunking"):
        CassetteProvider(loaded, chunking="bytes")  # type: ignore[arg-type]


def test_error_status_then_retry_and_tool_results_from_the_next_request(tmp_path: Path) -> None:
    overloaded = Interaction(
        method="POST",
        uri=URI["anthropic"],
        request_body=json.dumps(
            {
                "stream": True,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "look it up"}],
            }
        ).encode(),
        status=529,
        response_headers={"content-type": ["text/event-stream"]},
        response_body=b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    )
    result_request: dict[str, Any] = {
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "42"}],
                    }
                ],
            }
        ],
    }
    turn = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "o"}]}
    later_request = {  # the same conversation, one turn on (so the same run)
        **result_request,
        "messages": [*result_request["messages"], turn],
    }
    loaded = cassette(
        tmp_path,
        overloaded,
        stream("anthropic", call("toolu_1")),
        stream("anthropic", call("toolu_9", "other"), request=result_request),
        stream("anthropic", answer("done"), request=later_request),
    )
    data = cassette_to_scenario(loaded)
    assert data["tools"] == {"lookup": {"result": "42"}, "other": {"result": NO_RESULT}}
    assert data["system"] == "Be brief."
    assert data["input"] == "look it up"
    assert data["requests"][0]["chunks"] == [
        {"error": {"kind": "overloaded", "message": "Overloaded", "retryable": True, "status": 529}}
    ]
    # The requests above are trimmed to what this test is about (a real client would send the
    # user message and the tool call again): not compared with what the loop sends.
    replayed = replay_cassette(loaded, requests="off")
    assert replayed.passed, replayed.report()
    assert [e.type for e in replayed.events].count("retry_scheduled") == 1
    assert run_scenario(parse_scenario(data)).events == replayed.events


def test_made_up_gemini_call_ids_stay_unique_across_turns(tmp_path: Path) -> None:
    def no_id(name: str) -> bytes:
        part = {"functionCall": {"name": name, "args": {}}}
        event = {
            "candidates": [{"content": {"parts": [part], "role": "model"}, "finishReason": "STOP"}]
        }
        return b"data: " + json.dumps(event).encode() + b"\r\n\r\n"

    first, second = (
        replace(stream("gemini", answer("x")), response_body=no_id(name)) for name in ("a", "b")
    )
    loaded = cassette(tmp_path, first, second, stream("gemini", answer("done")))
    for x in (first, second):  # the decoder makes ids up per response
        made_up = decoder_for("gemini").feed(x.response_body)[0]
        assert isinstance(made_up, ToolCallStartChunk)
        assert made_up.call_id == "gemini_call_0"
    replayed = replay_cassette(loaded)
    assert replayed.violations == ()
    assert [e.call_id for e in replayed.events if isinstance(e, ToolCallStarted)] == [
        "gemini_call_0_0",
        "gemini_call_1_0",
    ]


def test_gemini_json_array_stream(tmp_path: Path) -> None:
    body = json.dumps(
        [
            {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}]},
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "lo"}], "role": "model"},
                        "finishReason": "STOP",
                    }
                ]
            },
        ],
        indent=1,
    ).encode()
    interaction = Interaction(
        method="POST",
        uri="https://example.com/v1beta/models/m:streamGenerateContent",
        response_headers={"Content-Type": ["application/json"]},
        response_body=body,
    )
    assert interaction.api == "gemini"
    assert interaction.streaming
    assert interaction.json_array
    for chunking in CHUNKINGS:
        assert chunks_of(interaction, chunking) == [
            TextChunk("Hel"),
            TextChunk("lo"),
            FinishChunk("stop"),
        ]


def test_request_beyond_a_recording_ending_in_a_tool_call_is_not_made(tmp_path: Path) -> None:
    replayed = replay_cassette(cassette(tmp_path, stream("openai-chat", call("c1"))))
    assert replayed.passed, replayed.report()  # the recording ends: max_steps, not a 2nd request
    assert replayed.outcome is not None
    assert replayed.outcome.type == "run_failed"
    assert replayed.outcome.kind == "max_steps"  # type: ignore[union-attr]


# -- command line ---------------------------------------------------------------------------------


def test_cli_replay_convert_run_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "cassettes" / "openai-responses.yaml")
    assert main(["replay", path]) == 0
    replayed = capsys.readouterr()
    assert "PASS" in replayed.err
    scenario = tmp_path / "scenario.yaml"
    assert main(["convert", path, "-o", str(scenario)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert main(["run", str(scenario)]) == 0
    assert capsys.readouterr().out == replayed.out  # same chunks, same timing, same events
    assert main(["replay", path, "--chunking", "random", "--seed", "5", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out.count("\n") > 20
    assert main(["inspect", path]) == 0
    listed = capsys.readouterr().out
    assert "interactions[1] POST https://api.openai.com/v1/responses" in listed
    assert "api: openai-responses  status: 200  streaming: yes" in listed
    assert '  0.505s  reasoning        text="The user wants current weather; "' in listed


def test_cli_replay_fails_when_the_cassette_is_not_consumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette(tmp_path, stream("anthropic", answer("one")), stream("anthropic", answer("two")))
    assert main(["replay", str(tmp_path / "c.yaml"), "--format", "table"]) == 1
    assert "interactions[1] (POST https://api.example.com/v1/messages) was never requested" in (
        capsys.readouterr().err
    )
    assert main(["replay", str(tmp_path / "missing.yaml")]) == 2
    assert main(["convert", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "no" / "s.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
