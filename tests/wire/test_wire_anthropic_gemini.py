"""Anthropic Messages and Gemini codecs: real recordings, round trips, fuzzing, official SDKs."""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsim.core._chunks import (
    ERROR_KINDS,
    FINISH_REASONS,
    Chunk,
    ErrorChunk,
    ErrorKind,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.core._usage import Usage
from agentsim.wire._anthropic import AnthropicDecoder, encode_anthropic, normalize_anthropic
from agentsim.wire._base import StreamDecoder, WireFormatError, error_body_decoder
from agentsim.wire._gemini import GeminiArrayDecoder, GeminiDecoder, _raw_start
from agentsim.wire._gemini_encode import encode_gemini, normalize_gemini

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
NO_CORPUS = f"recorded corpus not found at {CORPUS} (it lives in shared/, beside the project)"
Decode = Callable[[], StreamDecoder]


def decode(decoder: StreamDecoder, body: bytes, cuts: Sequence[int] = ()) -> list[Chunk]:
    """Feed `body` split at `cuts` (sorted offsets), then close."""
    out: list[Chunk] = []
    previous = 0
    for cut in cuts:
        out += decoder.feed(body[previous:cut])
        previous = cut
    out += decoder.feed(body[previous:])
    return out + decoder.close()


# -- the recorded corpus --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    cassette: str  # path relative to the corpus
    interaction: int
    api: str  # "anthropic" | "gemini"
    sse: bool  # Gemini: alt=sse (else the JSON-array body)
    status: int
    body: bytes

    def decoder(self) -> StreamDecoder:
        if self.status >= 400:
            return error_body_decoder(self.status)
        if self.api == "anthropic":
            return AnthropicDecoder()
        return GeminiDecoder() if self.sse else GeminiArrayDecoder()


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return ""


def _response_body(response: dict[str, Any]) -> bytes:
    """The response body as sent on the wire, whichever way the recorder stored it."""
    body = response.get("body") or {}
    if "parsed_body" in response or "parsed_body" in body:
        return json.dumps(response.get("parsed_body", body.get("parsed_body"))).encode()
    raw = body.get("string", b"")
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    gzipped = "gzip" in _header(response.get("headers") or {}, "content-encoding")
    if gzipped or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def _request_streams(request: dict[str, Any]) -> bool:
    body = request.get("parsed_body", request.get("body"))
    if isinstance(body, dict) and "parsed_body" in body:
        body = body["parsed_body"]
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    return isinstance(body, dict) and body.get("stream") is True


@cache
def recorded() -> tuple[Recorded, ...]:
    found: list[Recorded] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(CORPUS.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "/v1/messages" not in text and ":streamGenerateContent" not in text:
            continue
        cassette = yaml.load(text, Loader=loader)
        for number, interaction in enumerate(cassette.get("interactions") or ()):
            request, response = interaction["request"], interaction["response"]
            uri = str(request["uri"])
            content_type = _header(response.get("headers") or {}, "content-type")
            if "api.anthropic.com/v1/messages" in uri:
                if not (_request_streams(request) or "event-stream" in content_type):
                    continue
                api = "anthropic"
            elif ":streamGenerateContent" in uri:
                api = "gemini"
            else:
                continue
            found.append(
                Recorded(
                    str(path.relative_to(CORPUS)),
                    number,
                    api,
                    "alt=sse" in uri,
                    int(response["status"]["code"]),
                    _response_body(response),
                )
            )
    return tuple(found)


def _corpus_params() -> list[Any]:
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [pytest.param(r, id=f"{r.cassette}#{r.interaction}") for r in recorded()]


def _find(cassette: str, interaction: int = 0) -> Recorded:
    if not CORPUS.is_dir():
        pytest.skip(NO_CORPUS)
    for r in recorded():
        if r.cassette.endswith(cassette) and r.interaction == interaction:
            return r
    raise AssertionError(f"{cassette}#{interaction} is not in the corpus")


def test_corpus_has_enough_recordings() -> None:
    if not CORPUS.is_dir():
        pytest.skip(NO_CORPUS)
    counts = {api: sum(r.api == api for r in recorded()) for api in ("anthropic", "gemini")}
    assert counts["anthropic"] >= 40, counts
    assert counts["gemini"] >= 15, counts


@pytest.mark.parametrize("rec", _corpus_params())
def test_recorded_stream_decodes_the_same_however_split(rec: Recorded) -> None:
    whole = decode(rec.decoder(), rec.body)
    if rec.status >= 400:
        assert len(whole) == 1
        assert isinstance(whole[0], ErrorChunk)
        assert whole[0].status == rec.status
    else:
        assert whole
        assert isinstance(whole[-1], FinishChunk | ErrorChunk)
    rng = random.Random(f"{rec.cassette}#{rec.interaction}")
    size = len(rec.body)
    for pieces in (2, 7, 64):
        cuts = sorted(rng.sample(range(size + 1), min(pieces, size + 1)))
        assert decode(rec.decoder(), rec.body, cuts) == whole
    if size <= 4096:
        assert decode(rec.decoder(), rec.body, range(1, size)) == whole


# -- spot checks on chosen recordings -------------------------------------------------------------


def test_anthropic_tool_call_without_arguments_is_empty_object() -> None:
    rec = _find("llm-anthropic/tests/cassettes/test_anthropic/test_stream_events_tool_calls.yaml")
    assert rec.body.startswith(b"event: message_start")  # stored gzip-compressed
    assert decode(rec.decoder(), rec.body) == [
        ToolCallStartChunk(0, "toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator"),
        ToolCallArgsChunk(0, "{}"),
        ToolCallEndChunk(0),
        UsageChunk(Usage(543, 40, 0, 0)),
        FinishChunk("tool_calls"),
    ]


def test_anthropic_thinking_signature_text_and_usage() -> None:
    rec = _find("test_anthropic/test_stream_events_thinking.yaml")
    chunks = decode(rec.decoder(), rec.body)
    reasoning = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert "".join(c.text for c in reasoning).startswith("The user wants two names")
    assert [c.signature is not None for c in reasoning] == [False] * 5 + [True]
    assert reasoning[-1].text == ""
    assert str(reasoning[-1].signature).startswith("EuYDCmMIDBgCKkC05Zda4P")
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert text == (
        '1. **Pouch** - references their iconic bill pouch\n2. **Pelé** - playful take on "pelican"'
    )
    assert chunks[-2:] == [UsageChunk(Usage(46, 133, 0, 0)), FinishChunk("stop")]


def test_anthropic_streamed_arguments_after_server_side_blocks() -> None:
    rec = _find("test_tool_search/test_anthropic_native_tool_search_streaming.yaml")
    chunks = decode(rec.decoder(), rec.body)
    calls = [c for c in chunks if isinstance(c, ToolCallStartChunk)]
    assert calls == [ToolCallStartChunk(4, "toolu_01EFn5wTNBYA8Reni8rbmnHT", "get_exchange_rate")]
    args = "".join(c.delta for c in chunks if isinstance(c, ToolCallArgsChunk))
    assert json.loads(args) == {"from_currency": "USD", "to_currency": "EUR"}
    assert chunks[-3:] == [
        ToolCallEndChunk(4),
        UsageChunk(Usage(1591, 175, 0, 0)),
        FinishChunk("tool_calls"),
    ]


def test_anthropic_usage_counts_cache_and_thinking_tokens() -> None:
    rec = _find("test_anthropic/test_anthropic_compaction_usage_with_cache_streaming.yaml")
    assert decode(rec.decoder(), rec.body)[-2] == UsageChunk(Usage(181, 8, 0, 0))
    rec = _find(
        "test_anthropic/test_fixed_version_tool_chain_with_thinking_display_regression.yaml"
    )
    assert decode(rec.decoder(), rec.body)[-2] == UsageChunk(Usage(598, 92, 53, 0))


def test_gemini_function_call_gets_a_stable_id_and_tool_calls_finish() -> None:
    rec = _find("test_google/test_google_model_iter_stream.yaml")
    assert decode(rec.decoder(), rec.body) == [
        ToolCallStartChunk(0, "gemini_call_0", "get_capital"),
        ToolCallArgsChunk(0, '{"country":"France"}'),
        ToolCallEndChunk(0),
        UsageChunk(Usage(52, 5, 0, 0)),
        FinishChunk("tool_calls"),
    ]


def test_gemini_call_id_and_thought_signature() -> None:
    rec = _find("test_structured_output/test_native_output_with_function_tools_stream.yaml")
    chunks = decode(rec.decoder(), rec.body)
    assert isinstance(chunks[0], ReasoningChunk)
    assert chunks[0].text == ""
    assert str(chunks[0].signature).startswith("EpIDCo8DAQw51scL")
    assert chunks[1:] == [
        ToolCallStartChunk(0, "96c1su3s", "get_user_country"),
        ToolCallArgsChunk(0, "{}"),
        ToolCallEndChunk(0),
        UsageChunk(Usage(29, 81, 69, 0)),
        FinishChunk("tool_calls"),
    ]


def test_gemini_thoughts_and_last_usage() -> None:
    rec = _find("test_google/test_google_model_thinking_part_iter.yaml")
    chunks = decode(rec.decoder(), rec.body)
    reasoning = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert reasoning
    assert reasoning[0].text.startswith("**Clarifying User Goals**")
    # the signature rides on the first answer part: it comes first, as its own chunk
    assert [c.signature is not None for c in reasoning] == [False] * 4 + [True]
    assert reasoning[-1].text == ""
    assert isinstance(chunks[len(reasoning)], TextChunk)
    assert isinstance(chunks[-1], FinishChunk)
    assert chunks[-1].reason == "stop"
    rec = _find("test_google/test_google_model_iter_stream.yaml", 2)  # usage shrinks: last wins
    assert decode(rec.decoder(), rec.body)[-2:] == [
        UsageChunk(Usage(79, 12, 0, 0)),
        FinishChunk("stop"),
    ]


# -- in-stream errors and odd bodies --------------------------------------------------------------


def test_anthropic_error_event_is_an_error_chunk_and_ends_the_stream() -> None:
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b"event: ping\ndata: {}\n\n"
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}   \n\n'
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "Overloaded"}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"ignored"}}\n\n'
    )
    assert decode(AnthropicDecoder(), body) == [
        TextChunk("Hi"),
        ErrorChunk("overloaded", "Overloaded", True, 529),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"event: message_start\ndata: {not json\n\n",
        b'event: message_start\ndata: ["a list"]\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0}\n\n',
        b'data: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":5}}\n\n',
    ],
)
def test_anthropic_malformed_events_are_wire_format_errors(body: bytes) -> None:
    with pytest.raises(WireFormatError, match="anthropic, event 1"):
        decode(AnthropicDecoder(), body)


