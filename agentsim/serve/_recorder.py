"""`agentsim record`: a recording reverse proxy that writes an agentsim cassette.

Point a client's base URL at the proxy; it forwards each request to `upstream` and streams the
answer back as it arrives, piece by piece (nothing is buffered on the way), while noting when each
piece arrived and how big it was. On `close()` it writes every exchange as an agentsim cassette:
vcrpy YAML plus ``agentsim: {chunks: [[offset, size], ...]}``, which `agentsim replay` / `convert`
/ `CassetteProvider` play back with the recorded boundaries and timing.

Choices:

- **Secrets never reach the file.** Writing goes through `write_cassette`, which scrubs by rule
  (`SecretRules`: any header, query parameter or JSON key whose name looks like a credential,
  user-supplied `scrub` / `keep` rules on top) and refuses to write text still holding a key
  shape. Credentials are forwarded upstream untouched (the proxy is transparent) and only kept
  in memory. An `upstream` URL with user info (``https://user:pass@host``) is sent as HTTP Basic
  auth (``Authorization: Basic``, unless the client sends its own Authorization), never in the
  Host header; `display_upstream` is the URL without the password, for messages.
- **Nothing is lost.** Each exchange is written as soon as it has finished (the whole cassette,
  atomically and fsynced, mode 0o600), before the client is told the answer ended, so a
  ``kill -9`` loses at most the exchanges in flight.
  Record modes are vcrpy's: ``once`` records a new cassette and refuses an existing one;
  ``new_episodes`` keeps the existing interactions and appends the new ones; ``all`` records
  afresh, but never replaces an existing cassette by one with fewer interactions unless
  `allow_fewer` (until the new recording has as many, the old file stays as it was); ``none``
  records nothing and is refused (replay with `agentsim serve` / `replay` instead). A session
  without traffic writes nothing over an existing file.
- **Bytes as the client reads them.** The proxy asks upstream for ``Accept-Encoding: identity``,
  so recorded sizes and offsets refer to the bytes a client decodes. If upstream compresses
  anyway, the body is recorded decompressed and without timing (the offsets would not fit).
- Offsets are seconds since the request was forwarded, rounded to microseconds; exchanges are
  written in the order the requests arrived. A client that disconnects mid-answer ends the
  upstream request too, and what had arrived is recorded (it replays as the truncation the
  client saw). An unreachable upstream is answered with a 502 in the API's error shape and
  not recorded.
- Hop-by-hop headers (Connection, Transfer-Encoding, Keep-Alive, TE, Upgrade, Proxy-*) are not
  forwarded; Host is upstream's. One upstream connection per request (TLS for ``https``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import ssl
import zlib
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

import h11

from agentsim.cassettes._files import Interaction, load_cassette
from agentsim.cassettes._scrub import SecretLeakError, SecretRules
from agentsim.cassettes._writing import cassette_text, write_cassette
from agentsim.core._chunks import ErrorChunk
from agentsim.core._errors import InputError
from agentsim.serve._api_replies import error_reply
from agentsim.serve._api_requests import _guess_api
from agentsim.serve._http11 import Exchange, HttpRequest, HttpService
from agentsim.serve._server import play_reply

__all__ = ["RECORD_MODES", "RecordMode", "RecordingProxy", "display_url"]

RecordMode = Literal["once", "new_episodes", "all", "none"]
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)


def display_url(url: str) -> str:
    """`url` without the password of its user info: safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
    }
)


def _decompress(body: bytes, encoding: str) -> bytes:
    with contextlib.suppress(OSError, EOFError, zlib.error):
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    return body


