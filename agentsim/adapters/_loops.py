"""The adapters: an ASGI app or an SSE generator function, as an agentsim loop.

``asgi_loop(app, path=..., body=..., api=...)`` and ``sse_loop(fn, api=...)`` return objects with
the loop protocol's ``run``; `agentsim run / fuzz / shrink --loop spec:loop` and the pytest plugin
take them as they take any loop object. What a run does is `agentsim.adapters._live`.

Choices:

- **Raw ASGI, no framework.** The app is called in-process with a scope, a ``receive`` that gives
  the JSON body once and then waits for the client to leave (``http.disconnect``), and a ``send``
  that passes each body piece on as it comes. httpx's `ASGITransport` would buffer the whole
  response, so nothing would be live and no disconnect could reach the app mid-stream. Starlette,
  FastAPI and any ASGI 3 app work; the adapter needs none of them installed.
- **A response that is not SSE** (a status other than 2xx, or no ``text/event-stream``) is not
  decoded: the run reports it (``S2.stream``) with the first bytes of the body.
- **`features`** are what the code claims to implement (`agentsim.loop._features`); None means
  undeclared, judged on everything.
- **The tools the code offers** are learned by `offered_tools()`: a probe run whose provider
  answers any request with a plain text, capturing the tool specs each request carries. Fuzzing
  uses them so that generated tool calls name the code's own tools.
- `api` names the provider API the code's SDK speaks (checked, and documented in the spec);
  the intercept itself routes by path, so it is a declaration, not a switch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, cast

from agentsim.adapters._live import AdapterRun, Producer, input_text
from agentsim.core._chunks import FinishChunk, TextChunk
from agentsim.core._errors import InputError
from agentsim.core._history import UserMessage
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset, ToolSpec
from agentsim.core._virtual_loop import VirtualEventLoop
from agentsim.loop._features import Feature, parse_features
from agentsim.loop._protocol import AgentRun, Provider, ProviderRequest, RunRequest
from agentsim.scenario._script import FunctionProvider
from agentsim.sse._dialects import DIALECT_NAMES, DialectName
from agentsim.wire._base import API_NAMES, ApiName

__all__ = ["AdapterLoop", "asgi_loop", "offered_tool_names", "sse_loop"]

Body = Callable[[str], Any]


class _AsgiProducer(Producer):
    def __init__(
        self,
        app: Any,
        *,
        method: str,
        path: str,
        body: bytes,
        headers: Iterable[tuple[str, str]],
    ) -> None:
        super().__init__()
        self.app, self.method, self.path, self.body_bytes = app, method, path, body
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.status: int | None = None
        self.content_type = ""
        self._refused: list[bytes] = []

    def _scope(self) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        headers = [
            (b"host", b"agentsim.test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body_bytes)).encode()),
            (b"accept", b"text/event-stream"),
            *self.headers,
        ]
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("agentsim.test", 80),
            "state": {},
        }

    async def body(self) -> None:
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": self.body_bytes, "more_body": False}
            await self.disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                self.status = int(message["status"])
                for key, value in message.get("headers", ()):
                    if bytes(key).lower() == b"content-type":
                        self.content_type = bytes(value).decode("latin-1")
            elif kind == "http.response.body":
                if self.disconnected.is_set():
                    raise OSError("agentsim: the client has disconnected")
                piece = bytes(message.get("body", b""))
                if not self._sse():
                    self._refused.append(piece)
                elif piece:
                    self.queue.put_nowait(piece)

        await self.app(self._scope(), receive, send)
        if not self._sse() and self.error is None:
            first = b"".join(self._refused)[:200].decode("utf-8", "replace")
            self.error = RuntimeError(
                f"the endpoint answered {self.status} {self.content_type or '(no content type)'}, "
                f"not an SSE stream: {first!r}"
            )

    def _sse(self) -> bool:
        ok = self.status is not None and 200 <= self.status < 300
        return ok and "text/event-stream" in self.content_type


class _GeneratorProducer(Producer):
    def __init__(self, fn: Callable[[str], AsyncIterator[Any]], text: str) -> None:
        super().__init__()
        self.fn, self.text = fn, text

    async def body(self) -> None:
        stream = self.fn(self.text)
        if not hasattr(stream, "__aiter__"):
            raise TypeError(
                f"sse_loop: the function returned {type(stream).__name__}, not an "
                "async iterator of SSE bytes or str"
            )
        try:
            async for piece in stream:
                if self.disconnected.is_set():
                    break
                if isinstance(piece, str):
                    piece = piece.encode("utf-8")
                if not isinstance(piece, bytes | bytearray):
                    raise TypeError(f"sse_loop: expected bytes or str, got {type(piece).__name__}")
                self.queue.put_nowait(bytes(piece))
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def disconnect(self) -> None:
        super().disconnect()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # a generator learns of a disconnect as its web server tells it


class AdapterLoop:
    """A loop made of user code that answers SSE; see `asgi_loop` and `sse_loop`."""

    def __init__(
        self,
        make: Callable[[str], Producer],
        *,
        api: str,
        dialect: str,
        features: Iterable[str] | None,
        base_urls: Iterable[str],
        what: str,
    ) -> None:
        if api not in API_NAMES:
            raise InputError(
                f"unknown provider API {api!r}; expected one of {', '.join(API_NAMES)}"
            )
        if dialect != "auto" and dialect not in DIALECT_NAMES:
            raise InputError(
                f"unknown SSE dialect {dialect!r}; expected auto or one of "
                + ", ".join(DIALECT_NAMES)
            )
        self._make = make
        self.api: ApiName = api  # checked above
        self.dialect = None if dialect == "auto" else cast(DialectName, dialect)
        self.features: frozenset[Feature] | None = (
            None if features is None else parse_features(features)
        )
        self.base_urls = tuple(base_urls)
        self._what = what
        self._offered: tuple[ToolSpec, ...] | None = None
        self.last_run: AdapterRun | None = None

    def __repr__(self) -> str:
        return f"<agentsim adapter {self._what} api={self.api}>"

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        run = AdapterRun(
            request,
            provider=provider,
            runtime=runtime,
            producer=self._make(input_text(request)),
            dialect=self.dialect,
            features=self.features,
            base_urls=self.base_urls,
        )
        self.last_run = run
        return run

    def offered_tools(self) -> tuple[ToolSpec, ...]:
        """The tools the code offers its provider (names and schemas), learned by one probe run
        that answers every request with a plain text (cached)."""
        if self._offered is None:
            self._offered = _probe(self)
        return self._offered


def _probe(loop: AdapterLoop) -> tuple[ToolSpec, ...]:
    def answer(_: ProviderRequest) -> list[Any]:
        return [TextChunk("ok"), FinishChunk("stop")]

    provider = FunctionProvider(answer)

    async def main() -> None:
        request = RunRequest(messages=(UserMessage("hello"),))
        run = loop.run(request, provider=provider, tools=Toolset(), runtime=Runtime(seed=0))
        try:
            async for _ in run:
                pass
        finally:
            await run.aclose()

    event_loop = VirtualEventLoop()
    try:
        event_loop.run_until_complete(asyncio.wait_for(main(), 3600))
    except Exception:  # the probe only learns; a broken app is reported by real runs
        pass
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.close()
    names: dict[str, ToolSpec] = {}
    for request in provider.requests:
        for spec in request.tools:
            names.setdefault(spec.name, spec)
    return tuple(names.values())


def offered_tool_names(loop: object) -> tuple[str, ...] | None:
    """The names of the tools `loop` offers its provider, when it can tell (an adapter can, by a
    probe run), else None. The hook for generators: name these tools in generated calls, plus
    unknown ones, so the code's own tools are exercised and not only its unknown-tool path."""
    offered = getattr(loop, "offered_tools", None)
    if not callable(offered):
        return None
    return tuple(spec.name for spec in offered())


