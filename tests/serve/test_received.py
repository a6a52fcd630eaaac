"""`Received`: the chunks a client was sent, read from the delivered bytes only when looked at,
must be exactly what decoding each piece as it was delivered gives, at any moment."""

from __future__ import annotations

from agentsim.core._chunks import (
    Chunk,
    FinishChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallStartChunk,
)
from agentsim.serve._intercept import Received
from agentsim.wire._base import WireFormatError
from agentsim.wire._registry import decoder_for, encode_stream

CHUNKS: list[Chunk] = [
    TextChunk("Hel"),
    TextChunk("lo"),
    ToolCallStartChunk(0, "c1", "lookup"),
    ToolCallArgsChunk(0, '{"q": 1}'),
    FinishChunk("tool_calls"),
]


def _pieces(body: bytes) -> list[bytes]:
    return [event + b"\n\n" for event in body.split(b"\n\n") if event]


def _eager(pieces: list[bytes], *, ended: bool) -> list[Chunk]:
    decoder, out = decoder_for("openai-chat"), []
    try:
        for piece in pieces:
            out.extend(decoder.feed(piece))
        if ended:
            out.extend(decoder.close())
    except WireFormatError:
        pass
    return out


def test_a_look_at_any_moment_gives_what_was_delivered_so_far() -> None:
    pieces = _pieces(encode_stream("openai-chat", CHUNKS))
    received = Received()
    received.decoder = decoder_for("openai-chat")
    for number, piece in enumerate(pieces, start=1):
        received.deliver(piece)
        if number % 2:  # looked at now and then, as a consumer might
            assert list(received) == _eager(pieces[:number], ended=False)
    received.end()
    assert list(received) == _eager(pieces, ended=True)
    assert len(received) == len(list(received)) > 0
    assert received[-1] == list(received)[-1]


def test_bytes_that_are_not_the_apis_format_stop_the_reading_there() -> None:
    pieces = _pieces(encode_stream("openai-chat", CHUNKS))
    broken = [*pieces[:2], b"data: {not json\n\n", *pieces[2:]]
    received = Received()
    received.decoder = decoder_for("openai-chat")
    for piece in broken:
        received.deliver(piece)
    received.end()
    assert list(received) == _eager(pieces[:2], ended=False) != []
    assert list(received) == _eager(broken, ended=True)


def test_nothing_delivered_reads_as_nothing() -> None:
    received = Received()
    received.deliver(b"data: {}\n\n")  # no decoder: an answer that is not read (an error reply)
    assert list(received) == []
    assert len(received) == 0
