"""What a run did besides its events: each provider request and chunk, each tool run, the cancel.

The events say what the loop *reported*; a timeline of a stall or a late cancellation also needs
what actually *happened* around the loop: when each provider request (and retry attempt) was made
and when each chunk arrived, when a tool started and whether it ever ended, when the cancel was
requested. `run_loop` records these for every loop, without the loop knowing: it hands the loop
a provider, tools and a cancel token that note the virtual time of each step and pass everything
through unchanged (same chunks, same results, same exceptions, a sync tool stays sync).

Times are virtual seconds since `run_loop` started the run, like the events' ``t`` (the reference
loop starts its clock in the same instant: nothing awaits a timer between the two). A request or
tool still open when the run ended has ``end = None``: it was left hanging (a stall, a tool the
loop abandoned). The recording is frozen when `run_loop` returns, so later clean-up (a stream
closed at loop shutdown) cannot change it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from agentsim.core._backends import cancelled_errors, clock
from agentsim.core._chunks import Chunk
from agentsim.core._runtime import CancelToken
from agentsim.core._tools import Tool, Toolset, ToolSpec
from agentsim.loop._protocol import Provider, ProviderRequest
from agentsim.scenario._script import ScriptedProvider

__all__ = [
    "ChunkAt",
    "ChunkTimes",
    "Recorder",
    "Recording",
    "RequestRecord",
    "ToolRecord",
    "recording_of",
    "unwrapped",
]


@dataclass(frozen=True, slots=True)
class ChunkAt:
    """One chunk a provider stream yielded, at the virtual time it was handed to the loop."""

    t: float
    chunk: Chunk


class ChunkTimes(Sequence[ChunkAt]):
    """A request's chunks at their times, as a sequence of `ChunkAt`, kept as two tuples: a long
    run has tens of thousands of chunks, and one object each for the garbage collector to walk
    is what set off a full collection during it; only a report reads them, a `ChunkAt` each
    made when read. Equal (and hashed) as the tuple of its `ChunkAt`s."""

    __slots__ = ("_chunks", "_times")

    def __init__(self, chunks: Sequence[Chunk] = (), times: Sequence[float] = ()) -> None:
        if len(chunks) != len(times):
            raise ValueError("one time per chunk")
        self._chunks, self._times = tuple(chunks), tuple(times)

    def __len__(self) -> int:
        return len(self._chunks)

    @overload
    def __getitem__(self, index: int) -> ChunkAt: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ChunkAt, ...]: ...

    def __getitem__(self, index: int | slice) -> ChunkAt | tuple[ChunkAt, ...]:
        if isinstance(index, slice):
            return tuple(map(ChunkAt, self._times[index], self._chunks[index]))
        return ChunkAt(self._times[index], self._chunks[index])

    def __iter__(self) -> Iterator[ChunkAt]:
        return map(ChunkAt, self._times, self._chunks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChunkTimes):
            return self._chunks == other._chunks and self._times == other._times
        return isinstance(other, tuple) and tuple(self) == other

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One provider request (one attempt of one step), its chunks and how its stream ended.

    `ended`: ``finished`` (the stream ran out), ``raised`` (it raised `error`), ``closed`` (the
    loop stopped reading: a timeout, a cancellation, a drop) or ``open`` (never ended).
    """

    number: int
    step: int
    attempt: int
    t: float
    end: float | None
    ended: str
    chunks: Sequence[ChunkAt]  # a `ChunkTimes`
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRecord:
    """One execution of a tool function: start, end (None: never ended), arguments, outcome.

    `outcome`: ``returned``, ``raised`` (then `error`), ``cancelled`` or ``open``.
    """

    name: str
    arguments: dict[str, Any]
    start: float
    end: float | None
    outcome: str
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    """Everything `run_loop` saw around the loop, in the order it happened."""

    requests: tuple[RequestRecord, ...] = ()
    tools: tuple[ToolRecord, ...] = ()
    cancel_at: float | None = None


@dataclass(slots=True)
class _OpenRequest:
    number: int
    request: ProviderRequest
    t: float
    zero: float  # the recorder's clock at the run's start: `t` and the times count from it
    chunks: list[Chunk] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each chunk was handed to the loop
    end: float | None = None
    ended: str = "open"
    error: str | None = None


@dataclass(slots=True)
class _OpenTool:
    name: str
    arguments: dict[str, Any]
    start: float
    end: float | None = None
    outcome: str = "open"
    error: str | None = None