GEMINI_TEXT = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"}}]}\r\n\r\n'
)
GEMINI_RAW_ERROR = (
    b'{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded.",\n'
    b'    "status": "UNAVAILABLE"\n  }\n}\n'
)


@pytest.mark.parametrize("prefix", [b"", GEMINI_TEXT])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_gemini_raw_json_error_outside_sse(prefix: bytes, ending: bytes) -> None:
    body = prefix + GEMINI_RAW_ERROR.replace(b"\n", ending) + GEMINI_TEXT
    expected: list[Chunk] = [TextChunk("Hel")] if prefix else []
    expected.append(ErrorChunk("overloaded", "The model is overloaded.", True, 503))
    splits: list[Sequence[int]] = [[], range(1, len(body))]
    for cuts in splits:
        assert decode(GeminiDecoder(), body, cuts) == expected


@given(st.binary().map(lambda b: bytes(b"\r\n{[a"[x % 5] for x in b)))
def test_gemini_finds_the_first_line_that_starts_raw_json(data: bytes) -> None:
    found = re.search(rb"[\r\n][{\[]", data)
    assert _raw_start(data) == (-1 if found is None else found.start() + 1)


def test_gemini_error_inside_a_data_event_and_a_blocked_prompt() -> None:
    body = (
        b'data: {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}'
        b"\r\n\r\n"
    )
    assert decode(GeminiDecoder(), body) == [ErrorChunk("rate_limit", "Quota", True, 429)]
    body = (
        b'data: {"promptFeedback": {"blockReason": "SAFETY"}, '
        b'"usageMetadata": {"promptTokenCount": 3}}\r\n\r\n'
    )
    assert decode(GeminiDecoder(), body) == [
        UsageChunk(Usage(3, 0, 0, 0)),
        FinishChunk("content_filter"),
    ]


