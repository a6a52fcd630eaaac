"""Fuzz examples per second against the FastAPI example (examples/fastapi_agent: the unmodified
app, its openai SDK calls intercepted, its Vercel stream decoded live and checked), and, in the
same run, the reference loop's rate on the same scenarios, as a ratio. Goal (issue 16): at least
200 examples/s for the app. Also what one provider request through the SDK and the intercept
costs on its own, which bounds what agentsim can reach for an SDK app.

    python bench/bench_endpoint.py [--examples N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from agentsim.fuzz._search import search
from agentsim.fuzz._strategies import scenarios

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_agent"


def _default_steps(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "options": {k: v for k, v in data.get("options", {}).items() if k != "max_steps"},
    }


def _rate(loop: Any, examples: int) -> float:
    strategy = scenarios(
        inject_faults=False, cancellation=False, hooks=False, limits=False, timing=False
    ).map(_default_steps)
    started = time.perf_counter()
    found = search("run", loop, examples=examples, seed=1, shrink=False, strategy=strategy)
    elapsed = time.perf_counter() - started
    assert found.failure is None, found.failure.lines()
    return found.examples / elapsed


_CHUNKS = ("Hel", "lo")


def _request_ms(rounds: int) -> float:
    """Milliseconds one streamed Chat Completions request through the openai SDK takes, on the
    virtual loop, answered by whatever is patched in at the time."""
    import openai

    from agentsim import VirtualEventLoop

    client = openai.AsyncOpenAI()

    async def once() -> None:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _ in stream:
            pass

    loop = VirtualEventLoop()
    try:
        loop.run_until_complete(once())
        started = time.perf_counter()
        for _ in range(rounds):
            loop.run_until_complete(once())
        return (time.perf_counter() - started) / rounds * 1000
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def _sdk_request_ms(rounds: int = 200) -> float:
    """The request answered by agentsim's intercept from a provider."""
    from agentsim import FinishChunk, FunctionProvider, TextChunk
    from agentsim.serve import intercept

    chunks = [*(TextChunk(t) for t in _CHUNKS), FinishChunk("stop")]
    with intercept(FunctionProvider(lambda _: chunks)):
        return _request_ms(rounds)


def _sdk_bare_request_ms(rounds: int = 200) -> float:
    """The same request answered with the same bytes, precomputed, by a bare patch of the
    transport method the intercept patches too: what the SDK costs with no agentsim at all."""
    import httpx2

    from agentsim import FinishChunk, TextChunk
    from agentsim.wire._registry import encode_stream

    body = encode_stream("openai-chat", [*(TextChunk(t) for t in _CHUNKS), FinishChunk("stop")])
    headers = {"content-type": "text/event-stream"}

    async def answer(self: Any, request: Any) -> Any:
        return httpx2.Response(200, headers=headers, content=body, request=request)

    original = httpx2.AsyncHTTPTransport.handle_async_request
    httpx2.AsyncHTTPTransport.handle_async_request = answer  # type: ignore[method-assign]
    try:
        return _request_ms(rounds)
    finally:
        httpx2.AsyncHTTPTransport.handle_async_request = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-agentsim-bench")
    sys.path.insert(0, str(EXAMPLE))
    from spec import loop

    _rate(lambda: loop, 20)  # warm up imports and caches
    app = _rate(lambda: loop, args.examples)
    reference = _rate(None, args.examples)
    print(f"fuzz run, FastAPI example:   {app:8.1f} examples/s (goal >= 200)")
    print(f"fuzz run, reference loop:    {reference:8.1f} examples/s (same scenarios)")
    print(f"ratio app / reference:       {app / reference:8.3f}")
    intercepted, bare = _sdk_request_ms(), _sdk_bare_request_ms()
    print(f"one SDK request + intercept: {intercepted:8.2f} ms")
    print(f"the same, SDK alone:         {bare:8.2f} ms (same bytes, no agentsim)")
    print(f"ratio intercept / SDK alone: {intercepted / bare:8.3f}")


if __name__ == "__main__":
    main()
