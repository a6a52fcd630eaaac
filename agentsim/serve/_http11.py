"""A small HTTP/1.1 server on asyncio streams and h11, for `agentsim serve` and `agentsim record`.

Why h11: it is the sans-IO HTTP/1.1 state machine (the model for agentsim's own codecs), pure
Python, tiny, already installed wherever httpx/httpcore is (so wherever the provider SDKs are),
and it does the parts that are easy to get wrong by hand: request framing, chunked bodies,
keep-alive, pipelining, and protocol errors with the right status. A framework (starlette plus
uvicorn, aiohttp) would add dependencies and an event-loop policy of its own for what is one
handler per request; asyncio's streams give the I/O and the cancellation agentsim needs.

Design:

- One task per connection; requests on it are served in order (keep-alive). The handler gets
  the whole request (`HttpRequest`, body read and size-limited) and an `Exchange` to answer with
  (`start`, `send`, `end`), streaming as it goes: each `send` is written and drained.
- A client that disconnects mid-answer is noticed at once, even while the handler waits (a scripted
  delay, a stall, an upstream read): `Exchange.race(awaitable)` waits for the awaitable and for
  the connection's next read at the same time, and raises `ClientGone` on end of file. Bytes the
  client pipelines meanwhile are kept for its next request. `ClientGone` ends the connection
  quietly; any other handler error becomes a 500 (or, mid-answer, a closed connection) and is
  logged: the server keeps serving.
- Malformed HTTP gets h11's status hint (400, 413, 431 ...) and the connection is closed.
- `close()` stops listening, cancels every connection task and waits for them: a clean stop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import h11

__all__ = ["ClientGone", "Exchange", "HttpRequest", "HttpServer", "HttpService"]

T = TypeVar("T")
log = logging.getLogger("agentsim.http")

MAX_BODY = 32 * 1024 * 1024
_READ = 65536


class ClientGone(Exception):
    """The client closed the connection before the answer was complete."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...]  # names lower-cased
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)
        self.pending: asyncio.Task[bytes] | None = None  # a read started while answering

    async def read(self) -> bytes:
        task, self.pending = self.pending, None
        if task is not None:
            return await task
        return await self.reader.read(_READ)

    def watch(self) -> asyncio.Task[bytes]:
        if self.pending is None:
            self.pending = asyncio.ensure_future(self.reader.read(_READ))
        return self.pending

    async def write(self, data: bytes | None) -> None:
        if data:
            try:
                self.writer.write(data)
                await self.writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise ClientGone(str(exc)) from None

    def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
        self.writer.close()


class Exchange:
    """Answering one request: status and headers, body pieces, end; with disconnect detection."""

    def __init__(self, connection: _Connection) -> None:
        self._c = connection
        self.started = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.started = True
        await self._c.write(self._c.h11.send(h11.Response(status_code=status, headers=headers)))

    async def send(self, data: bytes) -> None:
        if data:
            await self._c.write(self._c.h11.send(h11.Data(data=data)))

    async def end(self) -> None:
        await self._c.write(self._c.h11.send(h11.EndOfMessage()))

    async def race(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless the client goes away first (then `ClientGone`)."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                watch = self._c.watch()
                await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    return task.result()
                self._c.pending = None
                try:
                    data = watch.result()
                except ConnectionError:
                    data = b""
                if not data:
                    raise ClientGone("the client closed the connection")
                self._c.h11.receive_data(data)  # pipelined: kept for the next request
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def abort(self) -> None:
        """Close the connection now, leaving the answer incomplete."""
        raise ClientGone("the answer was cut short on purpose")

    async def sleep(self, seconds: float) -> None:
        await self.race(asyncio.sleep(max(seconds, 0.0)))

    async def hang(self) -> None:
        """Wait until the client goes away (or the server stops)."""
        await self.race(asyncio.get_running_loop().create_future())


Handler = Callable[[HttpRequest, Exchange], Awaitable[None]]


class HttpServer:
    """Serves `handler` on a TCP address until `close()`."""

    def __init__(self, handler: Handler, *, max_body: int = MAX_BODY) -> None:
        self._handler = handler
        self._max_body = max_body
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = _Connection(reader, writer)
        try:
            while await self._one(connection):
                connection.h11.start_next_cycle()
        except (ClientGone, ConnectionError):
            pass  # the client left: there is no one to answer, and nothing is lost
        except asyncio.CancelledError:
            # `close()` cancels the connections it waits for; ending quietly here is the point,
            # as asyncio's stream callback would log a cancelled task as an error.
            pass
        except h11.ProtocolError as exc:
            log.debug("HTTP protocol error: %s", exc)
        finally:
            connection.close()
            self._tasks.discard(task)

    async def _one(self, c: _Connection) -> bool:
        """Serve one request; False when the connection is done."""
        try:
            request = await self._request(c)
        except h11.RemoteProtocolError as exc:
            if c.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                await self._plain(c, status, f"malformed HTTP request: {exc}")
            return False
        if request is None:
            return False
        exchange = Exchange(c)
        try:
            await self._handler(request, exchange)
        except (ClientGone, ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("error while answering %s %s", request.method, request.target)
            if exchange.started:
                return False
            await self._plain(c, 500, "agentsim: internal error (see the server's log)")
        return c.h11.our_state is h11.DONE and c.h11.their_state is h11.DONE

    async def _request(self, c: _Connection) -> HttpRequest | None:
        head: h11.Request | None = None
        body: list[bytes] = []
        size = 0
        while True:
            event = c.h11.next_event()
            if event is h11.NEED_DATA:
                c.h11.receive_data(await c.read())
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max_body:
                    raise h11.RemoteProtocolError("request body too large", 413)
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = tuple((k.decode().lower(), v.decode("latin-1")) for k, v in head.headers)
                target = head.target.decode("latin-1")
                return HttpRequest(head.method.decode(), target, headers, b"".join(body))

    async def _plain(self, c: _Connection, status: int, message: str) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
        body = json.dumps({"error": error}).encode()
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        exchange = Exchange(c)
        with contextlib.suppress(h11.LocalProtocolError):
            await exchange.start(status, headers)
            await exchange.send(body)
            await exchange.end()


class HttpService(abc.ABC):
    """One HTTP/1.1 service on one address: `start()`, `close()`, `url`, ``async with``.

    What the fake server and the recording proxy share; subclasses implement `handle`.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.started = False
        self._http = HttpServer(self.handle)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``."""
        host, port = self._http.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> str:
        await self._http.start(self.host, self.port)
        self.started = True
        return self.url

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def handle(self, request: HttpRequest, exchange: Exchange) -> None:
        """Answer one request through `exchange` (the fake server plays, the proxy forwards)."""