def test_gemini_array_body_decodes_like_the_sse_body() -> None:
    responses = [
        {"candidates": [{"content": {"parts": [{"text": "é"}], "role": "model"}}]},
        {
            "candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1},
        },
    ]
    body = ("[" + ",\r\n".join(json.dumps(r, indent=2) for r in responses) + "]").encode()
    expected = [
        TextChunk("é"),
        TextChunk("!"),
        UsageChunk(Usage(2, 1, 0, 0)),
        FinishChunk("length"),
    ]
    assert decode(GeminiArrayDecoder(), body) == expected
    assert decode(GeminiArrayDecoder(), body, range(1, len(body))) == expected
    sse = b"".join(b"data: " + json.dumps(r).encode() + b"\r\n\r\n" for r in responses)
    assert decode(GeminiDecoder(), sse) == expected


@pytest.mark.parametrize(
    "body", [b"{}", b'[{"a": 1} {"b": 2}]', b"[1]", b'[{"a": nul}]', b"[{}] x", b"[{}, ]"]
)
def test_gemini_array_rejects_what_is_not_an_array_of_objects(body: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode(GeminiArrayDecoder(), body)


def test_gemini_array_cut_short_yields_what_was_complete() -> None:
    body = b'[{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}, {"candidates": [{"cont'
    assert decode(GeminiArrayDecoder(), body) == [TextChunk("a")]


# -- round trips ----------------------------------------------------------------------------------

texts = st.text(max_size=12)
signatures = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
usages = st.builds(Usage, *[st.integers(0, 10**6)] * 4)  # input, output, reasoning, cached
errors = st.builds(
    ErrorChunk,
    st.sampled_from(ERROR_KINDS),
    texts,
    st.booleans(),
    st.none() | st.sampled_from([400, 401, 403, 404, 429, 500, 503, 504, 529]),
)


@st.composite
def responses(draw: st.DrawFn, call_ids: st.SearchStrategy[str] = texts) -> list[Chunk]:
    """A well-formed response: reasoning, text and calls in any order, then usage and an end."""
    chunks: list[Chunk] = []
    calls = 0
    for kind in draw(st.lists(st.sampled_from(["text", "reasoning", "call"]), max_size=6)):
        if kind == "text":
            chunks += [TextChunk(t) for t in draw(st.lists(texts, min_size=1, max_size=3))]
        elif kind == "reasoning":
            for text in draw(st.lists(texts, min_size=1, max_size=3)):
                chunks.append(ReasoningChunk(text, draw(st.none() | signatures)))
        else:
            args = json.dumps(
                draw(st.dictionaries(texts, json_values, max_size=3)), ensure_ascii=False
            )
            cuts = sorted(draw(st.lists(st.integers(0, len(args)), max_size=4)))
            pieces = [args[a:b] for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True)]
            if draw(st.booleans()):
                pieces = []  # no arguments at all: `{}`
            chunks.append(ToolCallStartChunk(calls, draw(call_ids), draw(texts)))
            chunks += [ToolCallArgsChunk(calls, p) for p in pieces]
            if draw(st.booleans()):
                chunks.append(ToolCallEndChunk(calls, draw(st.none() | st.none() | st.text())))
            calls += 1
    if draw(st.booleans()):
        chunks.append(UsageChunk(draw(usages)))
    end = draw(st.sampled_from(["finish", "finish", "error", "none"]))
    if end == "finish":
        chunks.append(FinishChunk(draw(st.sampled_from(FINISH_REASONS))))
    elif end == "error":
        chunks.append(draw(errors))
    return chunks


