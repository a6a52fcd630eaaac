"""What every adapter shares: a run that reads an SSE body live and turns it into agent events.

An adapter (`asgi_loop`, `sse_loop`) knows how to start the user's code for one input text and
get its response body as a stream of byte pieces (a `Producer`); `AdapterRun` does the rest, so
both behave the same:

- **Provider calls** of the code are answered by an `agentsim.intercept` of the `provider` the
  harness passes, set in the context of the producer's task only (so concurrent runs never mix).
- **Live decoding.** Each time a complete SSE event arrives, the transcript so far is decoded with
  the dialect decoder (detected from the first event that only one dialect could send) and the
  events not yet delivered are yielded. The decoders are whole-transcript functions whose fill-in
  (`sse/_fill.py`) only appends, so decoding a prefix yields a prefix of the events; re-decoding
  costs a little, but keeps one decoder per dialect, and what arrives at one instant (every
  piece already queued) is decoded once; the same bytes are never read twice (the last reading,
  frames and events, serves the end of the run and the dialect rules). Every event gets the
  time it arrived at
  (virtual seconds since the run started) - what a browser would see, and the only clock a lossy
  dialect (Vercel carries none) has - and the run's id (from the runtime's seeded ids, since apps
  often use random message ids, which must not make two runs of one seed differ).
- **Cancellation and consumer drop** are a client disconnect: the producer is told (an ASGI app
  gets ``http.disconnect``), given a moment to stop, then cancelled. A cancelled run ends, as the
  client sees it, with ``run_cancelled`` at the moment of the cancel; a dropped one with nothing.
- **The history** is what the code sent the provider: the harness's starting messages, then the
  last request's messages after its first user message, then the last response as the code's
  SDK was told it (the bytes delivered, read back by the API's decoder: its text, reasoning when
  ``reasoning`` is a declared feature, and the calls it completed). Tool-call
  arguments equal as JSON to what the transcript showed are written as the transcript showed
  them: SDKs re-serialise parsed arguments, which is not the code's doing. A run that was
  disconnected or failed ends with what the client saw of its last response instead.
- **Randomness.** The SDKs draw retry jitter from the global `random`; it is seeded from the run's
  seed when the run starts, so that one seed replays the same run.
- **A run that did not complete** is left resumable, as the reference loop leaves it: the last
  response's calls without a result get an error result (the code never got to answer them).
- **Endings agree with the provider (EV10, for ``provider_errors``).** The harness keeps no
  per-stream log for an adapter (the code's SDK may retry on its own, so requests are not
  steps), so the adapter checks the one clause it can tell from the wire: a run the client saw
  *complete* must have had its last provider answer finish (no error answer or event, no reset,
  malformed event, stall or truncation). An app that swallows a provider failure and tells the
  browser "finished" is caught here; one that retries (its SDK does) and then completes is not.
- **Dialect rules (S2)** are checked on a transcript that ran to its end (a disconnected one is
  cut short by the client, not by the code); violations, and a transcript that cannot be read,
  are the run's `violations`, which the harness adds to the invariants'.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import json
import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from agentsim.check._history_rules import expected_messages
from agentsim.check._invariants import Violation
from agentsim.core._chunks import (
    Chunk,
    ErrorChunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
)
from agentsim.core._events import (
    AgentEvent,
    RunCancelled,
    RunCompleted,
    RunFailed,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._history import (
    AssistantMessage,
    Block,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
)
from agentsim.core._runtime import Runtime
from agentsim.loop._features import Feature
from agentsim.loop._protocol import Provider, RunRequest
from agentsim.serve._intercept import Interception
from agentsim.sse._common import Frame, TranscriptError
from agentsim.sse._dialects import DialectName, detect_dialect, dialect_rules, get_dialect
from agentsim.sse._fill import Decoded

__all__ = ["AdapterRun", "Producer", "input_text"]

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_GRACE = 1.0  # virtual seconds a disconnected producer gets to stop before it is cancelled
_END = object()


class Producer(abc.ABC):
    """The user's code running for one input: `start` it, read `queue` (bytes, then the end
    marker), `disconnect` it. Subclasses implement `body`, which puts pieces via `put`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    @abc.abstractmethod
    async def body(self) -> None:
        """Run the user's code, `put` each piece of its answer."""

    async def _main(self) -> None:
        try:
            await self.body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the code under test raised: the run reports it
            self.error = exc
        finally:
            self.queue.put_nowait(_END)

    def start(self, context: contextvars.Context) -> None:
        self.task = asyncio.get_running_loop().create_task(self._main(), context=context)

    def disconnect(self) -> None:
        self.disconnected.set()

    async def stop(self) -> None:
        """Disconnect, give the code a moment to return, then cancel it."""
        self.disconnect()
        task = self.task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=_GRACE)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def input_text(request: RunRequest) -> str:
    """The text a run starts from: its last user message."""
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            return message.text
    return ""


