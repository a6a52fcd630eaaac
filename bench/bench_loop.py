"""Chunks per second through the reference loop, with invariant checking, against a bare chain of
async generators moving the same number of items in the same run (the ratio is what to compare
across machines). Also: the wall time that one hour of scripted provider delay costs.

Standard shape (issue #2): 5 steps; steps 1-4 stream 50 reasoning deltas then one tool call in 20
argument fragments; step 5 streams 200 text deltas.

    python bench/bench_loop.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import AsyncIterator, Sequence

from agentsim import (
    Delay,
    FinishChunk,
    FunctionProvider,
    LoopOptions,
    ProviderRequest,
    ReasoningChunk,
    ReferenceLoop,
    RunCompleted,
    RunRequest,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    Toolset,
    Usage,
    UsageChunk,
    UserMessage,
    run_loop,
    run_virtual,
)
from agentsim.scenario._script import StreamItem


def standard_shape() -> list[list[StreamItem]]:
    steps: list[list[StreamItem]] = []
    for step in range(4):
        chunks: list[StreamItem] = [ReasoningChunk(f"thought {i} ") for i in range(50)]
        chunks.append(ToolCallStartChunk(0, f"call_{step}", "lookup"))
        arguments = '{"query": "' + "x" * 40 + '", "page": 1}'
        size = -(-len(arguments) // 20)
        chunks += [
            ToolCallArgsChunk(0, arguments[i : i + size]) for i in range(0, len(arguments), size)
        ]
        chunks += [ToolCallEndChunk(0), UsageChunk(Usage(100, 80)), FinishChunk("tool_calls")]
        steps.append(chunks)
    final: list[StreamItem] = [TextChunk(f"word{i} ") for i in range(200)]
    steps.append([*final, UsageChunk(Usage(300, 200)), FinishChunk("stop")])
    return steps


def lookup(query: str, page: int) -> str:
    return f"{len(query)} results on page {page}"


def count_chunks(script: Sequence[Sequence[StreamItem]]) -> int:
    return sum(1 for step in script for item in step if not isinstance(item, Delay))


async def one_loop_run(script: list[list[StreamItem]]) -> None:
    """One run; `run_loop` checks every invariant on the trace as part of the run."""
    responses = iter(script)
    result = await run_loop(
        ReferenceLoop(),
        request=RunRequest(messages=(UserMessage("go"),), options=LoopOptions(max_steps=10)),
        provider=FunctionProvider(lambda request: next(responses)),
        tools=Toolset([lookup]),
    )
    assert isinstance(result.outcome, RunCompleted)
    assert not result.violations


async def bare_chain(items: int) -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(items):
            yield i

    async def relay(upstream: AsyncIterator[int]) -> AsyncIterator[int]:
        async for item in upstream:
            yield item

    total = 0
    async for item in relay(source()):
        total += item
    assert total == items * (items - 1) // 2


def best_rate(items: int, runs: int, make: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run_virtual(make())  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return items / min(times)


async def hour_of_delay() -> None:
    def respond(request: ProviderRequest) -> list[StreamItem]:
        items: list[StreamItem] = []
        for i in range(60):
            items += [Delay(60.0), TextChunk(f"{i} ")]
        return [*items, FinishChunk("stop")]

    result = await run_loop(
        ReferenceLoop(),
        request=RunRequest(messages=(UserMessage("slow"),), options=LoopOptions(deadline=7200)),
        provider=FunctionProvider(respond),
        tools=Toolset(),
    )
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.t == 3600.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    script = standard_shape()
    chunks = count_chunks(script)
    run_virtual(one_loop_run(script))  # warm up
    loop_rate = best_rate(chunks, args.runs, lambda: one_loop_run(script))
    bare_rate = best_rate(chunks, args.runs, lambda: bare_chain(chunks))
    hour = []
    for _ in range(10):
        started = time.perf_counter()
        run_virtual(hour_of_delay())
        hour.append(time.perf_counter() - started)
    print(
        f"reference loop + invariant checks: {loop_rate:>12,.0f} chunks/s ({chunks} chunks a run)"
    )
    print(f"bare chain of async generators:    {bare_rate:>12,.0f} items/s")
    print(f"ratio loop/bare:                   {loop_rate / bare_rate:>12.3f}  (target >= 0.050)")
    hour_ms = statistics.median(hour) * 1000
    print(f"one hour of scripted delay:        {hour_ms:>12.2f} ms wall (target < 5 ms)")


if __name__ == "__main__":
    main()