any_chunk = st.one_of(
    st.builds(TextChunk, texts),
    st.builds(ReasoningChunk, texts, st.none() | texts),
    st.builds(ToolCallStartChunk, st.integers(0, 3), texts, texts),
    st.builds(ToolCallArgsChunk, st.integers(0, 3), texts),
    st.builds(ToolCallEndChunk, st.integers(0, 3), st.none() | st.text(max_size=4)),
    st.builds(UsageChunk, usages),
    st.builds(FinishChunk, st.sampled_from(FINISH_REASONS)),
    errors,
)
CODECS: list[tuple[str, Callable[[Sequence[Chunk]], bytes], Callable[..., list[Chunk]], Decode]] = [
    ("anthropic", encode_anthropic, normalize_anthropic, AnthropicDecoder),
    ("gemini", encode_gemini, normalize_gemini, GeminiDecoder),
]


@pytest.mark.parametrize(("name", "encode", "normalize", "decoder"), CODECS)
@given(chunks=responses(), data=st.data())
def test_round_trip_and_split_independence(
    name: str,
    encode: Callable[[Sequence[Chunk]], bytes],
    normalize: Callable[..., list[Chunk]],
    decoder: Decode,
    chunks: list[Chunk],
    data: st.DataObject,
) -> None:
    body = encode(chunks)
    assert encode(chunks) == body  # deterministic
    expected = normalize(chunks)
    assert decode(decoder(), body) == expected
    assert normalize(expected) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    assert decode(decoder(), body, cuts) == expected


