"""Intercepting unmodified code's provider calls: ``with agentsim.intercept(source): ...``.

Every request an httpx or httpx2 client sends to a provider API is answered in-process from
`source` (a scenario or its file, a `ScenarioPlayback`, or any `Provider`), in the API's exact wire
format, on the running loop's clock. Nothing in the code under test changes: a module-level
``client = AsyncOpenAI()`` built before the interception started is covered too.

Choices:

- **Patch the transport classes, as respx does.** respx (``respx.mocks.HTTPXMocker``) patches
  ``httpx.HTTPTransport.handle_request`` / ``AsyncHTTPTransport.handle_async_request``; clients
  hold instances of those classes, so patching the class reaches clients created at import time.
  We do the same for httpx and httpx2 (the SDKs' own fork), once, refcounted, and restore the
  originals when the last interception ends.
- **Which requests.** Those to the official API hosts (`OFFICIAL_HOSTS`) and to the base URLs the
  user names (scheme, host, port and path prefix). Anything else goes to the original transport,
  so inside a simulated run the network guard refuses it, as it does today.
- **Who answers, per context.** The active source lives in a context variable (so an adapter's
  app task, and the tasks it starts, see the run's own source and concurrent runs never mix),
  with a process-wide stack as fallback for code in other threads or contexts.
- **The API comes from the request path**, as `agentsim serve` routes it (`_api_requests`).
- **Sources.** A scenario is played by `ScenarioPlayback`, byte for byte as the server and
  `ScenarioTransport` play it. A `ScriptedProvider` (what the harness hands a loop) is played the
  same way from its script, claiming entries, checking requests and firing its cancellation point
  exactly as its own ``stream`` does (the cancel comes when the client waits for that chunk, and
  the chunk never arrives). Any other `Provider` is asked with the request decoded into a
  `ProviderRequest`; its chunks are pulled on the loop's clock, but since the wire encoders work
  on whole responses, the answer is delivered when its stream ends (scripted sources are
  delivered at their exact offsets). `requests` keeps each provider request with the chunks the
  client was actually sent (the delivered bytes, read back by the API's decoder when first
  looked at: `Received`; most responses never are).
- **Nested runs.** A request made in a context where a `NestedScope` is set (`nested_scope`: an
  adapter sets one while a tool call runs, so an agent the tool delegates to, and the tasks it
  starts, see it) is answered from the same source, in the order requests are made, but recorded
  in the scope, not in `requests`: the run's steps and history are its own requests only. A
  scripted scenario's ``requests`` therefore holds the parent's and the nested agent's answers
  interleaved, in the order the code asks for them.
- **What the API cannot say is not said.** Anthropic and Gemini always send a call's arguments
  as a JSON object; a generated response whose arguments are not one is answered with a 500 in
  the API's shape and recorded as a script problem (not the code's failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, overload
from urllib.parse import urlsplit

from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    FinishChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
)
from agentsim.core._history import Message
from agentsim.core._tools import ToolSpec
from agentsim.harness._recording import unwrapped
from agentsim.loop._protocol import Provider, ProviderError, ProviderRequest
from agentsim.scenario._schema import Scenario
from agentsim.scenario._script import (
    Delay,
    Malformed,
    Reset,
    RetryAfter,
    ScriptedProvider,
    Stall,
    StreamItem,
    _check_request,
)
from agentsim.serve._api_replies import Reply, error_reply, scripted_reply
from agentsim.serve._api_requests import ApiCall, Rejection, parse_call, request_messages
from agentsim.serve._playback import ScenarioPlayback, _step
from agentsim.serve._transport import ScenarioTransport, _pieces
from agentsim.wire._base import ApiName, StreamDecoder, WireFormatError
from agentsim.wire._registry import decoder_for

__all__ = [
    "OFFICIAL_HOSTS",
    "Interception",
    "NestedScope",
    "Received",
    "intercept",
    "nested_scope",
]

OFFICIAL_HOSTS = ("api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com")
_ACTIVE: contextvars.ContextVar[_Answerer | None] = contextvars.ContextVar(
    "agentsim_intercept", default=None
)
_NESTED: contextvars.ContextVar[NestedScope | None] = contextvars.ContextVar(
    "agentsim_nested", default=None
)
_STACK: list[_Answerer] = []
_LOCK = threading.Lock()
_INSTALLED: dict[str, tuple[Any, Any, Any, Any]] = {}
_USERS = 0


def _origin(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"expected a base URL like http://localhost:8000/v1, got {url!r}")
    return parts.scheme, parts.hostname, parts.port, parts.path.rstrip("/")


class _Answerer:
    """What answers intercepted requests: which URLs it takes and how it builds a reply."""

    def __init__(self, transport: ScenarioTransport, base_urls: Iterable[str]) -> None:
        self.transport = transport
        self.bases = [_origin(u) for u in base_urls]
        self.calls: list[ApiCall] = []

    def takes(self, request: Any) -> bool:
        url = request.url
        if url.host in OFFICIAL_HOSTS:
            return True
        path = url.path
        return any(
            url.scheme == scheme
            and url.host == host
            and (port is None or url.port == port)
            and (path == prefix or path.startswith(prefix + "/"))
            for scheme, host, port, prefix in self.bases
        )


def _current(request: Any) -> _Answerer | None:
    active = _ACTIVE.get()
    if active is not None and active.takes(request):
        return active
    for answerer in reversed(_STACK):
        if answerer.takes(request):
            return answerer
    return None


def _install() -> None:
    global _USERS
    with _LOCK:
        _USERS += 1
        if _USERS > 1:
            return
        for name in ("httpx", "httpx2"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            sync_cls: Any = module.HTTPTransport
            async_cls: Any = module.AsyncHTTPTransport
            sync_orig, async_orig = sync_cls.handle_request, async_cls.handle_async_request
            _INSTALLED[name] = (sync_cls, sync_orig, async_cls, async_orig)

            def handle_request(self: Any, request: Any, _orig: Any = sync_orig) -> Any:
                answerer = _current(request)
                if answerer is None:
                    return _orig(self, request)
                return answerer.transport.handle_request(request)

            async def handle_async_request(self: Any, request: Any, _orig: Any = async_orig) -> Any:
                answerer = _current(request)
                if answerer is None:
                    return await _orig(self, request)
                return await answerer.transport.handle_async_request(request)

            sync_cls.handle_request = handle_request
            async_cls.handle_async_request = handle_async_request


def _uninstall() -> None:
    global _USERS
    with _LOCK:
        _USERS -= 1
        if _USERS:
            return
        for sync_cls, sync_orig, async_cls, async_orig in _INSTALLED.values():
            sync_cls.handle_request = sync_orig
            async_cls.handle_async_request = async_orig
        _INSTALLED.clear()


class NestedScope:
    """The provider requests of a nested run (see the module's "Nested runs"): `requests` as
    `Interception.requests` keeps the run's own; `on_first` is called (in the requesting code's
    context) when the first one is made, which is when the nested run is seen to start."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.requests: list[tuple[ProviderRequest, Received]] = []
        self.on_first = on_first
        self._previous: tuple[Message, ...] | None = None
        self._attempt = 0


