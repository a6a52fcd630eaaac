"""Fuzz examples per second against the FastAPI example (examples/fastapi_agent: the unmodified
app, its openai SDK calls intercepted, its Vercel stream decoded live and checked), and, in the
same run, the reference loop's rate on the same scenarios, as a ratio. Goal (issue 16): at least
200 examples/s for the app.

What bounds that rate is printed alongside, measured in the same run on the same examples:

- **the floor**: the same app and SDK serving the same examples with agentsim doing the least
  possible - each provider request answered with the very bytes the fuzz run sent it (recorded
  first), by a bare patch of the SDK's transport; the app called as raw ASGI, no checks, one
  event loop. That is what the app, FastAPI, pydantic and the openai SDK cost on their own;
  ``1000 / floor`` is the rate a harness that cost nothing could reach.
- **making the cases**: hypothesis drawing the same examples with nothing run (what any fuzzed
  loop, the reference loop included, pays per example).
- agentsim's share is the fuzz run minus the floor; the rest of it is the harness, the
  intercept, the live decoding and the checks.

Also what one provider request through the SDK and the intercept costs on its own, vs the same
bytes with no agentsim. Times are CPU seconds of this process (the machine is shared), medians
of `--rounds` rounds.

    python bench/bench_endpoint.py [--examples N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agentsim.fuzz._isolation import isolated_search, search_settings
from agentsim.fuzz._search import PROPERTIES, _find, search
from agentsim.fuzz._strategies import scenarios

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_agent"
_SEED = 1
Canned = tuple[int, tuple[tuple[str, str], ...], bytes]  # status, headers, body of one reply


def _default_steps(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "options": {k: v for k, v in data.get("options", {}).items() if k != "max_steps"},
    }


def _strategy() -> st.SearchStrategy[dict[str, Any]]:
    return scenarios(
        inject_faults=False, cancellation=False, hooks=False, limits=False, timing=False
    ).map(_default_steps)


def _cpu(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def _fuzz(loop: Any, examples: int) -> None:
    found = search("run", loop, examples=examples, seed=_SEED, shrink=False, strategy=_strategy())
    assert found.failure is None, found.failure.lines()
    assert found.examples == examples, found.examples


def _generate(examples: int) -> None:
    """Hypothesis drawing the fuzz run's cases, with nothing run."""
    cases = st.tuples(_strategy(), PROPERTIES["run"].param)
    config = search_settings(max_examples=examples, shrink=False)
    drawn = 0

    def condition(_: object) -> bool:
        nonlocal drawn
        drawn += 1
        return False

    with isolated_search():
        try:
            _find(cases, condition, config=config, seed=_SEED, key=None)
        except Exception as exc:  # NoSuchExample: nothing failed, as intended
            if type(exc).__name__ != "NoSuchExample":
                raise
    assert drawn == examples, drawn


# -- the floor: the same examples, the same bytes, no agentsim ------------------------------------


def _record(loop: Any, examples: int) -> list[tuple[str, list[Canned]]]:
    """Each example's input text and the replies the intercept sent it, from a fuzz run with the
    bench's seed (the same cases as the timed runs)."""
    from agentsim.adapters import _loops
    from agentsim.adapters._live import input_text
    from agentsim.serve import _intercept

    recorded: list[tuple[str, list[Canned]]] = []
    render, run = _intercept._ProviderTransport._render, _loops.AdapterLoop.run

    def rendering(self: Any, call: Any, items: Any) -> Any:
        reply = render(self, call, items)
        body = b"".join(piece for _, piece in reply.pieces)
        recorded[-1][1].append((reply.status, reply.headers, body))
        return reply

    def running(self: Any, request: Any, **kwargs: Any) -> Any:
        recorded.append((input_text(request), []))
        return run(self, request, **kwargs)

    _intercept._ProviderTransport._render = rendering  # type: ignore[method-assign]
    _loops.AdapterLoop.run = running  # type: ignore[method-assign]
    try:
        _fuzz(loop, examples)
    finally:
        _intercept._ProviderTransport._render = render  # type: ignore[method-assign]
        _loops.AdapterLoop.run = run  # type: ignore[method-assign]
    return recorded[-examples:]


