"""Replaying a cassette as a provider: recorded bytes, re-chunked, decoded, on virtual time.

vcrpy buffers a whole response body and replays it as one piece, which hides exactly the bugs
streaming code has (a UTF-8 character or a CRLF split across reads, an event cut in half). So
`CassetteProvider` re-creates the pieces (DESIGN §5), by policy:

- ``recorded`` (default): the boundaries agentsim recorded, each piece at its recorded offset;
  an interaction without recorded timing falls back to ``events``;
- ``whole``: the body as one piece (what vcrpy does);
- ``events``: one piece per SSE event (a Gemini JSON-array body or an error body: one piece);
- ``random``: seeded random cuts, deliberately also inside UTF-8 sequences and between CR and LF.

Only ``recorded`` sleeps: the other policies deliver every piece at once, so comparing them
with each other checks M1 (chunking changes nothing) at the wire level.

The HTTP status comes first (`decoder_for(api, status=...)`); pieces go through the API's
incremental decoder and chunks are yielded as they come out. A chunk is delayed until the
offset of the piece that completed it; a piece that completes nothing passes its time on to the
next chunk, and time after the last chunk is not replayed (the stream ends with its last chunk).
Delays are rounded to microseconds, so a converted scenario states them readably and sleeps
exactly the same amounts. The pure part (`stream_items`) is shared with `agentsim convert`.

Strictness is that of `ScriptedProvider`: the streaming interactions play in order, one per
request; a request beyond them raises `ProviderError` and is recorded in `problems`;
`unused()` lists interactions never requested. Interactions that are not streaming requests
to a known provider API (file uploads, MCP traffic, non-streaming calls) are not played: the
loop under test never makes them through a `Provider`. `Cassette.skipped` lists them. A body
that is not the API's format at all (`WireFormatError`) ends that stream with an ``other``
error chunk, as a broken connection would, and is recorded as a problem.

Each request is also compared with the recorded request of the interaction that answers it
(`_request_diff`, at the level `requests`); the first request that differs is recorded in
`problems` with both sides, and later ones are not (they differ in consequence).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Literal, get_args

from agentsim.cassettes._files import Cassette, Interaction, cassette_error
from agentsim.cassettes._request_diff import RequestCheck, check_requests_level, request_diff
from agentsim.core._chunks import Chunk, ErrorChunk, ToolCallStartChunk
from agentsim.core._errors import InputError
from agentsim.loop._protocol import ProviderRequest
from agentsim.scenario._script import Delay, StrictPlayback, _pause
from agentsim.wire._base import StreamDecoder, WireFormatError
from agentsim.wire._gemini import GeminiArrayDecoder
from agentsim.wire._registry import decoder_for

__all__ = [
    "CHUNKINGS",
    "CassetteProvider",
    "Chunking",
    "check_streams",
    "decoded_chunks",
    "split_body",
    "stream_items",
]

Chunking = Literal["recorded", "whole", "events", "random"]
CHUNKINGS: tuple[Chunking, ...] = get_args(Chunking)

# The end of an SSE event: a line ending followed by an empty line (CRLF, LF or lone CR).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
# Places where a careless reader breaks: between CR and LF, before a UTF-8 continuation byte.
_AWKWARD = re.compile(rb"\r\n|[\x80-\xbf]")
# Ids decoders make up for calls the wire gives none (Gemini's calls, Groq's rejected ones).
_MADE_UP_ID = re.compile(r"(gemini_call|rejected_call)_\d+")


def check_chunking(chunking: str) -> Chunking:
    for known in CHUNKINGS:
        if chunking == known:
            return known
    raise InputError(f"unknown chunking policy {chunking!r}; expected one of {CHUNKINGS}")


def _is_sse(interaction: Interaction) -> bool:
    return interaction.status < 400 and not interaction.json_array


def _cuts(body: bytes, cuts: set[int]) -> list[bytes]:
    edges = [0, *sorted(c for c in cuts if 0 < c < len(body)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


def split_body(
    interaction: Interaction, *, chunking: Chunking = "recorded", seed: int = 0, number: int = 0
) -> list[tuple[float, bytes]]:
    """The pieces the body is delivered in: (offset in seconds since the request, bytes).

    `number` (the interaction's index) makes ``random`` cut each interaction differently.
    """
    body = interaction.response_body
    if not body:
        return []
    if chunking == "recorded" and interaction.timing is not None:
        ends = list(itertools.accumulate(size for _, size in interaction.timing))
        return [
            (offset, body[end - size : end])
            for (offset, size), end in zip(interaction.timing, ends, strict=True)
        ]
    if chunking in ("recorded", "events") and _is_sse(interaction):
        return [(0.0, piece) for piece in _cuts(body, {m.end() for m in _EVENT_END.finditer(body)})]
    if chunking == "random":
        rng = random.Random(f"agentsim-chunking:{seed}:{number}")
        cuts: set[int] = set()
        position = rng.randint(1, 32)
        while position < len(body):
            cuts.add(position)
            position += rng.randint(1, 32)
        for match in _AWKWARD.finditer(body):
            if rng.random() < 0.5:
                cuts.add(match.start() + 1 if match.group() == b"\r\n" else match.start())
        return [(0.0, piece) for piece in _cuts(body, cuts)]
    return [(0.0, body)]


def _decoder(interaction: Interaction) -> StreamDecoder:
    if interaction.api is None:
        raise InputError(f"{interaction.describe()}: not a request to a known provider API")
    if interaction.json_array and interaction.status < 400:
        return GeminiArrayDecoder()
    return decoder_for(interaction.api, status=interaction.status)


def _decoded(
    interaction: Interaction, pieces: list[tuple[float, bytes]]
) -> Iterator[tuple[float, Chunk]]:
    """(offset of the piece that completed it, chunk) for every chunk of the body."""
    decoder = _decoder(interaction)
    offset = 0.0
    for offset, piece in pieces:
        for chunk in decoder.feed(piece):
            yield offset, chunk
    for chunk in decoder.close():
        yield offset, chunk


def stream_items(
    interaction: Interaction,
    *,
    chunking: Chunking = "recorded",
    seed: int = 0,
    number: int = 0,
    on_problem: Callable[[str], None] | None = None,
) -> Iterator[Chunk | Delay]:
    """The interaction's response as the provider plays it: chunks, each after its `Delay`.

    Pure (no I/O, no clock): `CassetteProvider` sleeps the delays, `agentsim convert` writes
    them into a scenario, so both give the same chunks at the same times. The ids decoders
    make up for calls without one (Gemini's ``gemini_call_<n>``, a rejected Groq call's
    ``rejected_call_<n>``, unique within one response) get the interaction's `number` too, so
    that they stay unique across the turns of a run.
    """
    pieces = split_body(interaction, chunking=chunking, seed=seed, number=number)
    delivered = 0.0  # offset of the last chunk delivered
    try:
        for offset, chunk in _decoded(interaction, pieces):
            gap = round(offset - delivered, 6)
            if gap > 0:
                yield Delay(gap)
                delivered = offset
            if isinstance(chunk, ToolCallStartChunk) and (
                made_up := _MADE_UP_ID.fullmatch(chunk.call_id)
            ):
                chunk = ToolCallStartChunk(
                    chunk.index, f"{made_up.group(1)}_{number}_{chunk.index}", chunk.name
                )
            yield chunk
    except WireFormatError as exc:
        message = f"{interaction.describe()}: the recorded body is not a valid stream: {exc}"
        if on_problem is not None:
            on_problem(message)
        yield ErrorChunk("other", message, False, None)


def _body_problem(interaction: Interaction) -> str | None:
    """Why a successful streaming answer's body is not that API's stream, or None."""
    body = interaction.response_body
    api = interaction.api
    expected = (
        f"a JSON array of {api} responses (Gemini without alt=sse)"
        if interaction.json_array
        else f"a server-sent-event stream of {api} events"
    )
    start = body.lstrip()[:1]
    if not body.strip():
        return f"expected {expected}, got an empty body"
    if interaction.json_array:
        return None if start == b"[" else f"expected {expected}, got {_looks_like(start)}"
    if start in (b"{", b"[", b"<"):
        return f"expected {expected}, got {_looks_like(start)}"
    if b"data:" not in body:
        return f"expected {expected}, got text without a `data:` line"
    try:
        decoder = _decoder(interaction)
        decoder.feed(body)
        decoder.close()
    except WireFormatError as exc:
        return f"expected {expected}: {exc}"
    return None


def _looks_like(start: bytes) -> str:
    return {b"{": "a JSON document", b"[": "a JSON array", b"<": "HTML or XML"}.get(
        start, "something else"
    )


def check_streams(cassette: Cassette) -> None:
    """`InputError` (file, interaction, position, what was expected) for the first streaming
    interaction whose successful answer is not its API's stream: a recording that cannot be
    replayed is bad input, not a failed run."""
    for index, interaction in cassette.replayable:
        if interaction.status >= 400:
            continue  # an error answer is a JSON body; its decoder makes an ErrorChunk of it
        problem = _body_problem(interaction)
        if problem is not None:
            at = ("interactions", index, "response", "body", "string")
            raise cassette_error(cassette, at, f"{interaction.describe()}: {problem}")


def decoded_chunks(interaction: Interaction, *, number: int = 0) -> list[Chunk]:
    """The interaction's chunks, decoded from the whole body (timing left out)."""
    items = stream_items(interaction, chunking="whole", number=number)
    return [item for item in items if not isinstance(item, Delay)]


class CassetteProvider(StrictPlayback):
    """Plays a cassette's streaming interactions in order, one per request, strictly."""

    def __init__(
        self,
        cassette: Cassette,
        *,
        chunking: Chunking = "recorded",
        seed: int = 0,
        requests: RequestCheck = "loose",
    ) -> None:
        super().__init__()
        self.cassette = cassette
        self.chunking = check_chunking(chunking)
        self.seed = seed
        self.requests_level = check_requests_level(requests)
        self._plays = cassette.replayable
        self._diverged = False

    def _compare(self, number: int, index: int, request: ProviderRequest) -> None:
        if self._diverged:
            return
        found = request_diff(self._plays[number - 1][1], request, level=self.requests_level)
        if found is not None:
            self._diverged = True
            self.problems.append(
                f"request {number} (step {request.step}, attempt {request.attempt}) differs from "
                f"the recorded request of interactions[{index}] (--requests "
                f"{self.requests_level}): {found}"
            )

    def unused(self) -> list[str]:
        """The streaming interactions the run never requested."""
        return [
            f"interactions[{index}] ({interaction.describe()}) was never requested"
            for index, interaction in self._plays[len(self.requests) :]
        ]

    async def stream(self, request: ProviderRequest) -> AsyncIterator[Chunk]:
        number = self._claim(request, len(self._plays), "cassette's streaming interactions")
        index, interaction = self._plays[number - 1]
        self._compare(number, index, request)
        items = stream_items(
            interaction,
            chunking=self.chunking,
            seed=self.seed,
            number=index,
            on_problem=self.problems.append,
        )
        for item in items:
            if isinstance(item, Delay):
                await _pause(item)
            else:
                yield item