@given(chunks=st.lists(any_chunk, max_size=12), data=st.data())
def test_anthropic_round_trip_of_arbitrary_chunk_sequences(
    chunks: list[Chunk], data: st.DataObject
) -> None:
    body = encode_anthropic(chunks)
    expected = normalize_anthropic(chunks)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    assert decode(AnthropicDecoder(), body, cuts) == expected


@given(
    chunks=st.lists(any_chunk.filter(lambda c: not isinstance(c, ToolCallArgsChunk)), max_size=12)
)
def test_gemini_round_trip_of_arbitrary_chunk_sequences(chunks: list[Chunk]) -> None:
    assert decode(GeminiDecoder(), encode_gemini(chunks)) == normalize_gemini(chunks)


def _as_array(sse_body: bytes) -> bytes:
    """The non-SSE form of an encoded Gemini body: the same responses as one JSON array."""
    items: list[Any] = []
    for block in sse_body.split(b"\r\n\r\n"):
        if block.startswith(b"data: "):
            items.append(json.loads(block[6:]))
        elif block.strip():
            items.append(json.loads(block))  # the error written outside the framing
    return (
        "[" + ",\r\n".join(json.dumps(i, indent=2, ensure_ascii=False) for i in items) + "]"
    ).encode()


@given(chunks=responses(), data=st.data())
def test_gemini_array_round_trip(chunks: list[Chunk], data: st.DataObject) -> None:
    body = _as_array(encode_gemini(chunks))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    assert decode(GeminiArrayDecoder(), body, cuts) == normalize_gemini(chunks)