async def _call_app(app: Any, text: str) -> None:
    """POST {"message": text} to /api/chat as raw ASGI and read the whole answer."""
    body = json.dumps({"message": text}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/chat",
        "raw_path": b"/api/chat",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    async def send(message: Any) -> None:
        pass

    await app(scope, receive, send)


def _floor(app: Any, recorded: list[tuple[str, list[Canned]]]) -> float:
    """CPU seconds the app and its SDK take to serve the recorded examples from canned bytes."""
    import httpx2

    waiting: list[Canned] = []

    async def answer(self: Any, request: Any) -> Any:
        await request.aread()
        status, headers, content = waiting.pop(0)
        return httpx2.Response(status, headers=list(headers), content=content, request=request)

    original = httpx2.AsyncHTTPTransport.handle_async_request
    httpx2.AsyncHTTPTransport.handle_async_request = answer  # type: ignore[method-assign]
    loop = asyncio.new_event_loop()
    try:

        def serve() -> None:
            for text, replies in recorded:
                waiting[:] = replies
                loop.run_until_complete(_call_app(app, text))
                assert not waiting, "the app made fewer requests than in the fuzz run"

        return _cpu(serve)
    finally:
        httpx2.AsyncHTTPTransport.handle_async_request = original  # type: ignore[method-assign]
        gc.collect()  # the SDK's abandoned streams: their finalizers are tasks on this loop
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


# -- one request ---------------------------------------------------------------------------------

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

        def requests() -> None:
            for _ in range(rounds):
                loop.run_until_complete(once())

        return _cpu(requests) / rounds * 1000
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.examples
    os.environ.setdefault("OPENAI_API_KEY", "sk-agentsim-bench")
    sys.path.insert(0, str(EXAMPLE))
    from app import app as fastapi_app
    from spec import loop

    _fuzz(lambda: loop, 20)  # warm up imports and caches
    recorded = _record(lambda: loop, n)
    requests = sum(len(replies) for _, replies in recorded)
    times: dict[str, list[float]] = {"app": [], "reference": [], "floor": [], "cases": []}
    for _ in range(args.rounds):  # interleaved, so that a busy moment hits all alike
        times["app"].append(_cpu(lambda: _fuzz(lambda: loop, n)))
        times["reference"].append(_cpu(lambda: _fuzz(None, n)))
        times["floor"].append(_floor(fastapi_app, recorded))
        times["cases"].append(_cpu(lambda: _generate(n)))
    ms = {k: statistics.median(v) / n * 1000 for k, v in times.items()}
    share = ms["app"] - ms["floor"]
    print(f"{n} examples ({requests / n:.2f} provider requests each), CPU ms per example:")
    print(f"fuzz run, FastAPI example:   {1000 / ms['app']:8.1f} examples/s (goal >= 200)")
    print(f"fuzz run, reference loop:    {1000 / ms['reference']:8.1f} examples/s (same scenarios)")
    print(f"ratio app / reference:       {ms['reference'] / ms['app']:8.3f}")
    print(f"  fuzz run, FastAPI example: {ms['app']:8.2f} ms")
    print(f"  floor: app + SDK alone:    {ms['floor']:8.2f} ms (same examples and bytes)")
    print(f"  making the cases:          {ms['cases']:8.2f} ms (hypothesis, nothing run)")
    print(f"  agentsim's share:          {share:8.2f} ms (fuzz run - floor)")
    print(f"ratio floor / fuzz run:      {ms['floor'] / ms['app']:8.3f}")
    print(f"rate bound, agentsim free:   {1000 / ms['floor']:8.1f} examples/s (1000 / floor)")
    intercepted, bare = _sdk_request_ms(), _sdk_bare_request_ms()
    print(f"one SDK request + intercept: {intercepted:8.2f} ms")
    print(f"the same, SDK alone:         {bare:8.2f} ms (same bytes, no agentsim)")
    print(f"ratio intercept / SDK alone: {intercepted / bare:8.3f}")


if __name__ == "__main__":
    main()
