"""One run of an openai-agents agent: ``Runner.run_streamed`` on the run's input, as an `AgentRun`.

It is an `agentsim.adapters.AdapterRun` (the same interception in the run task's context, the
same history from the requests the SDK made, the same seeded `random` for the ``openai``
client's retry jitter, the same cancel / drop handling) whose producer is the SDK's run and
whose events come from the SDK's stream through `Mapper` instead of from SSE bytes.

- **Cancellation** is ``RunResultStreaming.cancel()`` (mode ``immediate``), called when the cancel
  token fires or the consumer stops reading (`Producer.stop`); the run then ends with
  ``run_cancelled`` at that moment, as the client saw it.
- **The ending** is the SDK's: ``stream_events()`` re-raises what ended the run. Documented
  exceptions map to failure kinds (`failure_kind`); anything else is the framework crashing, a
  ``run_failed`` (``provider``) plus the violation ``FW1`` naming the exception, so the fuzzer
  reports it instead of the harness crashing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

from agentsim.adapters._live import _END, AdapterRun, Producer
from agentsim.check._invariants import Violation
from agentsim.core._events import (
    AgentEvent,
    RunStarted,
    ToolExecuted,
)
from agentsim.core._history import Message, ToolResultMessage
from agentsim.frameworks.openai_agents._mapping import Mapper
from agentsim.frameworks.openai_agents._semantics import failure_kind
from agentsim.loop._protocol import ProviderRequest
from agentsim.serve._intercept import Received

__all__ = ["AgentsProducer", "AgentsRun"]

_REQUEST = "request"
_UNSENT = "no result: the run ended"  # the adapters' result for a call the code never answered


class _Seen(list[tuple[ProviderRequest, Received]]):
    """The interception's request list, telling the run of each request as it is made."""

    def __init__(self, told: Callable[[], None]) -> None:
        super().__init__()
        self._told = told

    def append(self, item: tuple[ProviderRequest, Received]) -> None:
        super().append(item)
        self._told()


class AgentsProducer(Producer):
    """The SDK's run: puts each stream event on the queue (requests are put by `_Seen`)."""

    def __init__(self, start: Callable[[], Any]) -> None:
        super().__init__()
        self._start = start
        self.result: Any = None

    async def body(self) -> None:
        self.result = self._start()
        async for event in self.result.stream_events():
            self.queue.put_nowait(event)

    def disconnect(self) -> None:
        super().disconnect()
        if self.result is not None:
            self.result.cancel()


class AgentsRun(AdapterRun):
    """An `AdapterRun` whose events are mapped from the SDK's stream."""

    producer: AgentsProducer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider = self.interception._provider
        if provider is not None:
            provider.requests = _Seen(lambda: self.producer.queue.put_nowait(_REQUEST))

    async def _run(self) -> AsyncGenerator[AgentEvent, None]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        mapper = Mapper(self.run_id)
        context, cancelled, remove = self._open()
        requests = self.interception.requests
        seen = 0
        try:
            for event in self._deliver([RunStarted(0, 0.0, "")], 0.0):
                yield event
            while True:
                item = await self._next(cancelled)
                now = loop.time() - start
                if item is None:  # the cancel token fired
                    self.disconnected = True
                    await self.producer.stop()
                    if self.outcome is None:
                        for event in self._deliver(mapper.end_sub_runs("cancelled", ""), now):
                            yield event
                        yield self._cancelled(now)
                    return
                if item is _END:
                    break
                if item == _REQUEST:
                    previous = requests[seen - 1][1] if seen else None
                    payloads = mapper.request(requests[seen][1], previous, now)
                    seen += 1
                else:
                    payloads = mapper.stream_event(item, now)
                for event in self._deliver(payloads, now):
                    yield event
            for event in self._deliver(self._ending(mapper), loop.time() - start):
                yield event
        finally:
            await self._close(context, remove)

    @property
    def history(self) -> tuple[Message, ...]:
        """The adapters' history (what the SDK sent, then its last response), with the tools
        that ran after the last request answered by their real output: the SDK runs a turn's
        tools before it finds the next turn is one too many (``MaxTurnsExceeded``) or a guardrail
        trips, so their results exist in the run (``result.new_items``) but were never sent."""
        ran = {e.call_id: e for e in self.events if isinstance(e, ToolExecuted)}
        out: list[Message] = []
        for message in super().history:
            if isinstance(message, ToolResultMessage) and message.is_error:
                done = ran.get(message.call_id)
                if done is not None and message.content.startswith(_UNSENT):
                    message = ToolResultMessage(message.call_id, done.output or "", not done.ok)
            out.append(message)
        return tuple(out)

    def _ending(self, mapper: Mapper) -> list[Any]:
        error = self.producer.error
        # A run that failed while a response streamed keeps nothing of it (the SDK raises out
        # of the turn, so the response never becomes run items): its history then has what
        # the events showed of it, as for a client that left mid-response.
        if error is not None and mapper.open and not mapper.answered:
            self.disconnected = True
        if error is None:
            output = getattr(self.producer.result, "final_output", None)
            return mapper.completed(output if isinstance(output, str) else None)
        message = f"{type(error).__name__}: {error}"
        kind = failure_kind(error)
        if kind is None:
            self.violations.append(
                Violation(
                    "FW1",
                    None,
                    "the framework to end a run normally or with one of its documented errors",
                    f"it raised {message}",
                )
            )
            kind = "provider"
        return mapper.failed(kind, message)
