"""Tests for agentsim.core._sse_framing (WHATWG event-stream decoding and encoding)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsim.core._sse_framing import (
    ServerSentEvent,
    SSEDecoder,
    decode_sse,
    encode_comment,
    encode_sse,
)

E = ServerSentEvent


@dataclass(frozen=True)
class Case:
    body: bytes
    events: list[ServerSentEvent]
    last_event_id: str = ""
    retry: int | None = None


CASES: dict[str, Case] = {
    # --- BOM ---
    "bom_stripped": Case(b"\xef\xbb\xbfdata: x\n\n", [E("x")]),
    "bom_only_once": Case(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [E("y")]),
    "bom_not_stripped_mid_stream": Case(
        b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: c\n\n", [E("a"), E("c")]
    ),
    "bom_inside_value_kept": Case(b"data: \xef\xbb\xbfx\n\n", [E("\ufeffx")]),
    # --- line endings ---
    "lf": Case(b"data: a\ndata: b\n\n", [E("a\nb")]),
    "crlf": Case(b"data: a\r\ndata: b\r\n\r\n", [E("a\nb")]),
    "cr": Case(b"data: a\rdata: b\r\r", [E("a\nb")]),
    "mixed_endings": Case(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r", [E("a\nb\nc"), E("d")]),
    "lf_cr_is_two_line_ends": Case(b"data: a\n\rdata: b\n\n", [E("a"), E("b")]),
    "cr_cr_is_two_line_ends": Case(b"data: a\r\rdata: b\r\n\r\n", [E("a"), E("b")]),
    # --- comments ---
    "comment_ignored": Case(b": hello\ndata: x\n: mid\n\n", [E("x")]),
    "comment_only_block_dispatches_nothing": Case(b": keep-alive\n\n", []),
    "bare_colon_is_comment": Case(b":\ndata: x\n\n", [E("x")]),
    # --- field parsing ---
    "one_leading_space_stripped": Case(b"data:  x\n\n", [E(" x")]),
    "no_space_after_colon": Case(b"data:x\n\n", [E("x")]),
    "trailing_space_kept": Case(b"data: x \n\n", [E("x ")]),
    "value_with_colons": Case(b"data: a: b:c\n\n", [E("a: b:c")]),
    "field_without_colon_data": Case(b"data\n\n", [E("")]),
    "field_without_colon_then_data": Case(b"data\ndata\ndata: x\n\n", [E("\n\nx")]),
    "empty_data_value": Case(b"data:\n\n", [E("")]),
    "field_names_case_sensitive": Case(b"Data: x\nDATA: y\ndata: z\n\n", [E("z")]),
    "field_name_with_space_not_data": Case(b"data : x\n data: y\ndata: z\n\n", [E("z")]),
    "unknown_fields_ignored": Case(b"foo: bar\nbaz\ndata: x\n\n", [E("x")]),
    "multiline_data": Case(b"data: a\ndata:\ndata: c\n\n", [E("a\n\nc")]),
    "data_with_nul_kept": Case(b"data: a\x00b\n\n", [E("a\x00b")]),
    "unicode_line_separators_are_text": Case(
        "data: a\u2028b\x85c\x0cd\n\n".encode(), [E("a\u2028b\x85c\x0cd")]
    ),
    # --- dispatch rules ---
    "no_dispatch_on_empty_data_event_only": Case(b"event: x\n\n", []),
    "blank_lines_only": Case(b"\n\n\r\n\r\r", []),
    "event_type_reset_after_dispatch": Case(
        b"event: a\ndata: 1\n\ndata: 2\n\n", [E("1", event="a"), E("2")]
    ),
    "event_type_reset_by_empty_block": Case(b"event: a\n\ndata: 2\n\n", [E("2")]),
    "empty_event_name_means_message": Case(b"event:\ndata: x\n\n", [E("x")]),
    "last_event_field_wins": Case(b"event: a\nevent: b\ndata: x\n\n", [E("x", event="b")]),
    "unterminated_last_event_dropped": Case(b"data: a\n\ndata: b\n", [E("a")]),
    "partial_last_line_dropped": Case(b"data: a\n\ndata: b", [E("a")]),
    "empty_body": Case(b"", []),
    # --- id ---
    "id_persists": Case(
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n",
        [E("a", id="1"), E("b", id="1"), E("c", id="2")],
        last_event_id="2",
    ),
    "id_empty_resets": Case(
        b"id: 1\ndata: a\n\nid\ndata: b\n\n", [E("a", id="1"), E("b", id="")], last_event_id=""
    ),
    "id_with_nul_ignored": Case(
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E("a", id="1"), E("b", id="1")],
        last_event_id="1",
    ),
    "id_without_data_sets_last_event_id": Case(b"id: 7\n\n", [], last_event_id="7"),
    "id_in_unterminated_event_not_committed": Case(
        b"id: 1\ndata: a\n\nid: 2\ndata: b\n", [E("a", id="1")], last_event_id="1"
    ),
    "id_applies_to_whole_block": Case(b"data: a\nid: 9\n\n", [E("a", id="9")], last_event_id="9"),
    # --- retry ---
    "retry_digits": Case(
        b"retry: 1500\ndata: a\n\ndata: b\n\n", [E("a", retry=1500), E("b")], retry=1500
    ),
    "retry_bogus_ignored": Case(b"retry: 12a\ndata: a\n\n", [E("a")]),
    "retry_bogus_keeps_previous": Case(b"retry: 5\n\nretry: 7x\ndata: a\n\n", [E("a")], retry=5),
    "retry_empty_ignored": Case(b"retry:\ndata: a\n\n", [E("a")]),
    "retry_extra_space_ignored": Case(b"retry:  12\ndata: a\n\n", [E("a")]),
    "retry_non_ascii_digits_ignored": Case("retry: \u0661\u0662\ndata: a\n\n".encode(), [E("a")]),
    "retry_negative_ignored": Case(b"retry: -1\ndata: a\n\n", [E("a")]),
    "retry_leading_zeros": Case(b"retry: 0012\ndata: a\n\n", [E("a", retry=12)], retry=12),
    "retry_huge_ignored": Case(b"retry: " + b"9" * 5000 + b"\ndata: a\n\n", [E("a")]),
    "retry_without_data_applies": Case(b"retry: 3\n\n", [], retry=3),
    "retry_in_unterminated_line_not_applied": Case(b"data: a\n\nretry: 3", [E("a")]),
    # --- UTF-8 ---
    "invalid_utf8_replaced": Case(b"data: \xff\xfe\n\n", [E("\ufffd\ufffd")]),
    "truncated_utf8_replaced": Case(b"data: \xe6\xbcx\n\n", [E("\ufffdx")]),
    "surrogate_utf8_replaced": Case(b"data: \xed\xa0\x80\n\n", [E("\ufffd\ufffd\ufffd")]),
    "invalid_utf8_in_field_name": Case(b"d\xffata: x\ndata: y\n\n", [E("y")]),
    "multibyte": Case(
        "event: ünï\r\nid: 漢\r\ndata: é\r\ndata: 😀 漢字\r\n\r\n".encode(),
        [E("é\n😀 漢字", event="ünï", id="漢")],
        last_event_id="漢",
    ),
    # --- multi-event bodies ---
    "multi_event_stream": Case(
        (
            '\ufeffretry: 10\r\n: ping\r\nevent: delta\r\nid: 1\r\ndata: {"t": "é"}\r\n\r\n'
            'event: delta\nid: 2\ndata: {"t": "漢"}\n\n'
            "data: 🎉\rdata: done\r\r"
            ": keep-alive\n\n"
            "event: end\nid: 3\ndata:\n\n"
        ).encode(),
        [
            E('{"t": "é"}', event="delta", id="1", retry=10),
            E('{"t": "漢"}', event="delta", id="2"),
            E("🎉\ndone", id="2"),
            E("", event="end", id="3"),
        ],
        last_event_id="3",
        retry=10,
    ),
}


def _feed_chunks(chunks: list[bytes]) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events, decoder


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_edge_cases_whole(case: Case) -> None:
    assert decode_sse(case.body) == case.events
    events, decoder = _feed_chunks([case.body])
    assert events == case.events
    assert decoder.last_event_id == case.last_event_id
    assert decoder.retry == case.retry


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_edge_cases_every_split_point(case: Case) -> None:
    body = case.body
    for i in range(len(body) + 1):
        events, decoder = _feed_chunks([body[:i], body[i:]])
        assert events == case.events, f"split at {i}"
        assert decoder.last_event_id == case.last_event_id
        assert decoder.retry == case.retry


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_edge_cases_byte_by_byte(case: Case) -> None:
    events, decoder = _feed_chunks([case.body[i : i + 1] for i in range(len(case.body))])
    assert events == case.events
    assert decoder.last_event_id == case.last_event_id
    assert decoder.retry == case.retry


def test_events_returned_as_soon_as_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [E("a")]
    # A CR ending a chunk is a complete line ending: no need to wait for a possible LF.
    assert decoder.feed(b"data: b\r\r") == [E("b")]
    assert decoder.feed(b"\ndata: c\n\n") == [E("c")]


def test_retry_applies_before_dispatch() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 42\n")
    assert decoder.retry == 42
    assert decoder.last_event_id == ""
    decoder.feed(b"id: x\n")
    assert decoder.last_event_id == ""  # committed only at the blank line
    decoder.feed(b"\n")
    assert decoder.last_event_id == "x"


def test_close_is_idempotent_and_feed_after_close_fails() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n")
    assert decoder.close() == []
    assert decoder.close() == []
    with pytest.raises(RuntimeError):
        decoder.feed(b"\n")


# --- encoder ---


def test_encode_layout() -> None:
    assert encode_sse(data="a\nb", event="ev", id="7", retry=100) == (
        b"id: 7\nevent: ev\nretry: 100\ndata: a\ndata: b\n\n"
    )
    assert encode_sse(data="") == b"data: \n\n"
    assert encode_sse(data="x", id="") == b"id: \ndata: x\n\n"
    assert encode_sse(data="x", event="") == b"data: x\n\n"
    assert encode_sse(data=" lead") == b"data:  lead\n\n"


def test_encode_comment() -> None:
    assert encode_comment("keep-alive") == b": keep-alive\n\n"
    assert decode_sse(encode_comment("keep-alive") + encode_comment()) == []
    with pytest.raises(ValueError, match="CR or LF"):
        encode_comment("a\nb")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"event": "a\nb"}, id="event_lf"),
        pytest.param({"event": "a\rb"}, id="event_cr"),
        pytest.param({"id": "a\nb"}, id="id_lf"),
        pytest.param({"id": "a\r"}, id="id_cr"),
        pytest.param({"id": "a\x00b"}, id="id_nul"),
        pytest.param({"retry": -1}, id="retry_negative"),
        pytest.param({"retry": True}, id="retry_bool"),
        pytest.param({"data": "a\rb"}, id="data_cr"),
        pytest.param({"data": "a\r\nb"}, id="data_crlf"),
        pytest.param({"data": "\ud800"}, id="data_lone_surrogate"),
    ],
)
def test_encode_rejects_unframeable(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"data": "x", **kwargs}
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
        encode_sse(**args)  # type: ignore[arg-type]


# --- property tests ---


def _text(exclude: str, max_size: int) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_categories=["Cs"], exclude_characters=exclude)
    return st.text(alphabet, max_size=max_size)


_line_text = _text("\r\n", 20)
_id_text = _text("\r\n\x00", 20)
_data_text = _text("\r", 40)  # may contain LF: multi-line data


# (data, event, id, retry) as passed to encode_sse.
_Spec = tuple[str, str | None, str | None, int | None]
_event_specs: st.SearchStrategy[_Spec] = st.tuples(
    _data_text,
    st.none() | _line_text,
    st.none() | _id_text,
    st.none() | st.integers(min_value=0, max_value=10**12),
)


def _chunk(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts})
    bounds = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


@given(
    specs=st.lists(_event_specs, max_size=6),
    comments=st.lists(st.none() | _line_text, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
@settings(max_examples=300)
def test_encode_decode_round_trip(
    specs: list[_Spec], comments: list[str | None], cuts: list[int]
) -> None:
    body = b""
    expected: list[ServerSentEvent] = []
    last_id = ""
    for (data, event, id_, retry), comment in itertools.zip_longest(specs, comments[: len(specs)]):
        if comment is not None:
            body += encode_comment(comment)
        body += encode_sse(data=data, event=event, id=id_, retry=retry)
        if id_ is not None:
            last_id = id_
        expected.append(E(data, event=event or "message", id=last_id, retry=retry))
    events, decoder = _feed_chunks(_chunk(body, cuts))
    assert events == expected
    assert decode_sse(body) == expected
    assert decoder.last_event_id == last_id


@given(
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=20),
)
@settings(max_examples=500)
def test_arbitrary_bytes_never_raise_and_chunking_is_irrelevant(
    body: bytes, cuts: list[int]
) -> None:
    whole = decode_sse(body)
    events, _ = _feed_chunks(_chunk(body, cuts))
    assert events == whole


# Bytes biased towards the syntax that matters: field names, separators, line endings,
# BOM pieces and UTF-8 lead/continuation bytes.
_SSE_ATOMS = st.sampled_from(
    [
        *(b"data", b"event", b"id", b"retry", b":", b" ", b"\r", b"\n", b"\r\n", b"1", b"x"),
        *(b"\xef", b"\xbb", b"\xbf", b"\xe6\xbc\xa2", b"\xf0\x9f", b"\x80", b"\xff", b"\x00"),
    ]
)


@given(
    atoms=st.lists(_SSE_ATOMS, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
@settings(max_examples=500)
def test_sse_like_bytes_chunking_is_irrelevant(atoms: list[bytes], cuts: list[int]) -> None:
    body = b"".join(atoms)
    whole = decode_sse(body)
    events, decoder = _feed_chunks(_chunk(body, cuts))
    assert events == whole
    reference, ref_decoder = _feed_chunks([body[i : i + 1] for i in range(len(body))])
    assert reference == whole
    assert (decoder.last_event_id, decoder.retry) == (
        ref_decoder.last_event_id,
        ref_decoder.retry,
    )