class RecordingProxy(HttpService):
    """Forwards to `upstream`, streams answers through, and records them for `save()`.

    ``async with RecordingProxy(upstream, out) as proxy:`` ... the cassette is written on exit.
    """

    def __init__(
        self,
        upstream: str,
        out: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: RecordMode = "once",
        allow_fewer: bool = False,
        rules: SecretRules | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = display_url(upstream)
            raise ValueError(f"upstream must be an http:// or https:// URL, got {shown!r}")
        if mode not in RECORD_MODES:
            raise ValueError(f"unknown record mode {mode!r}; expected one of {RECORD_MODES}")
        self.upstream = display_url(upstream)
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc.rpartition("@")[2]  # never the user info
        self._basic: str | None = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self._basic = "Basic " + base64.b64encode(pair.encode()).decode()
        self._prefix = parts.path.rstrip("/")
        self.out = Path(out)
        self.mode = mode
        self.allow_fewer = allow_fewer
        self.rules = rules or SecretRules()
        self.problems: list[str] = []
        self._slots: list[Interaction | None] = []
        self._kept, self._existing = self._read_existing()
        self.saved = 0  # how many of `interactions` the file holds
        super().__init__(host, port)

    def _read_existing(self) -> tuple[tuple[Interaction, ...], int]:
        """(interactions kept in front of the new ones, how many the file has now)."""
        if self.mode == "none":
            raise InputError(
                "record mode `none` records nothing: replay with `agentsim replay` or "
                "`agentsim serve` instead",
                file=str(self.out),
            )
        if not self.out.exists():
            return (), 0
        if self.mode == "once":
            raise InputError(
                "the cassette exists and record mode `once` only records a new one (use "
                "--record-mode new_episodes to add to it, or all to record it afresh)",
                file=str(self.out),
            )
        existing = load_cassette(self.out).interactions  # bad input: refuse before serving
        return (existing if self.mode == "new_episodes" else ()), len(existing)

    @property
    def interactions(self) -> list[Interaction]:
        """The exchanges recorded so far, in the order their requests arrived."""
        return [x for x in self._slots if x is not None]

    async def close(self) -> None:
        """Stop serving and write what is not written yet (if it ever started)."""
        await super().close()
        if self.started and not self.out.exists():
            self.save()  # an empty cassette: the session happened, with no traffic

    def save(self) -> bool:
        """Write the kept and the finished exchanges; False (and why, in `problems`) if not."""
        everything = [*self._kept, *self.interactions]
        if len(everything) < self._existing and not self.allow_fewer:
            return False  # the file keeps its interactions until there are as many new ones
        try:
            write_cassette(self.out, everything, rules=self.rules)
        except SecretLeakError as exc:
            self.problems.append(str(exc))
            return False
        self.saved = len(everything) - len(self._kept)
        return True

    @property
    def total(self) -> int:
        """How many interactions the cassette holds (kept and new)."""
        return len(self._kept) + self.saved

    @property
    def unwritten(self) -> int:
        """How many recorded interactions the file does not hold (`all` with fewer)."""
        return len(self.interactions) - self.saved

    async def handle(self, request: HttpRequest, exchange: Exchange) -> None:
        slot = len(self._slots)
        self._slots.append(None)
        target = self._prefix + request.target
        try:
            reader, writer = await exchange.race(self._connect())
        except OSError as exc:
            path = request.target.split("?")[0]
            message = f"agentsim record: cannot reach the upstream {self.upstream}: {exc}"
            reply = error_reply(_guess_api(path), ErrorChunk("server", message, True, 502))
            await play_reply(reply, exchange)
            return
        try:
            await self._forward(request, target, exchange, slot, reader, writer)
        finally:
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context() if self._scheme == "https" else None
        return await asyncio.open_connection(self._host, self._port, ssl=context)

    async def _forward(
        self,
        request: HttpRequest,
        target: str,
        exchange: Exchange,
        slot: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        upstream = h11.Connection(h11.CLIENT)
        headers = [(k, v) for k, v in request.headers if k not in _HOP_BY_HOP]
        if self._basic is not None and not any(k == "authorization" for k, _ in headers):
            headers.append(("authorization", self._basic))
        head = [("host", self._netloc), *headers, ("accept-encoding", "identity")]
        head += [("content-length", str(len(request.body))), ("connection", "close")]
        writer.write(upstream.send(h11.Request(method=request.method, target=target, headers=head)))
        writer.write(upstream.send(h11.Data(data=request.body)) or b"")
        writer.write(upstream.send(h11.EndOfMessage()) or b"")
        start = loop.time()
        status, reason, answer_headers = 502, "", list[tuple[str, str]]()
        pieces: list[bytes] = []
        timing: list[tuple[float, int]] = []
        recorded = False
        try:
            await exchange.race(writer.drain())
            while True:
                event = upstream.next_event()
                if event is h11.NEED_DATA:
                    upstream.receive_data(await exchange.race(reader.read(65536)))
                elif isinstance(event, h11.Response):
                    status, reason = event.status_code, event.reason.decode("latin-1")
                    answer_headers = [
                        (k.decode().lower(), v.decode("latin-1")) for k, v in event.headers
                    ]
                    forwarded = [
                        (k, v)
                        for k, v in answer_headers
                        if k not in _HOP_BY_HOP or k == "content-length"
                    ]
                    await exchange.start(status, forwarded)
                elif isinstance(event, h11.Data):
                    timing.append((round(loop.time() - start, 6), len(event.data)))
                    pieces.append(bytes(event.data))
                    await exchange.send(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    # On disk before the client sees the end: an answer a client has read
                    # in full is never lost.
                    self._record(
                        slot, request, target, status, reason, answer_headers, pieces, timing
                    )
                    recorded = True
                    await exchange.end()
                    break
        finally:
            if not recorded:
                self._record(slot, request, target, status, reason, answer_headers, pieces, timing)

    def _record(
        self,
        slot: int,
        request: HttpRequest,
        target: str,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        pieces: list[bytes],
        timing: list[tuple[float, int]],
    ) -> None:
        if not headers and not pieces:
            return  # upstream never answered: nothing to replay
        response_headers: dict[str, list[str]] = {}
        for name, value in headers:
            if name not in ("connection", "keep-alive", "transfer-encoding"):
                response_headers.setdefault(name, []).append(value)
        body = b"".join(pieces)
        encoding = (response_headers.get("content-encoding") or [""])[0].strip().lower()
        recorded_timing: tuple[tuple[float, int], ...] | None = tuple(timing)
        if encoding not in ("", "identity"):
            body = _decompress(body, encoding)
            response_headers.pop("content-encoding", None)
            recorded_timing = None
        if "content-length" in response_headers:
            response_headers["content-length"] = [str(len(body))]
        request_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            request_headers.setdefault(name, []).append(value)
        interaction = Interaction(
            method=request.method,
            uri=f"{self._scheme}://{self._netloc}{target}",
            request_headers=request_headers,
            request_body=request.body,
            status=status,
            reason=reason,
            response_headers=response_headers,
            response_body=body,
            timing=recorded_timing or None,
        )
        try:
            cassette_text([interaction], rules=self.rules)
        except SecretLeakError as exc:
            where = f"{interaction.method} {self.rules.uri(interaction.uri)}"
            self.problems.append(f"{where} not recorded: {exc.message}")
            return
        self._slots[slot] = interaction
        self.save()  # durable as soon as it has finished
