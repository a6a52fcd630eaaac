"""Loops that misbehave outright (issue 12 part 6): each must end its run with a clear failure
within the guard's budget, through ``agentsim run``, ``agentsim fuzz`` and the pytest fixture.

Each speaks the loop protocol and starts properly (``run_started``), then: ``spins`` loops in
pure Python without awaiting; ``busy_waits`` awaits ``sleep(0)`` forever; ``blocks`` calls
``time.sleep(3600)``; ``streams_forever`` yields text deltas without end; ``yields_garbage``
yields a string. ``MISBEHAVIOURS`` maps each name to the words its failure must contain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentsim import (
    AgentEvent,
    Message,
    Provider,
    RunRequest,
    RunStarted,
    Runtime,
    TextDelta,
    Toolset,
)


class _Run:
    def __init__(self, how: str) -> None:
        self.how = how

    @property
    def history(self) -> Sequence[Message]:
        return ()

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        yield RunStarted(1, 0.0, "run_1")
        if self.how == "spins":
            while True:
                pass
        elif self.how == "busy_waits":
            while True:
                await asyncio.sleep(0)
        elif self.how == "blocks":
            time.sleep(3600)
        elif self.how == "streams_forever":
            seq = 2
            while True:
                yield TextDelta(seq, 0.0, "run_1", "la")
                seq += 1
        else:
            yield "not an event"

    async def aclose(self) -> None:
        pass


class _Loop:
    def __init__(self, how: str) -> None:
        self.how = how

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> _Run:
        return _Run(self.how)


def spins() -> _Loop:
    return _Loop("spins")


def busy_waits() -> _Loop:
    return _Loop("busy_waits")


def blocks() -> _Loop:
    return _Loop("blocks")


def streams_forever() -> _Loop:
    return _Loop("streams_forever")


def yields_garbage() -> _Loop:
    return _Loop("yields_garbage")


MISBEHAVIOURS = {
    "spins": "spun for 0.3 s without awaiting",
    "busy_waits": "virtual time stood still",
    "blocks": "called time.sleep(3600)",
    "streams_forever": "emitted more than 2000 events",
    "yields_garbage": "yielded a str, not an agent event",
}