@contextlib.contextmanager
def nested_scope(scope: NestedScope) -> Iterator[NestedScope]:
    """Requests made in this context (and tasks started in it) are `scope`'s."""
    token = _NESTED.set(scope)
    try:
        yield scope
    finally:
        _NESTED.reset(token)


# -- answering from a provider --------------------------------------------------------------------


class _ProviderTransport(ScenarioTransport):
    """A `ScenarioTransport` whose replies come from a `Provider` instead of a scenario file."""

    def __init__(self, provider: Provider, answerer_calls: list[ApiCall]) -> None:
        self.provider = provider
        self.speed = 1.0
        self.calls = answerer_calls
        self.requests: list[tuple[ProviderRequest, Received]] = []
        self._previous: tuple[Message, ...] | None = None
        self._attempt = 0

    def _decode(self, request: Any, scope: NestedScope | None) -> tuple[ApiCall, ProviderRequest]:
        call = parse_call(request.method, request.url.raw_path.decode("ascii"), request.content)
        messages, tools = request_messages(call.api, call.body)
        seen = scope if scope is not None else self  # attempts count within one run's requests
        seen._attempt = seen._attempt + 1 if messages == seen._previous else 1
        seen._previous = messages
        self.calls.append(call)
        return call, ProviderRequest(_step(messages), seen._attempt, messages, tools)

    def handle_request(self, request: Any) -> Any:
        raise RuntimeError("agentsim: a provider source answers async clients only")

    async def handle_async_request(self, request: Any) -> Any:
        await request.aread()
        scope = _NESTED.get()
        try:
            call, asked = self._decode(request, scope)
        except Rejection as exc:
            chunk = ErrorChunk(exc.kind, exc.message, False, exc.status)
            return await self._deliver(request, error_reply(exc.api, chunk, code=exc.code))
        received = Received()
        if scope is None:
            self.requests.append((asked, received))
        else:
            if not scope.requests and scope.on_first is not None:
                scope.on_first()
            scope.requests.append((asked, received))
        # The harness may wrap the provider to record its timeline; the script is what we play.
        scripted = unwrapped(self.provider)
        if isinstance(scripted, ScriptedProvider):
            return await self._scripted(request, call, asked, scripted, received)
        items: list[StreamItem] = []
        try:
            async for piece in self.provider.stream(asked):
                items.append(piece)
        except ProviderError as exc:
            items.append(ErrorChunk(exc.kind, str(exc), exc.retryable, exc.status))
        reply = self._render(call, items)
        return await self._deliver(request, reply, call.api, received)

    def _render(self, call: ApiCall, items: list[StreamItem]) -> Reply:
        unsendable = _unsendable(call.api, items)
        if unsendable is not None:
            problem = f"the response cannot be sent as {call.api}: {unsendable}"
            scripted = unwrapped(self.provider)
            if isinstance(scripted, ScriptedProvider):
                scripted.problems.append(problem)
            return error_reply(call.api, ErrorChunk("server", f"agentsim: {problem}", False, 500))
        try:
            return scripted_reply(
                call.api, items, stream=call.stream, array=call.array, usage=call.streams_usage
            )
        except ValueError as exc:
            error = ErrorChunk(
                "server", f"agentsim: cannot answer as {call.api}: {exc}", False, 500
            )
            return error_reply(call.api, error)

    async def _scripted(
        self,
        request: Any,
        call: ApiCall,
        asked: ProviderRequest,
        provider: ScriptedProvider,
        received: Received,
    ) -> Any:
        try:
            number = provider._claim(asked, len(provider._scripts), "script's requests")
        except ProviderError as exc:
            chunk = ErrorChunk("invalid_request", f"agentsim: {exc}", False, 400)
            return await self._deliver(request, error_reply(call.api, chunk, code="beyond_script"))
        check = provider._scripts[number - 1].expect
        if check is not None:
            provider.problems.extend(_check_request(check, asked, number))
        items = list(provider._compiled[number - 1])
        cancel_at: float | None = None
        token = None
        if provider._cancel is not None and provider._cancel[0] == number:
            items, cancel_at = _before_chunk(items, provider._cancel[1])
            token = provider._cancel[2]
        reply = self._render(call, items)
        if cancel_at is None or token is None:
            return await self._deliver(request, reply, call.api, received)
        return await self._deliver(request, reply, call.api, received, cancel=(cancel_at, token))

    async def _deliver(
        self,
        request: Any,
        reply: Reply,
        api: ApiName | None = None,
        received: Received | None = None,
        cancel: tuple[float, Any] | None = None,
    ) -> Any:
        timeout = self._timeout(request)
        if cancel is not None and reply.head_at > cancel[0]:
            # The answer's head comes after the cancel point, as a whole-body (non-streamed) answer
            # cut before a chunk never comes: the client waits for it, so the cancel comes then,
            # when the chunk is due (after the client's read timeout, if that is shorter).
            await self._wait(request, cancel[0], timeout)
            cancel[1].cancel()
            await asyncio.get_running_loop().create_future()
        await self._wait(request, reply.head_at, timeout)
        body = self._async_body(request, reply, timeout)
        if cancel is not None:
            body = _cancelling(body, reply, *cancel)
        if api is not None and received is not None:
            received.decoder = decoder_for(api, status=reply.status)
            body = _recording(body, received)
        stream = _pieces(_module_of(request), async_=body)
        return self._response(request, reply, stream)

    @staticmethod
    def _timeout(request: Any) -> float | None:
        value = (request.extensions.get("timeout") or {}).get("read")
        return None if value is None else float(value)