class Recorder:
    """Wraps a run's provider, tools and cancel token; `freeze()` gives the `Recording`."""

    def __init__(self) -> None:
        self._clock = clock()
        self._start = self._clock()
        self._requests: list[_OpenRequest] = []
        self._tools: list[_OpenTool] = []
        self._cancel_at: float | None = None
        self._remove: Callable[[], None] | None = None

    def now(self) -> float:
        return self._clock() - self._start

    def provider(self, provider: Provider) -> Provider:
        return _RecordingProvider(provider, self)

    def tools(self, tools: Toolset) -> Toolset:
        return _RecordedTools(tools, self._tool)

    def watch(self, cancel: CancelToken) -> None:
        if not cancel.cancelled:
            self._remove = cancel.add_callback(self._cancelled)

    def _cancelled(self) -> None:
        if self._cancel_at is None:
            self._cancel_at = self.now()

    def _tool(self, tool: Tool) -> Tool:
        function = tool.function
        records = self._tools

        def begin(arguments: dict[str, Any]) -> _OpenTool:
            record = _OpenTool(tool.name, dict(arguments), self.now())
            records.append(record)
            return record

        def finish(record: _OpenTool, outcome: str, error: BaseException | None = None) -> None:
            record.end, record.outcome = self.now(), outcome
            if error is not None:
                record.error = f"{type(error).__name__}: {error}"

        if inspect.iscoroutinefunction(function):

            async def run_async(**arguments: Any) -> Any:
                record = begin(arguments)
                try:
                    value = await function(**arguments)
                except cancelled_errors():
                    finish(record, "cancelled")
                    raise
                except BaseException as exc:
                    finish(record, "raised", exc)
                    raise
                finish(record, "returned")
                return value

            wrapped: Callable[..., Any] = run_async
        else:

            def run_sync(**arguments: Any) -> Any:
                record = begin(arguments)
                try:
                    value = function(**arguments)
                except BaseException as exc:
                    finish(record, "raised", exc)
                    raise
                finish(record, "returned")
                return value

            wrapped = run_sync
        return Tool(tool.name, wrapped, tool.description, tool.parameters)

    def freeze(self) -> Recording:
        if self._remove is not None:
            self._remove()
            self._remove = None
        return Recording(
            requests=tuple(
                RequestRecord(
                    number=r.number,
                    step=r.request.step,
                    attempt=r.request.attempt,
                    t=r.t,
                    end=r.end,
                    ended=r.ended,
                    chunks=ChunkTimes(r.chunks, r.times),
                    error=r.error,
                )
                for r in self._requests
            ),
            tools=tuple(
                ToolRecord(
                    name=t.name,
                    arguments=t.arguments,
                    start=t.start,
                    end=t.end,
                    outcome=t.outcome,
                    error=t.error,
                )
                for t in self._tools
            ),
            cancel_at=self._cancel_at,
        )


class _RecordedTools(Toolset):
    """`tools` as the loop sees them: each wrapped (`Recorder._tool`) when first looked up, as
    most runs call few of their tools or none; the same names, order and specs."""

    def __init__(self, inner: Toolset, wrap: Callable[[Tool], Tool]) -> None:
        self._inner, self._wrap = inner, wrap
        self._tools = {}  # wrapped so far

    def __getitem__(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            tool = self._tools[name] = self._wrap(self._inner[name])
        return tool

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, name: object) -> bool:
        return name in self._inner

    def specs(self) -> tuple[ToolSpec, ...]:
        return self._inner.specs()  # a wrapped tool keeps its name, description and parameters


def recording_of(provider: object) -> Recording | None:
    """What was recorded so far through `provider`, a provider `run_loop` handed a loop (None for
    any other): how a guard that gave up on a hung or raising loop still gets the recording."""
    recorder = provider._recorder if isinstance(provider, _RecordingProvider) else None
    return recorder.freeze() if recorder is not None else None


def unwrapped(provider: Provider) -> Provider:
    """The provider a recording wrapper stands for (itself if it is none): what code that plays
    a provider's own script (the intercept) must look at."""
    return provider._inner if isinstance(provider, _RecordingProvider) else provider


class _RecordingProvider:
    """The provider as the loop sees it: same streams, each request and chunk timed."""

    def __init__(self, inner: Provider, recorder: Recorder) -> None:
        self._inner, self._recorder = inner, recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # a loop may read a provider's own attributes

    def stream(self, request: ProviderRequest) -> AsyncIterator[Chunk]:
        inner = self._inner
        if type(inner) is ScriptedProvider:
            # A scripted stream fills the record itself (the same times and ending), sparing
            # each chunk of a long scripted answer a generator layer.
            return inner.stream(request, record=lambda: self._open(request))
        return self._timed(request)

    def _open(self, request: ProviderRequest) -> _OpenRequest:
        """The record of a request whose stream is being read for the first time."""
        recorder = self._recorder
        record = _OpenRequest(len(recorder._requests) + 1, request, recorder.now(), recorder._start)
        recorder._requests.append(record)
        return record

    async def _timed(self, request: ProviderRequest) -> AsyncIterator[Chunk]:
        recorder = self._recorder
        record = self._open(request)
        stream = self._inner.stream(request)
        chunks, times, now = record.chunks, record.times, recorder.now
        try:
            async for chunk in stream:
                times.append(now())
                chunks.append(chunk)
                yield chunk
            record.ended = "finished"
        except GeneratorExit:
            record.ended = "closed"
            raise
        except cancelled_errors():
            record.ended = "closed"
            raise
        except Exception as exc:
            record.ended, record.error = "raised", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if record.end is None:
                record.end = recorder.now()
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