def test_encoders_write_the_documented_stream() -> None:
    chunks: list[Chunk] = [
        ReasoningChunk("hm"),
        ReasoningChunk("", "c2ln"),
        TextChunk("Hi"),
        ToolCallStartChunk(0, "call_1", "f"),
        ToolCallArgsChunk(0, '{"a":'),
        ToolCallArgsChunk(0, "1}"),
        UsageChunk(Usage(10, 5, 2, 4)),
        FinishChunk("tool_calls"),
    ]
    body = encode_anthropic(chunks).decode()
    assert body.startswith(
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_agentsim_'
    )
    assert '"model":"agentsim-model"' in body
    assert '"delta":{"type":"input_json_delta","partial_json":""}' in body
    assert '"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}' in body
    assert '"stop_reason":"tool_use"' in body
    assert (
        '"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,'
        in body
    )
    assert body.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')
    events = encode_gemini(chunks).split(b"\r\n\r\n")
    assert events[-1] == b""
    last = json.loads(events[-2].removeprefix(b"data: "))
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "totalTokenCount": 15,
        "thoughtsTokenCount": 2,
        "cachedContentTokenCount": 4,
    }
    assert last["modelVersion"] == "agentsim-model"
    call = json.loads(events[2].removeprefix(b"data: "))["candidates"][0]["content"]["parts"][0]
    assert call == {"functionCall": {"name": "f", "args": {"a": 1}, "id": "call_1"}}
    with pytest.raises(ValueError, match="JSON object"):
        encode_gemini([ToolCallStartChunk(0, "c", "f"), ToolCallArgsChunk(0, "[1]")])


# -- nothing but WireFormatError escapes ----------------------------------------------------------

DECODERS: list[Decode] = [AnthropicDecoder, GeminiDecoder, GeminiArrayDecoder]
FRAGMENTS = [
    b"event: ",
    b"data: ",
    b"\n",
    b"\r\n",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b'"',
    b"error",
    b"content_block_start",
    b"content_block_delta",
    b"content_block_stop",
    b"message_start",
    b"message_delta",
    b"message_stop",
    b"tool_use",
    b"text_delta",
    b"input_json_delta",
    b"signature_delta",
    b'"type"',
    b'"index"',
    b'"delta"',
    b'"usage"',
    b'"content_block"',
    b'"candidates"',
    b'"content"',
    b'"parts"',
    b'"text"',
    b'"functionCall"',
    b'"args"',
    b'"usageMetadata"',
    b'"finishReason"',
    b'"error"',
    b'"thought"',
    b"0",
    b"-1",
    b"true",
    b"null",
    b"1e999",
    b"\xc3",
    b"\xa9",
    b"\xef\xbb\xbf",
]


def _check_only_wire_format_errors(decoder: StreamDecoder, pieces: Sequence[bytes]) -> None:
    try:
        for piece in pieces:
            decoder.feed(piece)
        decoder.close()
    except WireFormatError:
        pass


@pytest.mark.parametrize("decoder", DECODERS)
@given(pieces=st.lists(st.binary(max_size=40), max_size=12))
def test_arbitrary_bytes_raise_only_wire_format_error(decoder: Decode, pieces: list[bytes]) -> None:
    _check_only_wire_format_errors(decoder(), pieces)


@pytest.mark.parametrize("decoder", DECODERS)
@given(
    pieces=st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(b"".join), max_size=10)
)
def test_plausible_garbage_raises_only_wire_format_error(
    decoder: Decode, pieces: list[bytes]
) -> None:
    _check_only_wire_format_errors(decoder(), pieces)


KEYS = ["type", "index", "delta", "usage", "content_block", "message", "error", "text",
        "candidates", "content", "parts", "functionCall", "args", "name", "id", "usageMetadata",
        "finishReason", "thought", "thoughtSignature", "partial_json", "stop_reason", "input",
        "signature"]  # fmt: skip
VALUES = ["content_block_start", "content_block_delta", "content_block_stop", "message_start",
          "message_delta", "message_stop", "error", "tool_use", "text", "thinking",
          "redacted_thinking", "text_delta", "input_json_delta", "thinking_delta",
          "signature_delta", "STOP"]  # fmt: skip