def _unsendable(api: str, items: list[StreamItem]) -> str | None:
    """Why `api` cannot carry these chunks, if it cannot: Anthropic and Gemini send a call's
    arguments as a JSON object (whole, or in fragments that always add up to one)."""
    if api not in ("anthropic", "gemini"):
        return None
    calls: list[tuple[list[str], list[bool]]] = []  # (fragments, [ended]) in start order
    open_calls: dict[int, tuple[list[str], list[bool]]] = {}
    for item in items:
        if isinstance(item, ToolCallStartChunk):
            open_calls[item.index] = ([], [False])
            calls.append(open_calls[item.index])
        elif isinstance(item, ToolCallArgsChunk):
            if item.index not in open_calls:  # fragments before their start
                open_calls[item.index] = ([], [False])
                calls.append(open_calls[item.index])
            if open_calls[item.index][1][0]:
                # Anthropic and Gemini close a call's block for good: nothing can follow its end.
                return f"tool-call arguments {item.delta[:40]!r} after the call ended"
            open_calls[item.index][0].append(item.delta)
        elif isinstance(item, ToolCallEndChunk) and item.index in open_calls:
            open_calls[item.index][1][0] = True
    finished = any(isinstance(item, FinishChunk) for item in items)
    for pieces, ended in calls:
        text = "".join(pieces).strip()
        if not text:
            continue
        if not text.startswith("{"):
            return f"tool-call arguments {text[:40]!r} are not a JSON object"
        if ended[0] or finished:  # a call cut short by a dropped stream may stop anywhere
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                return f"tool-call arguments {text[:40]!r} are not a JSON object"
    return None


