"""Tests for the OpenAI wire codecs (`_wire_openai_chat`, `_wire_openai_responses`).

Ground truth is the recorded corpus (`../shared/corpus`, see its README); the round trip
`decode(encode(x)) == normalize(x)` and split-independence are checked with hypothesis.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentsim.core._chunks import (
    ERROR_KINDS,
    FINISH_REASONS,
    Chunk,
    ErrorChunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.core._usage import Usage
from agentsim.wire._base import StreamDecoder, WireFormatError, error_body_decoder
from agentsim.wire._openai_chat import (
    OpenAIChatDecoder,
    encode_openai_chat,
    normalize_openai_chat,
)
from agentsim.wire._openai_responses import (
    OpenAIResponsesDecoder,
    encode_openai_responses,
    normalize_openai_responses,
)
from agentsim.wire._registry import decoder_for, encode_stream

CORPUS = Path(__file__).parents[2] / ".." / "shared" / "corpus"
NO_CORPUS = f"recorded corpus not found at {CORPUS.resolve()} (see ../shared/corpus/README.md)"

Decoder = Callable[[], StreamDecoder]
DECODERS: dict[str, Decoder] = {
    "openai-chat": OpenAIChatDecoder,
    "openai-responses": OpenAIResponsesDecoder,
}
ENCODERS: dict[str, Callable[[Sequence[Chunk]], bytes]] = {
    "openai-chat": encode_openai_chat,
    "openai-responses": encode_openai_responses,
}
NORMALIZERS: dict[str, Callable[[Sequence[Chunk]], list[Chunk]]] = {
    "openai-chat": normalize_openai_chat,
    "openai-responses": normalize_openai_responses,
}
APIS = list(DECODERS)


def decode(api: str, body: bytes, cuts: Sequence[int] = ()) -> list[Chunk]:
    """Decode `body` fed in pieces cut at the sorted positions `cuts`."""
    decoder = DECODERS[api]()
    out: list[Chunk] = []
    start = 0
    for cut in [*cuts, len(body)]:
        out += decoder.feed(body[start:cut])
        start = cut
    return out + decoder.close()


# -- the corpus (a tiny local reader; the real cassette reader lives elsewhere) -------------------


@dataclass(frozen=True)
class Recording:
    name: str  # path relative to the corpus, with the interaction number
    api: str
    status: int
    body: bytes


def _body(response: dict[str, Any]) -> bytes:
    body = response.get("body") or {}
    if "parsed_body" in body:
        return json.dumps(body["parsed_body"]).encode()
    raw = body.get("string", b"")
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _streams(request: dict[str, Any], body: bytes) -> bool:
    parsed = request.get("parsed_body")
    if parsed is None and isinstance(request.get("body"), str):
        try:
            parsed = json.loads(request["body"])
        except ValueError:
            parsed = None
    if isinstance(parsed, dict) and parsed.get("stream") is True:
        return True
    return body.lstrip().startswith((b"data:", b"event:", b":"))


@functools.cache
def recordings() -> tuple[Recording, ...]:
    if not CORPUS.is_dir():
        return ()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[Recording] = []
    for path in sorted(CORPUS.rglob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # a safe loader
        if not isinstance(data, dict):
            continue
        for number, interaction in enumerate(data.get("interactions") or []):
            request, response = interaction["request"], interaction["response"]
            uri = str(request["uri"])
            if uri.endswith("/chat/completions"):
                api = "openai-chat"
            elif uri.endswith("/responses"):
                api = "openai-responses"
            else:
                continue
            body = _body(response)
            if _streams(request, body):
                name = f"{path.relative_to(CORPUS)}#{number}"
                found.append(Recording(name, api, int(response["status"]["code"]), body))
    return tuple(found)


def recording(name: str) -> Recording:
    if not recordings():
        pytest.skip(NO_CORPUS)
    return next(r for r in recordings() if r.name == name)


def decode_recording(rec: Recording, cuts: Sequence[int] = ()) -> list[Chunk]:
    if rec.status >= 400:
        decoder = error_body_decoder(rec.status)
        return decoder.feed(rec.body) + decoder.close()
    return decode(rec.api, rec.body, cuts)


def check_response_shape(chunks: Sequence[Chunk]) -> None:
    """Indexes unique per response; args and ends only for started calls, ends at most once."""
    started: set[int] = set()
    ended: set[int] = set()
    for chunk in chunks:
        if isinstance(chunk, ToolCallStartChunk):
            assert chunk.index not in started, f"tool-call index {chunk.index} reused"
            started.add(chunk.index)
        elif isinstance(chunk, ToolCallArgsChunk):
            assert chunk.index in started
        elif isinstance(chunk, ToolCallEndChunk):
            assert chunk.index in started
            assert chunk.index not in ended
            ended.add(chunk.index)
        elif isinstance(chunk, TextChunk | ReasoningChunk):
            assert chunk.text or (isinstance(chunk, ReasoningChunk) and chunk.signature is not None)


RECORDINGS = recordings()


def test_corpus_counts() -> None:
    if not RECORDINGS:
        pytest.skip(NO_CORPUS)
    counts = Counter(r.api for r in RECORDINGS)
    print(f"decoded recorded streams per API: {dict(counts)}")
    assert counts["openai-chat"] >= 60
    assert counts["openai-responses"] >= 30


@pytest.mark.parametrize(
    "rec",
    RECORDINGS or [pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS))],
    ids=lambda rec: rec.name if isinstance(rec, Recording) else "corpus",
)
def test_corpus_stream_decodes(rec: Recording) -> None:
    whole = decode_recording(rec)
    rng = random.Random(rec.name)
    for _ in range(3):
        cuts = sorted(rng.sample(range(len(rec.body) + 1), min(len(rec.body), 200)))
        assert decode_recording(rec, cuts) == whole
    if rec.status >= 400:
        assert len(whole) == 1
        assert isinstance(whole[0], ErrorChunk)
        return
    check_response_shape(whole)
    last = [c for c in whole if not isinstance(c, UsageChunk)][-1]
    assert isinstance(last, FinishChunk | ErrorChunk), last


# -- spot checks on chosen recordings -------------------------------------------------------------


def _text(chunks: Sequence[Chunk], kind: type[TextChunk] | type[ReasoningChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, kind))


def _args(chunks: Sequence[Chunk], index: int) -> str:
    return "".join(c.delta for c in chunks if isinstance(c, ToolCallArgsChunk) and c.index == index)


def _starts(chunks: Sequence[Chunk]) -> list[ToolCallStartChunk]:
    return [c for c in chunks if isinstance(c, ToolCallStartChunk)]


def test_openai_chat_parallel_tool_calls() -> None:
    rec = recording(
        "pydantic-ai/tests/cassettes/test_prefect/test_complex_agent_run_in_flow.yaml#1"
    )
    chunks = decode_recording(rec)
    assert _starts(chunks) == [
        ToolCallStartChunk(0, "call_NS4iQj14cDFwc0BnrKqDHavt", "get_weather"),
        ToolCallStartChunk(1, "call_SkGkkGDvHQEEk0CGbnAh2AQw", "get_product_name"),
    ]
    assert json.loads(_args(chunks, 0)) == {"city": "Mexico City"}
    assert _args(chunks, 1) == "{}"
    assert chunks[-4:] == [
        ToolCallEndChunk(0),
        ToolCallEndChunk(1),
        FinishChunk("tool_calls"),
        UsageChunk(Usage(417, 44, 0, 0)),
    ]


def test_openai_responses_function_call() -> None:
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_openai_responses/test_openai_responses_stream.yaml#0"
    )
    chunks = decode_recording(rec)
    assert _starts(chunks) == [
        ToolCallStartChunk(0, "call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital")
    ]
    assert _args(chunks, 0) == '{"country":"France"}'
    assert chunks[-3:] == [
        ToolCallEndChunk(0),
        UsageChunk(Usage(255, 16, 0, 0)),
        FinishChunk("tool_calls"),
    ]


def test_openai_responses_reasoning_signature_and_text() -> None:
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_openai_responses/"
        "test_openai_responses_streaming_usage.yaml#0"
    )
    chunks = decode_recording(rec)
    first = chunks[0]
    assert isinstance(first, ReasoningChunk)
    assert first.text == ""
    assert first.signature is not None
    assert first.signature.startswith("gAAAAABoyXvx")  # the `done` copy, not the `added` one
    assert json.loads(_args(chunks, 0)) == {"result": 6666}
    assert chunks[-2:] == [UsageChunk(Usage(53, 469, 448, 0)), FinishChunk("tool_calls")]


def test_groq_tool_use_failed_is_the_rejected_call_with_its_message() -> None:
    # Groq reports the model's call in `failed_generation` and rejects it: the call, its end
    # carrying the error's message, and a tool_calls finish (as pydantic-ai reads it).
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_groq/test_tool_use_failed_error_streaming.yaml#0"
    )
    chunks = decode_recording(rec)
    assert _text(chunks, ReasoningChunk).startswith("We need to call the tool")
    assert not any(isinstance(c, ErrorChunk) for c in chunks)
    start, args, end, finish = chunks[-4:]
    assert start == ToolCallStartChunk(0, "rejected_call_0", "get_something_by_name")
    assert args == ToolCallArgsChunk(0, '{"invalid_param":"value"}')
    assert isinstance(end, ToolCallEndChunk)
    assert end.index == 0
    assert end.rejected is not None
    assert end.rejected.startswith("Tool call validation failed: tool call validation failed")
    assert "additionalProperties 'invalid_param' not allowed" in end.rejected
    assert finish == FinishChunk("tool_calls")


def test_groq_tool_use_failed_without_a_call_stays_an_error() -> None:
    # An empty failed_generation (the model answered text where a tool was required) reports
    # no call: the error stays what it was, a non-retryable invalid_request error.
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_groq/"
        "test_tool_use_failed_error_streaming_with_text.yaml#0"
    )
    chunks = decode_recording(rec)
    error = chunks[-1]
    assert isinstance(error, ErrorChunk)
    assert (error.kind, error.retryable, error.status) == ("invalid_request", False, 400)
    assert error.message == "Tool choice is required, but model did not call a tool"
    assert not any(isinstance(c, FinishChunk | ToolCallStartChunk) for c in chunks)


@pytest.mark.parametrize(
    "generation",
    ["", "maybe", "[1]", '{"arguments": {}}', '{"name": 3}', '{"name": "f", "arguments": 1}'],
)
def test_a_tool_use_failed_generation_that_is_no_call_stays_an_error(generation: str) -> None:
    error = {
        "message": "m",
        "type": "invalid_request_error",
        "code": "tool_use_failed",
        "status_code": 400,
    }
    data = json.dumps({"error": {**error, "failed_generation": generation}})
    assert decode("openai-chat", f"event: error\ndata: {data}\n\n".encode()) == [
        ErrorChunk("invalid_request", "m", False, 400)
    ]


def test_a_rejected_call_is_written_as_groq_writes_it() -> None:
    chunks: list[Chunk] = [
        TextChunk("ok"),
        ToolCallStartChunk(3, "call_a", "fine"),
        ToolCallArgsChunk(3, '{"a": 1}'),
        ToolCallStartChunk(5, "call_b", "lookup"),
        ToolCallArgsChunk(5, '{"x": '),
        ToolCallArgsChunk(5, '"é"}'),
        ToolCallEndChunk(5, "schema check failed"),
        UsageChunk(Usage(1, 2, 0, 0)),  # Groq sends nothing after the error
    ]
    body = encode_openai_chat(chunks)
    last = body.decode().split("\n\n")[-2]
    assert last.startswith("event: error\ndata: ")
    error = json.loads(last.split("data: ", 1)[1])["error"]
    assert (error["code"], error["status_code"]) == ("tool_use_failed", 400)
    assert json.loads(error["failed_generation"]) == {"name": "lookup", "arguments": {"x": "é"}}
    assert b"[DONE]" not in body
    assert b"lookup" not in body.split(b"event: error")[0]
    assert decode("openai-chat", body) == [
        TextChunk("ok"),
        ToolCallStartChunk(0, "call_a", "fine"),
        ToolCallArgsChunk(0, '{"a": 1}'),
        ToolCallEndChunk(0),
        ToolCallStartChunk(1, "rejected_call_1", "lookup"),
        ToolCallArgsChunk(1, '{"x":"é"}'),
        ToolCallEndChunk(1, "schema check failed"),
        FinishChunk("tool_calls"),
    ]
    # The other APIs cannot say it: the call is written as an ordinary call.
    for api in ("openai-responses", "anthropic", "gemini"):
        decoder = decoder_for(api)
        body = encode_stream(api, [*chunks, FinishChunk("tool_calls")])
        decoded = [*decoder.feed(body), *decoder.close()]
        ends = [c for c in decoded if isinstance(c, ToolCallEndChunk)]
        assert len(ends) == 2
        assert all(c.rejected is None for c in ends)


def test_pause_has_no_chat_form_and_reads_back_as_other() -> None:
    body = encode_openai_chat([TextChunk("a"), FinishChunk("pause")])
    assert b'"finish_reason":"other"' in body
    assert decode("openai-chat", body) == [TextChunk("a"), FinishChunk("other")]


def test_openrouter_in_chunk_error() -> None:
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_openrouter/test_openrouter_stream_error.yaml#0"
    )
    chunks = decode_recording(rec)
    # `finish_reason: length` comes twice, then a chunk holding both the usage and the error.
    assert chunks == [
        ReasoningChunk("We need"),
        ReasoningChunk(" to respond to a greeting. The user"),
        FinishChunk("length"),
        UsageChunk(Usage(43, 10, 11, 0)),
        ErrorChunk("invalid_request", "Token limit reached", False, 400),
    ]


def test_deepseek_reasoning_content() -> None:
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_deepseek/test_deepseek_model_thinking_stream.yaml#0"
    )
    chunks = decode_recording(rec)
    reasoning, text = _text(chunks, ReasoningChunk), _text(chunks, TextChunk)
    assert reasoning.startswith("H")
    assert len(reasoning) > 200
    assert text.startswith("Hello")
    assert chunks[-2:] == [FinishChunk("stop"), UsageChunk(Usage(6, 212, 198, 0))]


def test_snowflake_done_without_finish_reason_finishes() -> None:
    rec = recording(
        "pydantic-ai/tests/models/cassettes/test_snowflake/test_snowflake_model_streaming.yaml#0"
    )
    assert decode_recording(rec) == [
        TextChunk("4"),
        UsageChunk(Usage(22, 5, 0, 0)),
        FinishChunk("stop"),
    ]


# -- hand-written streams for the edge cases the corpus lacks -------------------------------------


def _chat_body(*payloads: Any, done: bool = True) -> bytes:
    events = [f"data: {json.dumps(p)}\n\n" for p in payloads]
    return ("".join(events) + ("data: [DONE]\n\n" if done else "")).encode()


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _tool(index: int, id_: str | None = None, name: str | None = None, args: str = "") -> Any:
    function: dict[str, Any] = {"arguments": args}
    if name is not None:
        function["name"] = name
    fragment: dict[str, Any] = {"index": index, "function": function}
    if id_ is not None:
        fragment["id"] = id_
    return _delta({"tool_calls": [fragment]})


def test_chat_index_reused_for_parallel_calls() -> None:
    body = _chat_body(
        _tool(0, "a", "f", '{"x"'),
        _tool(0, None, None, ":1}"),
        _tool(0, "b", "g", "{}"),
        _tool(0, "b", None, ""),  # the id repeated on a continuation is not a new call
        _tool(1, "c", "h", "[]"),  # index 1 is taken by the second call: a fresh one
        _delta({}, "function_call"),
    )
    assert decode("openai-chat", body) == [
        ToolCallStartChunk(0, "a", "f"),
        ToolCallArgsChunk(0, '{"x"'),
        ToolCallArgsChunk(0, ":1}"),
        ToolCallEndChunk(0),
        ToolCallStartChunk(1, "b", "g"),
        ToolCallArgsChunk(1, "{}"),
        ToolCallStartChunk(2, "c", "h"),
        ToolCallArgsChunk(2, "[]"),
        ToolCallEndChunk(1),
        ToolCallEndChunk(2),
        FinishChunk("tool_calls"),
    ]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("eos", "other"),
    ],
)
def test_chat_finish_reasons(wire: str, reason: str) -> None:
    assert decode("openai-chat", _chat_body(_delta({}, wire))) == [FinishChunk(reason)]  # type: ignore[arg-type]


def test_chat_usage_nulls_and_reasoning_field() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": None, "completion_tokens_details": None}
    body = _chat_body(
        _delta({"reasoning": "r", "content": "t"}, "stop"), {"choices": [], "usage": usage}
    )
    assert decode("openai-chat", body) == [
        ReasoningChunk("r"),
        TextChunk("t"),
        FinishChunk("stop"),
        UsageChunk(Usage(3, 0, 0, 0)),
    ]


def test_chat_truncated_stream_has_no_finish_and_ignores_after_done() -> None:
    assert decode("openai-chat", _chat_body(_delta({"content": "a"}), done=False)) == [
        TextChunk("a")
    ]
    body = _chat_body(_delta({"content": "a"}, "stop")) + b"data: not json\n\n"
    assert decode("openai-chat", body) == [TextChunk("a"), FinishChunk("stop")]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "data", [b"data: {nope\n\n", b"data: [1]\n\n", b'data: {"choices": 5}\n\n']
)
def test_not_the_format_raises_wire_format_error(api: str, data: bytes) -> None:
    if api == "openai-responses" and b"choices" in data:
        data = b'data: {"type": "response.output_item.added", "item": 5}\n\n'
    with pytest.raises(WireFormatError, match=api):
        decode(api, data)


def _responses_body(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def _fc(item_id: str, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments}  # fmt: skip


def test_responses_done_without_deltas_and_unannounced_call() -> None:
    body = _responses_body(
        {"type": "response.output_item.added", "output_index": 0, "item": _fc("fc_1", "c1", "f")},
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": "{}"},
        {"type": "response.output_item.done", "output_index": 0, "item": _fc("fc_1", "c1", "f")},
        {"type": "response.web_search_call.searching", "item_id": "ws_1"},  # unknown: skipped
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": _fc("fc_2", "c2", "g", "[]"),
        },
        {"type": "response.completed", "response": {"usage": None}},
        {"type": "response.output_text.delta", "delta": "after the end"},
    )
    assert decode("openai-responses", body) == [
        ToolCallStartChunk(0, "c1", "f"),
        ToolCallArgsChunk(0, "{}"),
        ToolCallEndChunk(0),
        ToolCallStartChunk(1, "c2", "g"),
        ToolCallArgsChunk(1, "[]"),
        ToolCallEndChunk(1),
        FinishChunk("tool_calls"),
    ]


def test_responses_incomplete_failed_and_error_events() -> None:
    incomplete = {"incomplete_details": {"reason": "content_filter"}, "usage": {"input_tokens": 2}}
    body = _responses_body({"type": "response.incomplete", "response": incomplete})
    assert decode("openai-responses", body) == [
        UsageChunk(Usage(2, 0, 0, 0)),
        FinishChunk("content_filter"),
    ]
    body = _responses_body(
        {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"},
        {
            "type": "response.failed",
            "response": {"error": {"code": "server_error", "message": "x"}},
        },
    )
    assert decode("openai-responses", body) == [
        ErrorChunk("rate_limit", "slow down", True, None),
        ErrorChunk("server", "x", True, None),
    ]


# -- round trip ------------------------------------------------------------------------------------

SHORT = st.text(max_size=6)  # includes multi-byte characters and line breaks
IDS = st.text(st.characters(codec="utf-8"), max_size=6)


@st.composite
def tool_call(draw: st.DrawFn, index: int) -> list[Chunk]:
    """Start, the JSON arguments split anywhere (also inside multi-byte characters), maybe end."""
    call: list[Chunk] = [ToolCallStartChunk(index, draw(IDS), draw(IDS))]
    value = draw(st.dictionaries(SHORT, st.none() | st.integers() | SHORT, max_size=3))
    arguments = json.dumps(value, ensure_ascii=False)
    cuts = sorted(draw(st.sets(st.integers(0, len(arguments)), max_size=5)))
    bounds = [0, *cuts, len(arguments)]
    call += [ToolCallArgsChunk(index, arguments[a:b]) for a, b in itertools.pairwise(bounds)]
    if draw(st.booleans()):
        # Sometimes rejected by the provider (Groq's tool_use_failed), with its message.
        call.append(ToolCallEndChunk(index, draw(st.none() | st.none() | SHORT)))
    return call


usages = st.builds(Usage, *[st.integers(0, 10**6)] * 4).map(UsageChunk)
errors = st.builds(
    ErrorChunk,
    st.sampled_from(ERROR_KINDS),
    SHORT,
    st.booleans(),
    st.none() | st.integers(100, 599),
)


@st.composite
def responses(draw: st.DrawFn) -> list[Chunk]:
    """A plausible response: text, reasoning, interleaved parallel tool calls, usage, terminal."""
    queues: list[list[Chunk]] = []
    calls = draw(st.integers(0, 3))
    indexes = draw(st.permutations(range(7)))[:calls]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "reasoning"]))
        if kind == "text":
            queues.append([TextChunk(t) for t in draw(st.lists(SHORT, max_size=3))])
        else:
            signature = draw(st.none() | IDS)
            queues.append([ReasoningChunk(draw(SHORT), signature)])
    queues += [draw(tool_call(i)) for i in indexes]
    if draw(st.booleans()):
        queues.append([draw(usages)])
    order = draw(st.permutations(range(len(queues))))
    queues = [queues[i] for i in order if queues[i]]
    chunks: list[Chunk] = []
    while queues:  # interleave, keeping each queue's order
        queue = queues[draw(st.integers(0, min(1, len(queues) - 1)))]
        chunks.append(queue.pop(0))
        queues = [q for q in queues if q]
    terminal = draw(st.sampled_from(["finish", "error", "none", "finish+usage"]))
    if terminal.startswith("finish"):
        chunks.append(FinishChunk(draw(st.sampled_from(FINISH_REASONS))))
        if terminal == "finish+usage":
            chunks.append(draw(usages))
    elif terminal == "error":
        chunks.append(draw(errors))
    return chunks


any_chunk = st.one_of(
    st.builds(TextChunk, SHORT),
    st.builds(ReasoningChunk, SHORT, st.none() | IDS),
    st.builds(ToolCallStartChunk, st.integers(0, 3), IDS, IDS),
    st.builds(ToolCallArgsChunk, st.integers(0, 3), SHORT),
    st.builds(ToolCallEndChunk, st.integers(0, 3), st.none() | SHORT),
    usages,
    st.builds(FinishChunk, st.sampled_from(FINISH_REASONS)),
    errors,
)
chunk_lists = responses() | st.lists(any_chunk, max_size=12)


@pytest.mark.parametrize("api", APIS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=chunk_lists, data=st.data())
def test_round_trip(api: str, chunks: list[Chunk], data: st.DataObject) -> None:
    body = ENCODERS[api](chunks)
    assert body == ENCODERS[api](chunks)  # deterministic
    expected = NORMALIZERS[api](chunks)
    assert decode(api, body) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=20), label="cuts"))
    assert decode(api, body, cuts) == expected
    assert NORMALIZERS[api](expected) == expected
    check_response_shape(expected)


def test_byte_at_a_time() -> None:
    chunks: list[Chunk] = [
        ReasoningChunk("é🙂", "sig"),
        TextChunk("a\r\nb\u2028"),
        ToolCallStartChunk(4, "call_1", "f"),
        ToolCallArgsChunk(4, '{"k": "日本"}'),
        UsageChunk(Usage(1, 2, 3, 4)),
        FinishChunk("tool_calls"),
    ]
    for api in APIS:
        body = ENCODERS[api](chunks)
        assert decode(api, body, range(len(body))) == NORMALIZERS[api](chunks)


# -- robustness ------------------------------------------------------------------------------------

KEYS = [
    "type", "choices", "delta", "content", "reasoning", "reasoning_content", "tool_calls", "index",
    "id", "function", "name", "arguments", "finish_reason", "usage", "error", "item", "item_id",
    "output_index", "call_id", "response", "incomplete_details", "encrypted_content", "x_groq",
    "prompt_tokens", "input_tokens", "output_tokens_details", "code", "message", "status_code",
]  # fmt: skip
TYPES = [
    "response.output_text.delta", "response.reasoning_text.delta", "response.output_item.added",
    "response.output_item.done", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.completed", "response.incomplete",
    "response.failed", "error", "function_call", "reasoning",
]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(TYPES) | SHORT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=12,
)
sse_events = st.one_of(
    st.builds(
        lambda event, value: (
            (f"event: {event}\n" if event else "") + f"data: {json.dumps(value)}\n\n"
        ),
        st.none() | st.sampled_from(["error", *TYPES]),
        json_values,
    ),
    st.sampled_from(["data: [DONE]\n\n", ": keep-alive\n\n", "data: {\n\n", "\r\n", "data:"]),
).map(str.encode)
noise = st.binary(max_size=64) | st.lists(sse_events, max_size=6).map(b"".join)


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    """`value` with one node (possibly the root) replaced by an arbitrary JSON value."""
    if isinstance(value, dict) and value and draw(st.sampled_from([True, True, True, False])):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(draw, value[key])}
    if isinstance(value, list) and value and draw(st.sampled_from([True, True, True, False])):
        k = draw(st.integers(0, len(value) - 1))
        return [*value[:k], _mutate(draw, value[k]), *value[k + 1 :]]
    return draw(json_values)


@st.composite
def mutated(draw: st.DrawFn, api: str) -> bytes:
    """A valid encoded stream with a few JSON payloads damaged somewhere deep inside."""
    blocks = ENCODERS[api](draw(responses())).decode().split("\n\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(blocks) - 1))
        lines = blocks[i].split("\n")
        if lines[-1].startswith("data: {"):
            lines[-1] = "data: " + json.dumps(_mutate(draw, json.loads(lines[-1][6:])))
            blocks[i] = "\n".join(lines)
    return "\n\n".join(blocks).encode()


def _outcome(api: str, body: bytes, cuts: Sequence[int]) -> list[Chunk] | str:
    try:
        return decode(api, body, cuts)
    except WireFormatError:
        return "WireFormatError"


@pytest.mark.parametrize("api", APIS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_arbitrary_bytes_raise_only_wire_format_error(api: str, data: st.DataObject) -> None:
    body = data.draw(noise | mutated(api), label="body")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8), label="cuts"))
    # Same outcome however the bytes are split: the same chunks, or a WireFormatError.
    assert _outcome(api, body, ()) == _outcome(api, body, cuts)


# -- the official SDK parses what we encode --------------------------------------------------------

SDK_CHUNKS: list[Chunk] = [
    ReasoningChunk("thinking…", "enc"),
    TextChunk("Hello, "),
    TextChunk("wörld"),
    ToolCallStartChunk(0, "call_a", "get_weather"),
    ToolCallArgsChunk(0, '{"city": "Pa'),
    ToolCallArgsChunk(0, 'ris"}'),
    ToolCallStartChunk(1, "call_b", "get_time"),
    ToolCallArgsChunk(1, "{}"),
    UsageChunk(Usage(11, 22, 5, 3)),
    FinishChunk("tool_calls"),
]


def _sdk_client(body: bytes) -> Any:
    openai = pytest.importorskip("openai")
    try:
        httpx: Any = importlib.import_module("httpx2")  # openai >= 3
    except ImportError:
        httpx = importlib.import_module("httpx")

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        api_key="test", base_url="http://agentsim.test/v1", http_client=http_client
    )


def test_openai_sdk_parses_chat_stream() -> None:
    client = _sdk_client(encode_openai_chat(SDK_CHUNKS))
    stream = client.chat.completions.create(
        model="agentsim-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": call.id, "name": None, "args": ""})
                if call.function.name:
                    entry["name"] = call.function.name
                entry["args"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert text == "Hello, wörld"
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "args": '{"city": "Paris"}'},
        1: {"id": "call_b", "name": "get_time", "args": "{}"},
    }
    assert finish == "tool_calls"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 22)
    assert usage.completion_tokens_details.reasoning_tokens == 5
    assert usage.prompt_tokens_details.cached_tokens == 3


def test_openai_sdk_parses_responses_stream() -> None:
    client = _sdk_client(encode_openai_responses(SDK_CHUNKS))
    stream = client.responses.create(model="agentsim-model", input="hi", stream=True)
    events = list(stream)
    completed = events[-1]
    assert completed.type == "response.completed"
    response = completed.response
    assert response.output_text == "Hello, wörld"
    calls = [(o.call_id, o.name, o.arguments) for o in response.output if o.type == "function_call"]
    assert calls == [("call_a", "get_weather", '{"city": "Paris"}'), ("call_b", "get_time", "{}")]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.encrypted_content == "enc"
    assert reasoning.summary[0].text == "thinking…"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens) == (11, 22)
    assert usage.output_tokens_details.reasoning_tokens == 5
    assert usage.input_tokens_details.cached_tokens == 3
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Hello, wörld"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_an_sdk_reading_a_rejected_call_gets_the_error_body_pydantic_ai_parses() -> None:
    # Groq's SDK (Stainless, like openai's) raises at `event: error` with the inner error as
    # `body`; pydantic-ai's `_parse_tool_use_failed_error` reads the call from it: a message, type
    # invalid_request_error, code tool_use_failed, and failed_generation `{"name", "arguments"}`.
    openai = pytest.importorskip("openai")
    chunks: list[Chunk] = [
        ReasoningChunk("try it"),
        ToolCallStartChunk(0, "c", "get_something_by_name"),
        ToolCallArgsChunk(0, '{"invalid_param": "value"}'),
        ToolCallEndChunk(0, "Tool call validation failed: missing properties: 'name'"),
    ]
    client = _sdk_client(encode_openai_chat(chunks))
    stream = client.chat.completions.create(
        model="agentsim-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as raised:
        for _ in stream:
            pass
    body = raised.value.body
    assert body["message"] == "Tool call validation failed: missing properties: 'name'"
    assert (body["type"], body["code"]) == ("invalid_request_error", "tool_use_failed")
    generation = json.loads(body["failed_generation"])
    assert generation == {"name": "get_something_by_name", "arguments": {"invalid_param": "value"}}