event_like = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(VALUES) | texts,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("decoder", DECODERS)
@given(values=st.lists(event_like, max_size=6), framing=st.sampled_from(["sse", "array", "raw"]))
def test_wrongly_shaped_json_raises_only_wire_format_error(
    decoder: Decode, values: list[Any], framing: str
) -> None:
    if framing == "sse":
        body = b"".join(b"data: " + json.dumps(v).encode() + b"\n\n" for v in values)
    elif framing == "array":
        body = json.dumps(values).encode()
    else:
        body = b"".join(json.dumps(v, indent=1).encode() + b"\n" for v in values)
    _check_only_wire_format_errors(decoder(), [body])


@pytest.mark.parametrize(("name", "encode", "normalize", "decoder"), CODECS)
@given(chunks=responses(), data=st.data())
def test_mutated_streams_raise_only_wire_format_error(
    name: str,
    encode: Callable[[Sequence[Chunk]], bytes],
    normalize: Callable[..., list[Chunk]],
    decoder: Decode,
    chunks: list[Chunk],
    data: st.DataObject,
) -> None:
    body = bytearray(encode(chunks))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.binary(min_size=1, max_size=3))
        if action == "insert":
            body[at:at] = byte
        elif action == "delete":
            del body[at : at + len(byte)]
        else:
            body[at : at + len(byte)] = byte
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    pieces = [bytes(body[a:b]) for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    _check_only_wire_format_errors(decoder(), pieces)


# -- the official SDKs read what the encoders write -----------------------------------------------


def _httpx() -> Any:
    try:
        return pytest.importorskip("httpx2")
    except pytest.skip.Exception:
        return pytest.importorskip("httpx")


class _Served:
    """A mock HTTP transport answering every request with `body`."""

    def __init__(self) -> None:
        self.body = b""
        self.urls: list[str] = []

    def __call__(self, request: Any) -> Any:
        self.urls.append(str(request.url))
        headers = {"content-type": "text/event-stream"}
        return _httpx().Response(200, headers=headers, content=self.body)

    def client(self) -> Any:
        httpx = _httpx()
        return httpx.Client(transport=httpx.MockTransport(self))


@cache
def _anthropic() -> tuple[Any, Any, _Served]:
    """(the SDK module, a client of the mock transport, the transport)."""
    anthropic = pytest.importorskip("anthropic")
    served = _Served()
    client = anthropic.Anthropic(
        api_key="test", base_url="http://agentsim.test", http_client=served.client(), max_retries=0
    )
    return anthropic, client, served


@cache
def _genai() -> tuple[Any, Any, _Served]:
    genai = pytest.importorskip("google.genai")
    served = _Served()
    options = genai.types.HttpOptions(base_url="http://agentsim.test", httpx_client=served.client())
    return genai, genai.Client(api_key="test", http_options=options), served


STOP_REASON = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
    "other": None,  # no stop reason of its own: the message_delta says none
    "pause": "pause_turn",
}
ANTHROPIC_REQUEST = {
    "model": "agentsim-model",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}


def _calls(chunks: Sequence[Chunk]) -> list[tuple[str, str, Any]]:
    names: dict[int, tuple[str, str]] = {}
    args: dict[int, list[str]] = {}
    for c in chunks:
        if isinstance(c, ToolCallStartChunk):
            names[c.index], args[c.index] = (c.call_id, c.name), []
        elif isinstance(c, ToolCallArgsChunk):
            args[c.index].append(c.delta)
    return [(*names[i], json.loads("".join(args[i]))) for i in names]


sdk_responses = responses(call_ids=st.text("abc_", min_size=1, max_size=6)).filter(
    lambda cs: any(isinstance(c, FinishChunk) for c in cs)
)