class AdapterRun:
    """One run of an adapter: an `AgentRun` (iterate for events; `history`, `outcome`, and the
    adapter's own `violations` after it ended)."""

    def __init__(
        self,
        request: RunRequest,
        *,
        provider: Provider,
        runtime: Runtime,
        producer: Producer,
        dialect: DialectName | None,
        features: frozenset[Feature] | None,
        base_urls: Sequence[str] = (),
    ) -> None:
        self.request = request
        self.producer = producer
        self.dialect = dialect
        self.features = features
        self.interception = Interception(provider, base_urls=base_urls, ambient=False)
        self.run_id = runtime.ids.new("run")
        # SDKs draw retry jitter from the global `random`: seeded per run, so a seed replays.
        random.seed(f"agentsim-adapter:{runtime.seed}")
        self.events: list[AgentEvent] = []
        self.violations: list[Violation] = []
        self.transcript = b""
        self.outcome: RunCompleted | RunFailed | RunCancelled | None = None
        self.disconnected = False
        # The last transcript prefix read: its bytes, SSE frames and decoding, so that reading
        # the same bytes again (at the end, for the dialect rules) costs nothing.
        self._read: tuple[bytes, list[Frame], Decoded] | None = None
        self._iterator = self._run()

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._iterator

    async def aclose(self) -> None:
        await self._iterator.aclose()

    # -- the run ----------------------------------------------------------------------------------

    def _open(self) -> tuple[contextvars.Context, asyncio.Event, Callable[[], None]]:
        """Start the interception in a copy of this context and the producer in that copy;
        the event the cancel token sets, and the remover of that callback."""
        context = contextvars.copy_context()
        context.run(self.interception.start)
        cancelled = asyncio.Event()
        remove = self.request.cancel.add_callback(cancelled.set)
        self.producer.start(context)
        return context, cancelled, remove

    async def _close(self, context: contextvars.Context, remove: Callable[[], None]) -> None:
        """Undo `_open`, whatever the ending; code still producing means the client left."""
        remove()
        if self.producer.task is not None and not self.producer.task.done():
            self.disconnected = True
        await self.producer.stop()
        context.run(self.interception.stop)

    async def _run(self) -> AsyncGenerator[AgentEvent, None]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        context, cancelled, remove = self._open()
        try:
            while True:
                item = await self._next(cancelled)
                if item is None:  # the cancel token fired
                    self.disconnected = True
                    await self.producer.stop()
                    if self.outcome is None:
                        for event in self._closing(loop.time() - start):
                            yield event
                        yield self._cancelled(loop.time() - start)
                    return
                ended = item is _END
                pieces = [] if ended else [item]
                while not ended and not self.producer.queue.empty():  # all that came at once
                    more = self.producer.queue.get_nowait()
                    ended = more is _END
                    if not ended:
                        pieces.append(more)
                self.transcript += b"".join(p for p in pieces if isinstance(p, bytes))
                if ended:
                    break
                for event in self._decode(loop.time() - start, final=False):
                    yield event
            for event in self._decode(loop.time() - start, final=True):
                yield event
            self._end_checks()
        finally:
            await self._close(context, remove)

    async def _next(self, cancelled: asyncio.Event) -> object | None:
        queue = self.producer.queue
        if not queue.empty() or self.outcome is not None:
            return await queue.get()
        if cancelled.is_set():
            return None
        getter = asyncio.ensure_future(queue.get())
        waiter = asyncio.ensure_future(cancelled.wait())
        done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            waiter.cancel()
            return getter.result()
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)
        return None

    def _complete_part(self, final: bool) -> bytes:
        data = self.transcript
        if final:
            return data
        ends = list(_EVENT_END.finditer(data))
        return data[: ends[-1].end()] if ends else b""

    def _decode(self, now: float, *, final: bool) -> list[AgentEvent]:
        data = self._complete_part(final)
        if not data.strip() or (self.violations and self.violations[-1].invariant == "S2.read"):
            return []
        try:
            if self.dialect is None:
                self.dialect = detect_dialect(data)
            if self._read is not None and self._read[0] == data:
                decoded = self._read[2]  # nothing new since the last decoding
            else:
                spec = get_dialect(self.dialect)
                frames = spec.frames(data)
                decoded = spec.decode_frames(frames)
                self._read = (data, frames, decoded)
        except TranscriptError as exc:
            if final or not _may_be_undetected(exc):
                self.violations.append(
                    Violation("S2.read", None, "an SSE transcript in a known dialect", str(exc))
                )
            return []
        # The code's own `seq` stays: numbering is one of the things checked (EV1).
        return self._deliver(decoded.events[len(self.events) :], now, renumber=False)

    def _deliver(
        self, events: Iterable[AgentEvent], now: float, *, renumber: bool = True
    ) -> list[AgentEvent]:
        """`events` stamped with the time and this run's id (and numbered on, when `renumber`:
        for code whose events carry no numbers of their own), recorded and returned up to the
        terminal event: nothing after it reaches the checks twice."""
        out: list[AgentEvent] = []
        for event in events:
            if self.outcome is not None:
                break
            if renumber:
                event = replace(event, seq=len(self.events) + 1, t=now, run_id=self.run_id)
            else:
                event = replace(event, t=now, run_id=self.run_id)
            self.events.append(event)
            out.append(event)
            if isinstance(event, RunCompleted | RunFailed | RunCancelled):
                self.outcome = event
        return out

    def _closing(self, now: float) -> list[AgentEvent]:
        """Events the code emitted as it stopped for a cancel, delivered before the
        ``run_cancelled`` (none here: a client that cancelled reads no more of the body)."""
        return []

    def _cancelled(self, now: float) -> RunCancelled:
        before = self.events
        executed = {e.call_id for e in before if isinstance(e, ToolExecuted)}
        event = RunCancelled(
            len(before) + 1,
            now,
            self.run_id,
            "cancelled",
            "".join(e.text for e in before if isinstance(e, TextDelta)),
            "".join(e.text for e in before if isinstance(e, ThinkingDelta)),
            tuple(
                e.call_id
                for e in before
                if isinstance(e, ToolCallStarted) and e.call_id not in executed
            ),
        )
        self.events.append(event)
        self.outcome = event
        return event

    def _end_checks(self) -> None:
        if self.producer.error is not None:
            error = self.producer.error
            self.violations.append(
                Violation(
                    "S2.stream",
                    None,
                    "the endpoint to end its response normally",
                    f"it raised {type(error).__name__}: {error}",
                )
            )
        self._ending_check()
        if self.dialect is None or not self.transcript.strip():
            return
        with contextlib.suppress(TranscriptError):  # unreadable: reported by the decoding
            if self._read is not None and self._read[0] == self.transcript:  # read already
                self.violations.extend(get_dialect(self.dialect).rules(self._read[1]))
            else:
                self.violations.extend(dialect_rules(self.transcript, self.dialect))

    def _ending_check(self) -> None:
        if not isinstance(self.outcome, RunCompleted):
            return
        if self.features is not None and "provider_errors" not in self.features:
            return
        asked = self.interception.requests
        if not asked:
            return
        chunks = asked[-1][1]
        error = any(isinstance(c, ErrorChunk) for c in chunks)
        if error or not any(isinstance(c, FinishChunk) for c in chunks):
            what = "an error" if error else "no finish (an error, reset, stall or cut stream)"
            self.violations.append(
                Violation(
                    "EV10",
                    len(self.events) - 1,
                    "a completed run's last response to have finished",
                    f"request {len(asked)} had {what}, and the client was told it completed",
                )
            )

    # -- the history ------------------------------------------------------------------------------

    @property
    def history(self) -> tuple[Message, ...]:
        asked = self.interception.requests
        start = tuple(self.request.messages)
        later: list[Message] = []
        chunks: Sequence[Chunk] = ()
        if asked:
            last, chunks = asked[-1]
            first_user = next(
                (i for i, m in enumerate(last.messages) if isinstance(m, UserMessage)), -1
            )
            later = list(last.messages[first_user + 1 :])
        expected = expected_messages(self.events)
        if self.disconnected or isinstance(self.outcome, RunFailed):
            # What the code made of a response cut short (by the client, or by a provider
            # failure: an error after the finish leaves calls the SDK got but the code never
            # showed or ran) is what the client saw.
            said = sum(isinstance(m, AssistantMessage) for m in later)
            later.extend(expected[said:])
        else:
            response = _assistant(chunks)
            if response is not None:
                later.append(response)
        keep_reasoning = self.features is None or "reasoning" in self.features
        shown = {e.call_id: e.arguments for e in self.events if isinstance(e, ToolCallCompleted)}
        failed = {e.call_id: not e.ok for e in self.events if isinstance(e, ToolExecuted)}
        later = [_as_shown(m, shown, keep_reasoning, failed) for m in later]
        pauses = sum(_paused(c) for _, c in asked[:-1])
        out: list[Message] = []
        k = 0
        i = 0
        while i < len(later):
            message = later[i]
            i += 1
            if isinstance(message, AssistantMessage):
                if not any(_said(b) for b in message.blocks):
                    continue  # nothing said (or only reasoning the code does not claim to show)
                if k < len(expected):
                    joined_from = i
                    message, i = _continued(message, later, i, expected[k], pauses)
                    pauses -= i - joined_from
                    if _canonical(message) == _canonical(expected[k]):
                        message = expected[k]  # the same content; the order is the API's layout
                k += 1
            out.append(message)
        if not isinstance(self.outcome, RunCompleted):
            out.extend(_sealed(out))
        return start + tuple(out)