def asgi_loop(
    app: Any,
    *,
    path: str,
    body: Body,
    api: str,
    method: str = "POST",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    dialect: str = "auto",
    features: Iterable[str] | None = None,
    base_urls: Iterable[str] = (),
) -> AdapterLoop:
    """An ASGI app's SSE endpoint as a loop: each run POSTs ``body(input_text)`` as JSON to `path`.

    The app's provider calls (httpx / httpx2 clients, module-level ones included) are answered
    from the run's provider; its SSE response is decoded live in `dialect` (``auto``: detected).
    """
    if not callable(app):
        raise InputError(f"asgi_loop: expected an ASGI app, got {type(app).__name__}")
    if not path.startswith("/"):
        raise InputError(f"asgi_loop: expected a path starting with '/', got {path!r}")
    if not callable(body):
        raise InputError("asgi_loop: body must be a function of the input text returning JSON")
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())

    def make(text: str) -> Producer:
        payload = json.dumps(body(text)).encode()
        return _AsgiProducer(app, method=method.upper(), path=path, body=payload, headers=pairs)

    return AdapterLoop(
        make,
        api=api,
        dialect=dialect,
        features=features,
        base_urls=base_urls,
        what=f"asgi {method.upper()} {path}",
    )


def sse_loop(
    fn: Callable[[str], AsyncIterator[Any]],
    *,
    api: str,
    dialect: str = "auto",
    features: Iterable[str] | None = None,
    base_urls: Iterable[str] = (),
) -> AdapterLoop:
    """An async generator function of the input text yielding SSE (bytes or str) as a loop."""
    if not callable(fn):
        raise InputError(f"sse_loop: expected an async generator function, got {type(fn).__name__}")
    name = getattr(fn, "__qualname__", type(fn).__name__)
    return AdapterLoop(
        lambda text: _GeneratorProducer(fn, text),
        api=api,
        dialect=dialect,
        features=features,
        base_urls=base_urls,
        what=f"sse {name}",
    )
