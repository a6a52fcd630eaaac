"""A request record's chunks (`ChunkTimes`) read as the tuple of `ChunkAt`s they stand for."""

from __future__ import annotations

import pytest

from agentsim import run_scenario
from agentsim.core._chunks import Chunk, FinishChunk, TextChunk
from agentsim.harness._recording import ChunkAt, ChunkTimes
from agentsim.scenario._schema import parse_scenario


def test_chunk_times_are_the_tuple_of_their_chunks_at_their_times() -> None:
    chunks: tuple[Chunk, ...] = (TextChunk("a"), TextChunk("b"), FinishChunk("stop"))
    times = (0.0, 0.5, 0.5)
    seq = ChunkTimes(chunks, times)
    expected = tuple(ChunkAt(t, c) for t, c in zip(times, chunks, strict=True))
    assert len(seq) == 3
    assert tuple(seq) == expected
    assert seq == expected
    assert seq == ChunkTimes(list(chunks), list(times))
    assert seq != ChunkTimes(chunks, (0.0, 0.5, 0.6))
    assert seq != list(expected)
    assert hash(ChunkTimes()) == hash(())
    assert repr(seq) == repr(expected)
    assert seq[-1] == expected[-1]
    assert seq[1:] == expected[1:]
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(ValueError, match="one time per chunk"):
        ChunkTimes(chunks, times[:2])


def test_a_run_records_each_chunk_once_at_the_time_it_was_handed_over() -> None:
    scenario = parse_scenario(
        {
            "input": "hi",
            "requests": [
                {"chunks": [{"text": "a"}, {"delay": 0.5, "text": "b"}, {"finish": "stop"}]}
            ],
        }
    )
    result = run_scenario(scenario)
    assert result.recording is not None
    (record,) = result.recording.requests
    assert [(c.t, c.chunk) for c in record.chunks] == [
        (0.0, TextChunk("a")),
        (0.5, TextChunk("b")),
        (0.5, FinishChunk("stop")),
    ]