@given(chunks=sdk_responses)
@settings(max_examples=40, deadline=None)
def test_anthropic_sdk_reads_the_encoded_stream(chunks: list[Chunk]) -> None:
    _, client, served = _anthropic()
    served.body = encode_anthropic(chunks)
    expected = normalize_anthropic(chunks)
    with client.messages.stream(**ANTHROPIC_REQUEST) as stream:
        message = stream.get_final_message()
    text = "".join(b.text for b in message.content if b.type == "text")
    assert text == "".join(c.text for c in expected if isinstance(c, TextChunk))
    thinking = "".join(b.thinking for b in message.content if b.type == "thinking")
    assert thinking == "".join(c.text for c in expected if isinstance(c, ReasoningChunk))
    signatures = [b.signature for b in message.content if b.type == "thinking" and b.signature]
    assert signatures == [
        c.signature for c in expected if isinstance(c, ReasoningChunk) and c.signature
    ]
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == _calls(expected)
    finish = next(c.reason for c in expected if isinstance(c, FinishChunk))
    assert message.stop_reason == STOP_REASON[finish]
    usage = next(c.usage for c in expected if isinstance(c, UsageChunk))
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == usage.input_tokens
    assert message.usage.cache_read_input_tokens == usage.cached_tokens
    assert message.usage.output_tokens == usage.output_tokens


@given(chunks=sdk_responses)
@settings(max_examples=40, deadline=None)
def test_google_genai_sdk_reads_the_encoded_stream(chunks: list[Chunk]) -> None:
    _, client, served = _genai()
    served.body = encode_gemini(chunks)
    expected = normalize_gemini(chunks)

    stream = client.models.generate_content_stream(model="agentsim-model", contents="hi")
    answers = list(stream)
    assert served.urls[-1].endswith("/models/agentsim-model:streamGenerateContent?alt=sse")
    parts = [p for r in answers if r.candidates for p in r.candidates[0].content.parts]
    text = "".join(p.text or "" for p in parts if not p.thought)
    assert text == "".join(c.text for c in expected if isinstance(c, TextChunk))
    thoughts = "".join(p.text for p in parts if p.thought)
    assert thoughts == "".join(c.text for c in expected if isinstance(c, ReasoningChunk))
    signatures = [
        base64.b64encode(p.thought_signature).decode() for p in parts if p.thought_signature
    ]
    assert signatures == [
        c.signature for c in expected if isinstance(c, ReasoningChunk) and c.signature
    ]
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.id or f"gemini_call_{n}", c.name, c.args) for n, c in enumerate(calls)] == _calls(
        expected
    )
    finish = next(c.reason for c in expected if isinstance(c, FinishChunk))
    last = answers[-1]
    assert last.candidates[0].finish_reason.value == WIRE_FINISH[finish]
    usage = [c.usage for c in expected if isinstance(c, UsageChunk)]
    if usage:
        meta = last.usage_metadata
        assert meta.prompt_token_count == usage[0].input_tokens
        assert (
            meta.candidates_token_count + (meta.thoughts_token_count or 0) == usage[0].output_tokens
        )
        assert (meta.cached_content_token_count or 0) == usage[0].cached_tokens


WIRE_FINISH = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "other": "OTHER",
}


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_sdks_raise_the_encoded_in_stream_error(kind: ErrorKind) -> None:
    anthropic, client, served = _anthropic()
    chunks: list[Chunk] = [TextChunk("Hel"), ErrorChunk(kind, "It broke")]
    served.body = encode_anthropic(chunks)
    stream = client.messages.stream(**ANTHROPIC_REQUEST)
    with pytest.raises(anthropic.APIStatusError, match="It broke"), stream as events:
        events.get_final_message()
    genai, gemini, served = _genai()
    served.body = encode_gemini(chunks)
    with pytest.raises(genai.errors.APIError, match="It broke") as raised:
        list(gemini.models.generate_content_stream(model="m", contents="hi"))
    error = normalize_gemini(chunks)[-1]
    assert isinstance(error, ErrorChunk)
    assert raised.value.code == error.status
