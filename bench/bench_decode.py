"""Decode throughput per provider API, against a plain `json.loads` of the same payloads in the
same run (the ratio is what to compare across machines).

The stream is each API's encoding of the same realistic response (reasoning, text, two parallel
tool calls with arguments in small fragments, usage, finish), fed in 256-byte pieces.

    python bench/bench_decode.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence

from agentsim import (
    Chunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    Usage,
    UsageChunk,
)
from agentsim.sse import decode_sse
from agentsim.wire._base import API_NAMES
from agentsim.wire._registry import decoder_for, encode_stream


def response() -> list[Chunk]:
    chunks: list[Chunk] = [ReasoningChunk(f"step {i} of the plan; ") for i in range(300)]
    chunks += [TextChunk(f"word{i} ") for i in range(600)]
    for index in (0, 1):
        chunks.append(ToolCallStartChunk(index, f"call_{index}", "search"))
        arguments = json.dumps({"query": "é" * 50 + f" {index}", "limit": 10})
        chunks += [
            ToolCallArgsChunk(index, arguments[i : i + 7]) for i in range(0, len(arguments), 7)
        ]
        chunks.append(ToolCallEndChunk(index))
    return [*chunks, UsageChunk(Usage(1200, 900, 300)), FinishChunk("tool_calls")]


def payloads(body: bytes) -> list[str]:
    """The JSON payloads of an SSE body (what a bare json.loads baseline parses)."""
    return [e.data for e in decode_sse(body) if e.data.startswith("{")]


def best(runs: int, work: Callable[[], object]) -> float:
    """The best of `runs` timings, in CPU seconds of this process (on a shared machine, wall
    time mostly measures the other processes)."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    chunks = response()
    print(f"{'api':<18}{'MB/s':>9}{'chunks/s':>12}{'json.loads MB/s':>17}{'ratio':>8}")
    for api in API_NAMES:
        body = encode_stream(api, chunks)
        pieces = [body[i : i + 256] for i in range(0, len(body), 256)]
        data = payloads(body)

        def decode(api: str = api, pieces: list[bytes] = pieces) -> int:
            decoder = decoder_for(api)  # type: ignore[arg-type]
            count = 0
            for piece in pieces:
                count += len(decoder.feed(piece))
            return count + len(decoder.close())

        def baseline(data: list[str] = data) -> None:
            for text in data:
                json.loads(text)

        produced = decode()
        seconds, base = best(args.runs, decode), best(args.runs, baseline)
        mb = len(body) / 1e6
        print(
            f"{api:<18}{mb / seconds:>9.1f}{produced / seconds:>12,.0f}"
            f"{mb / base:>17.1f}{base / seconds:>8.2f}"
        )
    print("ratio = decoder throughput / json.loads throughput on the same payloads")


if __name__ == "__main__":
    main()
