"""Fake providers and scripted tools: what a scenario's script becomes at run time.

`ScriptedProvider` plays one script entry per provider request, strictly: a request beyond the
script fails (and is recorded), and entries never requested are reported by `unused()`. Delays are
virtual (a sleep on the simulation's loop, asyncio's or trio's: `agentsim.core._backends`).
`FunctionProvider` is the same for library users who would rather write a function of the
request than a file.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from agentsim.check._trace import StreamLog
from agentsim.core._backends import cancelled_errors, clock, sleep, sleep_forever
from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
)
from agentsim.core._history import (
    Message,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)
from agentsim.core._runtime import CancelToken
from agentsim.core._usage import Usage
from agentsim.core._virtual_loop import VirtualEventLoop
from agentsim.loop._protocol import ProviderError, ProviderRequest
from agentsim.scenario._schema import (
    ErrorItem,
    FinishItem,
    MalformedItem,
    ReasoningItem,
    RequestCheck,
    RequestScript,
    ResetItem,
    StallItem,
    TextItem,
    ToolCallArgsItem,
    ToolCallEndItem,
    ToolCallItem,
    ToolCallStartItem,
    TruncateItem,
    UsageItem,
)

__all__ = [
    "Delay",
    "FunctionProvider",
    "Malformed",
    "Reset",
    "RetryAfter",
    "ScriptedProvider",
    "Stall",
    "StrictPlayback",
    "chunk_item",
    "compile_request",
]


@dataclass(frozen=True, slots=True)
class Delay:
    """In a scripted stream: wait this many virtual seconds before the next chunk."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Stall:
    """In a scripted stream: hang here until the loop gives up (timeout or cancellation)."""


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """In a scripted stream, right before an HTTP error (an `ErrorChunk` with a status, before
    any output): the answer's ``Retry-After`` header, in seconds. Only HTTP clients see it."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Reset:
    """In a scripted stream, last: the connection drops mid-body. An HTTP client's read raises
    (httpx's ``RemoteProtocolError``); a protocol loop's provider stream raises `ProviderError`
    (kind ``server``, not retryable: SDKs retry only before the response head)."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """In a scripted stream, last: an event whose data is `data` (not valid JSON, or not the
    API's schema), in the API's framing; then the stream ends. A protocol loop's provider
    stream raises `ProviderError` (kind ``other``), as an SDK's decoder would."""

    data: str


# The wire-only items: what an HTTP answer can do that no chunk says.
WireItem = RetryAfter | Reset | Malformed
StreamItem = Chunk | Delay | Stall | RetryAfter | Reset | Malformed


def wire_error(item: Reset | Malformed) -> ProviderError:
    """What a provider stream (not HTTP) raises for a wire-only fault."""
    if isinstance(item, Reset):
        return ProviderError("connection reset mid-body (agentsim)", kind="server")
    return ProviderError(f"malformed event from the provider: {item.data[:60]!r}", kind="other")


async def _pause(item: Delay | Stall) -> None:
    if isinstance(item, Stall):
        await sleep_forever()
    elif item.seconds > 0:
        loop = asyncio._get_running_loop()
        if isinstance(loop, VirtualEventLoop) and loop.skip_sleep(item.seconds):
            return  # nothing could have happened meanwhile: the clock moved, as the sleep would
        await sleep(item.seconds)


class FunctionProvider:
    """A provider from a function of the request returning chunks (with `Delay`/`Stall` items).

    The function may be sync or async and may return a list, any iterable, or an async iterator.
    """

    def __init__(self, function: Callable[[ProviderRequest], Any]) -> None:
        self._function = function
        self.requests: list[ProviderRequest] = []

    async def stream(self, request: ProviderRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        result = self._function(request)
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "__aiter__"):
            async for item in result:
                if isinstance(item, Delay | Stall):
                    await _pause(item)
                elif isinstance(item, Reset | Malformed):
                    raise wire_error(item)
                elif not isinstance(item, RetryAfter):
                    yield item
        else:
            for item in result:
                if isinstance(item, Delay | Stall):
                    await _pause(item)
                elif isinstance(item, Reset | Malformed):
                    raise wire_error(item)
                elif not isinstance(item, RetryAfter):
                    yield item


def _split(text: str, size: int | None) -> list[str]:
    if size is None or len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


# The schema's chunk items, told apart by class identity: an `isinstance` test against a
# pydantic model class goes through ABCMeta and costs more than the rest of an item's compile.
_ITEM_CLASSES: tuple[type, ...] = (
    TextItem,
    ReasoningItem,
    ToolCallItem,
    ToolCallStartItem,
    ToolCallArgsItem,
    ToolCallEndItem,
    UsageItem,
    FinishItem,
    ErrorItem,
    StallItem,
    ResetItem,
    MalformedItem,
    TruncateItem,
)
_KNOWN_ITEMS = frozenset(_ITEM_CLASSES)


def _item_class(entry: object) -> type:
    """The schema class of a chunk item (its own, or the one it subclasses)."""
    cls = entry.__class__
    if cls in _KNOWN_ITEMS:
        return cls
    for known in _ITEM_CLASSES:
        if isinstance(entry, known):
            return known
    raise AssertionError(f"not a chunk item: {cls.__name__}")


def compile_request(script: RequestScript, number: int) -> list[StreamItem]:
    """One script entry as the stream it plays: chunks, delays and a stall."""
    items: list[StreamItem] = []
    next_index = 0
    delays: dict[float, Delay] = {}  # one (frozen) Delay per length: a long recording repeats
    for entry in script.chunks:
        if entry.delay:
            delay = delays.get(entry.delay)
            if delay is None:
                delay = delays[entry.delay] = Delay(entry.delay)
            items.append(delay)
        cls = entry.__class__
        if cls not in _KNOWN_ITEMS:
            cls = _item_class(entry)
        if cls is TextItem:  # most items: first
            entry = cast(TextItem, entry)
            if entry.split is None:
                items.append(TextChunk(entry.text))
            else:
                items.extend([TextChunk(part) for part in _split(entry.text, entry.split)])
        elif cls is ReasoningItem:
            entry = cast(ReasoningItem, entry)
            parts = _split(entry.reasoning, entry.split)
            items.extend(ReasoningChunk(part) for part in parts[:-1])
            items.append(ReasoningChunk(parts[-1], entry.signature))
        elif cls is ToolCallItem:
            entry = cast(ToolCallItem, entry)
            call = entry.tool_call
            index = call.index if call.index is not None else next_index
            next_index = max(next_index, index + 1)
            call_id = call.id or f"call_{number}_{index}"
            items.append(ToolCallStartChunk(index, call_id, call.name))
            if call.fragments is not None:
                fragments = call.fragments
            else:
                arguments = call.arguments
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
                fragments = _split(arguments, call.split)
            items.extend(ToolCallArgsChunk(index, f) for f in fragments)
            if call.end:
                items.append(ToolCallEndChunk(index))
        elif cls is ToolCallStartItem:
            entry = cast(ToolCallStartItem, entry)
            start = entry.tool_call_start
            next_index = max(next_index, start.index + 1)
            items.append(ToolCallStartChunk(start.index, start.id, start.name))
        elif cls is ToolCallArgsItem:
            entry = cast(ToolCallArgsItem, entry)
            items.append(ToolCallArgsChunk(entry.tool_call_args.index, entry.tool_call_args.delta))
        elif cls is ToolCallEndItem:
            entry = cast(ToolCallEndItem, entry)
            end = entry.tool_call_end
            items.append(ToolCallEndChunk(end.index, end.rejected))
        elif cls is UsageItem:
            entry = cast(UsageItem, entry)
            u = entry.usage
            usage = Usage(u.input_tokens, u.output_tokens, u.reasoning_tokens, u.cached_tokens)
            items.append(UsageChunk(usage))
        elif cls is FinishItem:
            entry = cast(FinishItem, entry)
            items.append(FinishChunk(entry.finish))
        elif cls is ErrorItem:
            entry = cast(ErrorItem, entry)
            e = entry.error
            if e.retry_after is not None:
                items.append(RetryAfter(e.retry_after))
            items.append(ErrorChunk(e.kind, e.message, e.retryable, e.status))
        elif cls is StallItem:
            items.append(Stall())
        elif cls is ResetItem:
            items.append(Reset())
        elif cls is MalformedItem:
            entry = cast(MalformedItem, entry)
            items.append(Malformed(entry.malformed))
        else:
            assert cls is TruncateItem
            break
    return items


def chunk_item(chunk: Chunk) -> dict[str, Any]:
    """The scenario item (chunk data) that parses back to `chunk`."""
    if isinstance(chunk, TextChunk):
        return {"text": chunk.text}
    if isinstance(chunk, ReasoningChunk):
        item: dict[str, Any] = {"reasoning": chunk.text}
        if chunk.signature is not None:
            item["signature"] = chunk.signature
        return item
    if isinstance(chunk, ToolCallStartChunk):
        return {"tool_call_start": {"index": chunk.index, "id": chunk.call_id, "name": chunk.name}}
    if isinstance(chunk, ToolCallArgsChunk):
        return {"tool_call_args": {"index": chunk.index, "delta": chunk.delta}}
    if isinstance(chunk, ToolCallEndChunk):
        if chunk.rejected is not None:
            return {"tool_call_end": {"index": chunk.index, "rejected": chunk.rejected}}
        return {"tool_call_end": {"index": chunk.index}}
    if isinstance(chunk, UsageChunk):
        return {"usage": {k: v for k, v in chunk.usage.to_dict().items() if v}}
    if isinstance(chunk, FinishChunk):
        return {"finish": chunk.reason}
    assert isinstance(chunk, ErrorChunk)
    error: dict[str, Any] = {"kind": chunk.kind, "message": chunk.message}
    error["retryable"] = chunk.retryable
    if chunk.status is not None and 100 <= chunk.status <= 599:
        error["status"] = chunk.status
    return {"error": error}


def _check_request(check: RequestCheck, request: ProviderRequest, number: int) -> list[str]:
    problems: list[str] = []
    where = f"request {number}"
    messages = request.messages
    if check.messages is not None and len(messages) != check.messages:
        problems.append(f"{where}: expected {check.messages} messages, got {len(messages)}")
    if check.last_role is not None:
        role = messages[-1].role if messages else None
        if role != check.last_role:
            problems.append(
                f"{where}: expected the last message's role {check.last_role!r}, got {role!r}"
            )
    if check.contains is not None and not any(check.contains in _message_text(m) for m in messages):
        problems.append(f"{where}: no message contains {check.contains!r}")
    if check.tools is not None:
        offered = [t.name for t in request.tools]
        if offered != check.tools:
            problems.append(f"{where}: expected tools {check.tools}, got {offered}")
    if check.attempt is not None and request.attempt != check.attempt:
        problems.append(f"{where}: expected attempt {check.attempt}, got {request.attempt}")
    return problems


def _message_text(message: Message) -> str:
    if isinstance(message, SystemMessage | UserMessage):
        return message.text
    if isinstance(message, ToolResultMessage):
        return message.content
    return "".join(getattr(b, "text", "") or getattr(b, "arguments", "") for b in message.blocks)


class StrictPlayback:
    """What scripted and recorded providers share: one entry per request, strictly, in order.

    `requests` are the requests received; `problems` every deviation found while playing.
    """

    def __init__(self) -> None:
        self.requests: list[ProviderRequest] = []
        self.problems: list[str] = []

    def _claim(self, request: ProviderRequest, available: int, what: str) -> int:
        """Record `request`; its 1-based number, or a recorded `ProviderError` past the end."""
        self.requests.append(request)
        number = len(self.requests)
        if number > available:
            problem = (
                f"request {number} (step {request.step}, attempt {request.attempt}) is beyond "
                f"the {what}, which has {available}"
            )
            self.problems.append(problem)
            raise ProviderError(problem, kind="invalid_request")
        return number


class _Compiled:
    """The streams of a script's entries (`compile_request`), each compiled when first played:
    a generated script is over-provisioned, and most runs never reach its last entries."""

    __slots__ = ("_scripts", "_streams")

    def __init__(self, scripts: list[RequestScript]) -> None:
        self._scripts = scripts
        self._streams: dict[int, list[StreamItem]] = {}

    def __getitem__(self, index: int) -> list[StreamItem]:
        stream = self._streams.get(index)
        if stream is None:
            number = range(len(self._scripts))[index] + 1  # IndexError as a list's
            stream = self._streams[index] = compile_request(self._scripts[index], number)
        return stream

    def __len__(self) -> int:
        return len(self._scripts)


class StreamRecord(Protocol):
    """A harness's record of one provider stream (`agentsim.harness._recording`), which a
    scripted stream fills itself when handed one, as the harness's timing wrapper would: each
    chunk with the time it was handed over (clock minus `zero`), how the stream ended
    (``finished``, ``closed`` or ``raised`` with `error`) and when. One generator layer fewer
    for each chunk of a long scripted answer."""

    zero: float
    chunks: list[Chunk]
    times: list[float]
    ended: str
    error: str | None
    end: float | None


class ScriptedProvider(StrictPlayback):
    """Plays a scenario's requests in order, strictly, and records every deviation.

    It also keeps a `StreamLog` per request (`streams`): what it sent and how long the loop waited
    on it, in virtual seconds since `origin` (the run's start), which the invariants compare with
    what the loop did (retryability, idle waits, closing on cancel, signatures).
    """

    def __init__(
        self,
        scripts: Sequence[RequestScript],
        *,
        cancel: tuple[int, int, CancelToken] | None = None,
        origin: float = 0.0,
    ) -> None:
        super().__init__()
        self._scripts = list(scripts)
        self._compiled = _Compiled(self._scripts)
        self._cancel = cancel
        self._origin = origin
        self.streams: list[StreamLog] = []

    def unused(self) -> list[str]:
        """Parts of the script the run never reached: requests, and the cancellation point."""
        out = [
            f"requests[{i}] (request {i + 1}) was never made"
            for i in range(len(self.requests), len(self._scripts))
        ]
        if self._cancel is not None and not self._cancel[2].cancelled:
            request, chunk = self._cancel[:2]
            out.append(f"cancel point (request {request}, before chunk {chunk}) was never reached")
        return out

    async def stream(
        self, request: ProviderRequest, *, record: Callable[[], StreamRecord] | None = None
    ) -> AsyncIterator[Chunk]:
        """The script entry's stream; `record`, if given, is called as it starts for the
        `StreamRecord` to fill (see there)."""
        time = clock()
        origin = self._origin
        tap = record() if record is not None else None
        zero = tap.zero if tap is not None else 0.0

        def now() -> float:
            return round(time() - origin, 9)

        last_raw = time()
        last_t = round(last_raw - origin, 9)
        log = StreamLog(number=len(self.requests) + 1, opened=last_t)
        self.streams.append(log)
        waiting_since, blocked = log.opened, True
        runs: list[str | None] = []  # the signature of each reasoning run, as the loop merges them
        in_reasoning = False
        try:
            try:
                number = self._claim(request, len(self._scripts), "script's requests")
            except ProviderError as exc:
                log.error = (exc.kind, exc.retryable)
                raise
            check = self._scripts[number - 1].expect
            if check is not None:
                self.problems.extend(_check_request(check, request, number))
            chunk_number = 0
            cancel = self._cancel
            for item in self._compiled[number - 1]:
                if item.__class__ is TextChunk and cancel is None:
                    # The common item of a long answer, the same steps as below without the
                    # type tests; the clock is not rounded again while it stands still (an
                    # asyncio loop's clock hands out the same float until it moves).
                    raw = time()
                    if raw is not last_raw:
                        last_raw, last_t = raw, round(raw - origin, 9)
                    wait = last_t - waiting_since
                    if wait > log.longest_wait:
                        log.longest_wait = wait
                    log.chunks += 1
                    chunk_number += 1
                    if item.text:
                        in_reasoning = False
                    blocked = False
                    if tap is not None:
                        tap.times.append(raw - zero)
                        tap.chunks.append(item)
                    yield item
                    raw = time()
                    if raw is not last_raw:
                        last_raw, last_t = raw, round(raw - origin, 9)
                    waiting_since, blocked = last_t, True
                    continue
                if isinstance(item, Delay | Stall):
                    await _pause(item)
                    continue
                if isinstance(item, RetryAfter):
                    continue  # a header: only HTTP clients see it
                if isinstance(item, Reset | Malformed):
                    error = wire_error(item)
                    log.error = (error.kind, error.retryable)
                    raise error
                chunk_number += 1
                if self._cancel is not None and self._cancel[:2] == (number, chunk_number):
                    self._cancel[2].cancel()
                    # The cancellation arrives while the loop waits for this chunk: never deliver.
                    await sleep_forever()
                t = now()
                log.longest_wait = max(log.longest_wait, t - waiting_since)
                log.chunks += 1
                if isinstance(item, ReasoningChunk):
                    if item.text and not in_reasoning:
                        runs.append(item.signature)
                    elif item.signature is not None and runs:
                        runs[-1] = item.signature
                    in_reasoning = in_reasoning or bool(item.text)
                    log.signatures = tuple(s for s in runs if s is not None)
                elif isinstance(item, ToolCallStartChunk) or (
                    isinstance(item, TextChunk) and item.text
                ):
                    in_reasoning = False
                elif isinstance(item, FinishChunk):
                    log.finished = True
                elif isinstance(item, ErrorChunk):
                    log.error = (item.kind, item.retryable)
                blocked = False
                if tap is not None:
                    tap.times.append(time() - zero)
                    tap.chunks.append(item)
                yield item
                waiting_since, blocked = now(), True
            log.truncated = not log.finished and log.error is None
            if tap is not None:
                tap.ended = "finished"
        except GeneratorExit:
            if tap is not None:
                tap.ended = "closed"
            raise
        except cancelled_errors():
            if tap is not None:
                tap.ended = "closed"
            raise
        except Exception as exc:
            if tap is not None:
                tap.ended, tap.error = "raised", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            t = now()
            if blocked:
                log.longest_wait = max(log.longest_wait, t - waiting_since)
            log.closed = t
            if tap is not None and tap.end is None:
                tap.end = time() - zero
