"""An httpx transport that plays a scenario in-process: the official SDKs, no server, virtual time.

``ScenarioTransport("case.yaml")`` is handed to the SDK's HTTP client (``http_client=
httpx2.AsyncClient(transport=...)`` for openai / anthropic, ``HttpOptions(httpx_async_client=
...)`` for google-genai). Every request is answered by the same `ScenarioPlayback` as `agentsim
serve`, so the bytes, the checks and the strictness are the server's; only the delivery differs.

Choices:

- **Async: delays are sleeps on the running loop, asyncio's or trio's.** On a `VirtualEventLoop`
  (``run_virtual``, or ``asyncio.Runner(loop_factory=VirtualEventLoop)``), or on trio with
  ``trio.testing.MockClock(autojump_threshold=0)``, a scripted minute costs nothing and the run
  is deterministic; on an ordinary loop the delays are real (over `speed`). trio is told apart by
  asyncio having no running loop, and imported only then.
- **Sync: no clock to advance**, so pieces come back at once, in the same order and boundaries;
  time is still accounted for (see timeouts).
- **The client's read timeout is honoured**, as httpcore would on a socket: httpx leaves timeouts
  to the transport. A scripted gap longer than the request's read timeout raises the SDK's
  ``ReadTimeout`` after waiting the timeout (async) or at once (sync, as if it had waited); a
  stall ends the same way, or, with no read timeout, waits forever: on a virtual loop that is a
  `DeadlockError`, and in sync code it is raised directly. A truncated non-streaming answer
  raises ``RemoteProtocolError``, as a connection closed mid-body does.
- **httpx and httpx2 alike.** The current SDKs use httpx2 (the httpx fork under its own name);
  older ones use httpx. The response is built from the module of the request it answers, so one
  transport serves clients of either. For type checkers it is an httpx2 transport.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentsim.core._virtual_loop import DeadlockError
from agentsim.scenario._schema import Scenario
from agentsim.serve._api_replies import Reply
from agentsim.serve._playback import ScenarioPlayback

if TYPE_CHECKING:
    import httpx2
    from httpx2 import AsyncBaseTransport as _AsyncBase
    from httpx2 import BaseTransport as _SyncBase
else:

    def _bases() -> tuple[type, type]:
        for name in ("httpx2", "httpx"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            return module.BaseTransport, module.AsyncBaseTransport
        return type("_NoSyncBase", (), {}), type("_NoAsyncBase", (), {})  # neither installed

    _SyncBase, _AsyncBase = _bases()

__all__ = ["ScenarioTransport"]


def _module(request: Any) -> ModuleType:
    """httpx or httpx2: whichever built `request`."""
    return sys.modules[type(request).__module__.partition(".")[0]]


def _read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read")
    return None if value is None else float(value)


async def _sleep(seconds: float) -> None:
    """Sleep on the running event loop, asyncio's or trio's; `math.inf` is forever."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        await trio.sleep(seconds)
        return
    if math.isinf(seconds):
        await loop.create_future()
    else:
        await asyncio.sleep(seconds)


class _Pieces:
    """A response body: the reply's pieces, as a sync or an async stream (mixed into the module's
    `SyncByteStream` / `AsyncByteStream`, which httpx checks with isinstance)."""

    def __init__(
        self, sync: Iterator[bytes] | None = None, async_: AsyncIterator[bytes] | None = None
    ) -> None:
        self._sync = sync
        self._async = async_

    def __iter__(self) -> Iterator[bytes]:
        assert self._sync is not None, "an async response read from a sync client"
        yield from self._sync

    def close(self) -> None:
        close = getattr(self._sync, "close", None)
        if close is not None:
            close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._async is not None, "a sync response read from an async client"
        async for piece in self._async:
            yield piece

    async def aclose(self) -> None:
        aclose = getattr(self._async, "aclose", None)
        if aclose is not None:
            await aclose()


_STREAM_TYPES: dict[str, type[_Pieces]] = {}


def _pieces(module: ModuleType, **streams: Any) -> _Pieces:
    kind = _STREAM_TYPES.get(module.__name__)
    if kind is None:
        bases = (_Pieces, module.SyncByteStream, module.AsyncByteStream)
        kind = _STREAM_TYPES[module.__name__] = type("AgentsimPieces", bases, {})
    return kind(**streams)


class ScenarioTransport(_SyncBase, _AsyncBase):
    """Answers an httpx / httpx2 client's requests from a scenario, in-process.

    `playback` holds what happened: ``transport.playback.report()``, ``.problems``, ``.passed``.
    """

    def __init__(
        self, scenario: Scenario | str | Path, *, speed: float = 1.0, models: Iterable[str] = ()
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        self.playback = ScenarioPlayback(scenario, models=models)
        self.speed = speed

    def _reply(self, request: Any) -> Reply:
        target = request.url.raw_path.decode("ascii")
        return self.playback.answer(request.method, target, request.content)

    def _response(self, request: Any, reply: Reply, stream: _Pieces) -> Any:
        return _module(request).Response(reply.status, headers=list(reply.headers), stream=stream)

    @staticmethod
    def _timed_out(request: Any, waited: float) -> Exception:
        message = f"agentsim: the scripted answer waits longer than the read timeout ({waited:g} s)"
        error: Exception = _module(request).ReadTimeout(message, request=request)
        return error

    # -- sync --------------------------------------------------------------------------------------

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        reply = self._reply(request)
        timeout = _read_timeout(request)
        if timeout is not None and reply.head_at / self.speed > timeout:
            raise self._timed_out(request, timeout)
        if math.isinf(reply.head_at):
            raise DeadlockError(
                "deadlock: the scripted answer never comes and the client has no read timeout"
            )
        body = self._sync_body(request, reply, timeout)
        response: httpx2.Response = self._response(
            request, reply, _pieces(_module(request), sync=body)
        )
        return response

    def _sync_body(self, request: Any, reply: Reply, timeout: float | None) -> Iterator[bytes]:
        previous = reply.head_at
        for offset, piece in reply.pieces:
            if timeout is not None and (offset - previous) / self.speed > timeout:
                raise self._timed_out(request, timeout)
            previous = offset
            yield piece
        if reply.stall:
            if timeout is None:
                raise DeadlockError(
                    "deadlock: the scripted answer stalls and the client has no read timeout"
                )
            raise self._timed_out(request, timeout)
        if reply.cut:
            raise self._cut(request)

    @staticmethod
    def _cut(request: Any) -> Exception:
        message = "peer closed connection without sending complete message body (agentsim)"
        error: Exception = _module(request).RemoteProtocolError(message, request=request)
        return error

    # -- async -------------------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        reply = self._reply(request)
        timeout = _read_timeout(request)
        await self._wait(request, reply.head_at, timeout)
        body = self._async_body(request, reply, timeout)
        stream = _pieces(_module(request), async_=body)
        response: httpx2.Response = self._response(request, reply, stream)
        return response

    async def _wait(self, request: Any, gap: float, timeout: float | None) -> None:
        seconds = gap / self.speed
        if timeout is not None and seconds > timeout:
            await _sleep(timeout)
            raise self._timed_out(request, timeout)
        if seconds > 0:
            await _sleep(seconds)  # forever for a stalled server

    async def _async_body(
        self, request: Any, reply: Reply, timeout: float | None
    ) -> AsyncIterator[bytes]:
        previous = reply.head_at
        for offset, piece in reply.pieces:
            await self._wait(request, offset - previous, timeout)
            previous = offset
            yield piece
        if reply.stall:
            await self._wait(request, math.inf, timeout)
        if reply.cut:
            raise self._cut(request)
