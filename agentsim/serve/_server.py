"""`agentsim serve`: a provider-compatible fake server that plays a scenario to real clients.

It answers OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and Gemini
(``…:streamGenerateContent`` / ``…:generateContent``), streaming or not, with the scenario's chunks
in each API's exact wire format, at the scripted delays in real time (divided by `speed`), so an
unmodified SDK-based agent can be pointed at it by its base URL. What to answer is decided by
`ScenarioPlayback` (shared with the in-process httpx transport); this module only delivers the
reply's bytes at their offsets over HTTP/1.1 (`_http11`).

Choices:

- Loopback by default (``127.0.0.1``); port 0 picks a free port (`url` tells which).
- Offsets are kept against the request's start (each wait is computed from it), so scripted
  timing does not drift with write times.
- A client that disconnects mid-stream, even during a stall, ends that answer at once and the
  connection is closed; the server goes on serving others. A scripted stall hangs until the
  client gives up (its read timeout) or the server stops. A truncated non-streaming answer closes
  the connection mid-body.
- ``strict``: a request failing its scenario check gets the API's own 400 at once instead of
  the scripted stream (`ScenarioPlayback`), so the client fails where the loop went wrong.
- `ScenarioServer` is async (start it on your loop); `serve_scenario` runs one on a background
  thread for synchronous code and tests, and stops it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from agentsim.scenario._schema import Scenario
from agentsim.serve._api_replies import Reply
from agentsim.serve._http11 import Exchange, HttpRequest, HttpService
from agentsim.serve._playback import ScenarioPlayback

__all__ = ["ScenarioServer", "play_reply", "serve_in_thread", "serve_scenario"]


async def play_reply(
    reply: Reply, exchange: Exchange, *, speed: float = 1.0, rid: str = ""
) -> None:
    """Deliver `reply` on `exchange`, each part at its offset divided by `speed`."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def until(offset: float) -> None:
        if math.isinf(offset):
            await exchange.hang()
        delay = start + offset / speed - loop.time()
        if delay > 0:
            await exchange.sleep(delay)

    await until(reply.head_at)
    extra = [("x-request-id", rid), ("request-id", rid)] if rid else []
    await exchange.start(reply.status, [*reply.headers, *extra])
    for offset, piece in reply.pieces:
        await until(offset)
        await exchange.send(piece)
    if reply.stall:
        await exchange.hang()
    if reply.cut:
        exchange.abort()
    await exchange.end()


class ScenarioServer(HttpService):
    """Serves a scenario over HTTP on this event loop: ``async with ScenarioServer(...) as s``.

    `url` is the base URL (append ``/v1`` for the OpenAI SDK). `playback` holds what happened
    (requests, problems, `report()`); `on_request`, when given, is called with a one-line
    summary of each answer (the CLI prints them).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        models: Iterable[str] = (),
        on_request: Callable[[str], None] | None = None,
        strict: bool = False,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        super().__init__(host, port)
        self.playback = ScenarioPlayback(scenario, models=models, strict=strict)
        self.speed = speed
        self.on_request = on_request
        self._ids = itertools.count(1)

    async def handle(self, request: HttpRequest, exchange: Exchange) -> None:
        reply = self.playback.answer(request.method, request.target, request.body)
        rid = f"req_agentsim_{next(self._ids)}"
        if self.on_request is not None:
            path = request.target.split("?")[0]
            self.on_request(f"{request.method} {path} -> {reply.status} ({rid})")
        await play_reply(reply, exchange, speed=self.speed, rid=rid)


@contextlib.contextmanager
def serve_scenario(
    scenario: Scenario | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = 1.0,
    models: Iterable[str] = (),
    strict: bool = False,
) -> Iterator[ScenarioServer]:
    """Run a `ScenarioServer` on a background thread (its own event loop) for the block.

    For synchronous code and tests: ``with serve_scenario("s.yaml") as server: ...server.url``.
    """
    server = ScenarioServer(
        scenario, host=host, port=port, speed=speed, models=models, strict=strict
    )
    with serve_in_thread(server):
        yield server


S = TypeVar("S", bound=HttpService)


@contextlib.contextmanager
def serve_in_thread(service: S) -> Iterator[S]:
    """Run any `HttpService` (server, proxy) on a background thread with its own event loop
    for the block; it is closed (the proxy writes what it has) before the block is left."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(service.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(service.close())
        loop.close()

    thread = threading.Thread(target=run, name="agentsim-serve", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        loop.close()
        raise failure[0]
    try:
        yield service
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
