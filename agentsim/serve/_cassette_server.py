"""Serving a cassette over HTTP: the recorded answers, byte for byte, to the client that made them.

What the pytest plugin's record mode replays with once a cassette exists (pytest-recording's
convention: record once through the proxy, replay afterwards). Unlike `ScenarioServer`, which
encodes scripted chunks, this plays the recorded bytes themselves: status, content type and
body, in the recorded pieces at their recorded offsets (divided by `speed`; a cassette without
timing is sent one SSE event at a time at once), so a client sees what it saw when recording.

Strict and in order, as every agentsim playback: the n-th request gets the n-th interaction. A
request whose method or path differs from that interaction's, or one beyond the cassette, is
answered with a 400 in the API's error shape and recorded in `problems` (a vcrpy cassette
matched by method and path would refuse it too); `unused()` lists interactions never requested.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from urllib.parse import urlsplit

from agentsim.cassettes._files import Cassette, Interaction, load_cassette
from agentsim.cassettes._provider import Chunking, split_body
from agentsim.core._chunks import ErrorChunk
from agentsim.serve._api_replies import Reply, error_reply
from agentsim.serve._api_requests import _guess_api
from agentsim.serve._http11 import Exchange, HttpRequest, HttpService
from agentsim.serve._server import play_reply
from agentsim.wire._base import header

__all__ = ["CassetteServer"]


def _reply(interaction: Interaction) -> Reply:
    content_type = header(interaction.response_headers, "content-type") or "application/json"
    chunking: Chunking = "recorded" if interaction.timing is not None else "events"
    pieces = split_body(interaction, chunking=chunking)
    return Reply(interaction.status, (("content-type", content_type),), 0.0, tuple(pieces))


class CassetteServer(HttpService):
    """Plays a cassette's interactions in order over HTTP/1.1: ``async with CassetteServer(p)``."""

    def __init__(
        self,
        cassette: Cassette | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        super().__init__(host, port)
        self.cassette = cassette if isinstance(cassette, Cassette) else load_cassette(cassette)
        self.speed = speed
        self.problems: list[str] = []
        self.served = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def answer(self, method: str, target: str) -> Reply:
        """The reply to the next request (sans-IO: `handle` only delivers it)."""
        path = target.split("?")[0]
        with self._lock:
            number = self.served
            self.served += 1
            interactions = self.cassette.interactions
            problem = None
            if number >= len(interactions):
                problem = (
                    f"request {number + 1} ({method} {path}) is beyond the cassette, which has "
                    f"{len(interactions)} interaction(s)"
                )
            else:
                recorded = interactions[number]
                recorded_path = urlsplit(recorded.uri).path
                if method != recorded.method or not recorded_path.endswith(path):
                    problem = (
                        f"request {number + 1} is {method} {path}, but interactions[{number}] "
                        f"recorded {recorded.method} {recorded_path}"
                    )
            if problem is None:
                return _reply(interactions[number])
            self.problems.append(problem)
        message = f"agentsim: {problem} ({self.cassette.path})"
        return error_reply(_guess_api(path), ErrorChunk("invalid_request", message, False, 400))

    def unused(self) -> list[str]:
        """The interactions no request reached."""
        with self._lock:
            return [
                f"interactions[{i}] ({x.describe()}) was never requested"
                for i, x in enumerate(self.cassette.interactions)
                if i >= self.served
            ]

    async def handle(self, request: HttpRequest, exchange: Exchange) -> None:
        reply = self.answer(request.method, request.target)
        await play_reply(reply, exchange, speed=self.speed, rid=f"req_agentsim_{next(self._ids)}")