def _module_of(request: Any) -> Any:
    return sys.modules[type(request).__module__.partition(".")[0]]


def _before_chunk(items: list[StreamItem], chunk: int) -> tuple[list[StreamItem], float]:
    """The items before chunk number `chunk` (1-based), then a stall; and when that chunk is due."""
    kept: list[StreamItem] = []
    now, seen = 0.0, 0
    for item in items:
        if isinstance(item, Delay):
            now += item.seconds
        elif not isinstance(item, Stall | RetryAfter | Reset | Malformed):
            seen += 1
            if seen == chunk:
                break
        kept.append(item)
    return [*kept, Stall()], now


class Received(Sequence[Chunk]):
    """The chunks a client was sent: its delivered bytes, read by the API's decoder when asked
    for, which is what the client was actually told (the history's last response).

    The pieces are kept as they are delivered and decoded on first look, in order, as if they
    had been decoded as they went: at any moment it holds the chunks of what was delivered so
    far (the decoder closed once the body ended), and bytes that are not the API's format stop
    the reading there. Most responses are never looked at (only a run's last one makes its
    history), so most are never decoded.
    """

    __slots__ = ("_chunks", "_closed", "_ended", "_fed", "_pieces", "decoder")

    def __init__(self) -> None:
        self.decoder: StreamDecoder | None = None  # None: nothing is delivered to read
        self._pieces: list[bytes] = []
        self._chunks: list[Chunk] = []
        self._fed = 0
        self._ended = self._closed = False

    def deliver(self, piece: bytes) -> None:
        self._pieces.append(piece)

    def end(self) -> None:
        self._ended = True

    def _read(self) -> list[Chunk]:
        decoder = self.decoder
        if decoder is None:
            return self._chunks
        pieces = self._pieces
        try:
            while self._fed < len(pieces):
                self._fed += 1
                self._chunks.extend(decoder.feed(pieces[self._fed - 1]))
            if self._ended and not self._closed:
                self._closed = True
                self._chunks.extend(decoder.close())
        except WireFormatError:
            self.decoder = None  # not the API's format: nothing more to learn from it
        return self._chunks

    def __len__(self) -> int:
        return len(self._read())

    @overload
    def __getitem__(self, index: int) -> Chunk: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Chunk]: ...

    def __getitem__(self, index: int | slice) -> Chunk | Sequence[Chunk]:
        return self._read()[index]

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._read())

    def __repr__(self) -> str:
        return f"Received({self._read()!r})"