def _may_be_undetected(exc: TranscriptError) -> bool:
    return "cannot tell the dialect" in str(exc)


def _assistant(chunks: Sequence[Chunk]) -> AssistantMessage | None:
    """The assistant message a response's chunks make (only the calls it completed)."""
    runs: list[list[Any]] = []
    calls: dict[int, list[str]] = {}
    ended: set[int] = set()
    for chunk in chunks:
        if isinstance(chunk, TextChunk | ReasoningChunk):
            kind = "text" if isinstance(chunk, TextChunk) else "reasoning"
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(chunk.text)
            else:
                runs.append([kind, [chunk.text]])
        elif isinstance(chunk, ToolCallStartChunk):
            calls[chunk.index] = [chunk.call_id, chunk.name]
            runs.append(["call", chunk.index, []])
        elif isinstance(chunk, ToolCallArgsChunk):
            for run in reversed(runs):
                if run[0] == "call" and run[1] == chunk.index:
                    run[2].append(chunk.delta)
                    break
        elif isinstance(chunk, ToolCallEndChunk):
            ended.add(chunk.index)
    blocks: list[Block] = []
    for run in runs:
        if run[0] == "call":
            if run[1] in ended:
                call_id, name = calls[run[1]]
                blocks.append(ToolCallBlock(call_id, name, "".join(run[2])))
        elif "".join(run[1]):
            text = "".join(run[1])
            blocks.append(TextBlock(text) if run[0] == "text" else ReasoningBlock(text))
    return AssistantMessage(tuple(blocks)) if blocks else None


def _paused(chunks: Sequence[Chunk]) -> bool:
    return any(isinstance(c, FinishChunk) and c.reason == "pause" for c in chunks)


def _continued(
    message: AssistantMessage,
    later: Sequence[Message],
    i: int,
    shown: AssistantMessage,
    pauses: int,
) -> tuple[AssistantMessage, int]:
    """`message` joined with the assistant messages right after it when the code showed them as
    one turn: a paused turn (Anthropic's ``pause_turn``) that the code continued within one step,
    as pydantic-ai does, is sent back as an assistant message and continued by the next response;
    the wire has two messages where the code's step has one. Joined only as often as responses
    paused, and only when that is exactly what the events show, so a loop that makes the
    continuation a step of its own, or one that asks again after a finished answer, is checked
    as before."""
    if _canonical(message) == _canonical(shown):
        return message, i
    joined, j = message, i
    while j < len(later) and j - i < pauses and isinstance(nxt := later[j], AssistantMessage):
        joined, j = AssistantMessage(joined.blocks + nxt.blocks), j + 1
        if _canonical(joined) == _canonical(shown):
            return joined, j
    return message, i


def _sealed(messages: Sequence[Message]) -> list[Message]:
    """Results for the last response's calls that have none: a run that did not complete is
    left resumable, as the reference loop leaves it (H2); the code never got to answer them."""
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "assistant"), -1
    )
    if last < 0:
        return []
    message = messages[last]
    assert isinstance(message, AssistantMessage)
    answered = {m.call_id for m in messages[last + 1 :] if isinstance(m, ToolResultMessage)}
    why = "no result: the run ended before this call's result came"
    return [
        ToolResultMessage(call.call_id, why, True)
        for call in message.tool_calls
        if call.call_id not in answered
    ]