async def _recording(body: AsyncIterator[bytes], received: Received) -> AsyncIterator[bytes]:
    """The body as it goes, each piece kept in `received`."""
    async for piece in body:
        received.deliver(piece)
        yield piece
    received.end()


async def _cancelling(
    body: AsyncIterator[bytes], reply: Reply, at: float, token: Any
) -> AsyncIterator[bytes]:
    """The body up to the cancel point; when the client waits for the next chunk, the token is
    cancelled (as `ScriptedProvider` does) and the chunk never comes."""
    loop = asyncio.get_running_loop()
    start = loop.time() - reply.head_at
    for _ in reply.pieces:
        yield await body.__anext__()
    remaining = at - (loop.time() - start)
    if remaining > 0:
        await asyncio.sleep(remaining)
    token.cancel()
    await loop.create_future()


# -- the public context manager -------------------------------------------------------------------


class Interception:
    """An active interception (use it as a context manager); see `intercept`.

    `calls` are the API calls answered; `playback` the `ScenarioPlayback` when the source is a
    scenario (its ``report()``, ``problems`` and ``passed``), else None; `requests` the provider
    requests asked of a `Provider` source, each with the chunks it got.
    """

    def __init__(
        self,
        source: Scenario | str | Path | ScenarioPlayback | Provider,
        *,
        base_urls: Iterable[str] = (),
        models: Iterable[str] = (),
        ambient: bool = True,
    ) -> None:
        calls: list[ApiCall] = []
        transport: ScenarioTransport
        self.playback: ScenarioPlayback | None = None
        self._provider: _ProviderTransport | None = None
        if isinstance(source, ScenarioPlayback):
            transport = ScenarioTransport.__new__(ScenarioTransport)
            transport.playback, transport.speed = source, 1.0
            self.playback = source
        elif isinstance(source, Scenario | str | Path):
            transport = ScenarioTransport(source, models=models)
            self.playback = transport.playback
        elif callable(getattr(source, "stream", None)):
            transport = self._provider = _ProviderTransport(source, calls)
        else:
            raise TypeError(
                "intercept() takes a scenario, a scenario file, a ScenarioPlayback or a provider, "
                f"got {type(source).__name__}"
            )
        self._answerer = _Answerer(transport, base_urls)
        self.calls = self.playback.calls if self.playback is not None else calls
        self._ambient = ambient
        self._token: contextvars.Token[_Answerer | None] | None = None

    @property
    def requests(self) -> list[tuple[ProviderRequest, Received]]:
        return self._provider.requests if self._provider is not None else []

    @property
    def offered_tools(self) -> tuple[ToolSpec, ...]:
        """The tools the intercepted requests offered, by name, first offer first."""
        names: dict[str, ToolSpec] = {}
        for request, _ in self.requests:
            for spec in request.tools:
                names.setdefault(spec.name, spec)
        return tuple(names.values())

    def start(self) -> None:
        _install()
        self._token = _ACTIVE.set(self._answerer)
        if self._ambient:
            _STACK.append(self._answerer)

    def stop(self) -> None:
        if self._ambient and self._answerer in _STACK:
            _STACK.remove(self._answerer)
        if self._token is not None:
            try:
                _ACTIVE.reset(self._token)
            except ValueError:  # left in another context (an async generator's): just clear it
                _ACTIVE.set(None)
            self._token = None
        _uninstall()

    def __enter__(self) -> Interception:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def intercept(
    source: Scenario | str | Path | ScenarioPlayback | Provider,
    *,
    base_urls: Iterable[str] = (),
    models: Iterable[str] = (),
) -> Interception:
    """Answer every httpx / httpx2 request to a provider API from `source`, in-process.

    ``with agentsim.intercept("case.yaml") as seen: await my_agent("hi")`` - the official API hosts
    and the `base_urls` named are answered (clients created before included); anything else goes
    to the network as before. `source` is a scenario (or its file), a `ScenarioPlayback`, or a
    `Provider` (then async clients only). `models` limits the models a scenario serves.
    """
    return Interception(source, base_urls=base_urls, models=models)