def _said(block: Block) -> bool:
    return not isinstance(block, TextBlock | ReasoningBlock) or bool(block.text)


def _canonical(message: AssistantMessage) -> tuple[str, str, tuple[ToolCallBlock, ...]]:
    """What every API's layout keeps of an assistant message: its text, its reasoning, its calls
    in order (Chat Completions, for one, puts all text before all calls)."""
    text = "".join(b.text for b in message.blocks if isinstance(b, TextBlock))
    thought = "".join(b.text for b in message.blocks if isinstance(b, ReasoningBlock))
    return text, thought, message.tool_calls


def _json_equal(a: str, b: str) -> bool:
    """Equal as JSON, no arguments at all being ``{}`` (as the SDKs send them back)."""
    try:
        return bool(json.loads(a.strip() or "{}") == json.loads(b.strip() or "{}"))
    except ValueError:
        return False


def _as_shown(
    message: Message, shown: dict[str, str], keep_reasoning: bool, failed: dict[str, bool]
) -> Message:
    if isinstance(message, ToolResultMessage) and message.call_id in failed:
        # Chat Completions' tool message has no error flag: the code's own verdict is the event's.
        return replace(message, is_error=failed[message.call_id])
    if not isinstance(message, AssistantMessage):
        return message
    blocks: list[Block] = []
    for block in message.blocks:
        if isinstance(block, ReasoningBlock) and not keep_reasoning:
            continue
        if isinstance(block, ToolCallBlock):
            seen = shown.get(block.call_id)
            if seen is not None and seen != block.arguments and _json_equal(seen, block.arguments):
                block = replace(block, arguments=seen)
        blocks.append(block)
    return AssistantMessage(tuple(blocks))
