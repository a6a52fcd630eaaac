"""What a check reads (a run's `Trace`), what it reports (`Violation`) and the registry of checks.

The trace holds what the loop delivered (events, history) and, separately, what the harness and
the scripted provider observed from outside the loop: when the harness requested cancellation,
every request the loop sent, and per request what the provider did (when it waited, which error it
sent and whether that error was retryable, whether it sent a finish). Those facts never come from
the loop's own events, so the checks built on them (EV8's retry and idle clauses, EV9, EV10, H4)
judge a loop under test exactly as they judge the reference loop.

`features` (DESIGN §9, loop/_features.py) says what the loop declares; None means every feature.
A clause belonging to a feature is skipped for a loop that does not declare it and applied in full
to one that does; clauses that belong to no feature (event order, ids, payloads, history
alternation) apply to every loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentsim.core._events import (
    EVENT_TYPES,
    AgentEvent,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    TerminalEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
)
from agentsim.core._history import Message
from agentsim.loop._features import Feature
from agentsim.loop._protocol import LoopOptions, ProviderRequest

__all__ = [
    "EPSILON",
    "INVARIANTS",
    "StreamLog",
    "Trace",
    "Violation",
]

# Virtual times are sums of floats: two instants closer than this are the same instant.
EPSILON = 1e-6

_TERMINALS = (RunCompleted, RunFailed, RunCancelled)
_CONTENT = (
    ThinkingDelta,
    TextDelta,
    ToolCallStarted,
    ToolCallDelta,
    ToolCallCompleted,
    ToolExecuted,
    RetryScheduled,
)
_CONTENT_TYPES = frozenset(_CONTENT)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: which, where (event index, 0-based, or None), expected vs seen."""

    invariant: str
    index: int | None
    expected: str
    seen: str

    def __str__(self) -> str:
        where = f" at event {self.index}" if self.index is not None else ""
        return f"{self.invariant}{where}: expected {self.expected}; saw {self.seen}"


@dataclass(slots=True, kw_only=True)
class StreamLog:
    """What the provider saw of one request's stream (times are run-relative virtual seconds).

    `longest_wait` is the longest time the loop waited on this stream for its next chunk (from
    the request, or from taking a chunk, to the next chunk or to closing the stream); `error` is
    the (kind, retryable) of the error the provider sent, if any; `finished` says a finish chunk
    was delivered, `truncated` that the stream ended without one; `chunks` counts the delivered
    chunks; `signatures` are the reasoning signatures delivered, in order.
    """

    number: int
    opened: float
    closed: float | None = None
    longest_wait: float = 0.0
    error: tuple[str, bool] | None = None
    finished: bool = False
    truncated: bool = False
    chunks: int = 0
    signatures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """What a run left: the delivered events, the final history, and the options it ran with.

    `dropped` marks a consumer drop (no terminal event was delivered); `initial_messages` is how
    many history messages existed before the run (they are not checked against the events). The
    rest is what the harness saw from outside the loop (None: not known, and the clauses needing
    it are skipped): `cancel_requested_at` (run-relative virtual time of the cancel request),
    `requests` (every request the provider received, in order), `streams` (one `StreamLog` per
    request) and `features` (what the loop declares; None = all).
    """

    events: Sequence[AgentEvent]
    history: Sequence[Message] | None = None
    options: LoopOptions = field(default_factory=LoopOptions)
    dropped: bool = False
    initial_messages: int = 0
    features: frozenset[Feature] | None = None
    cancel_requested_at: float | None = None
    requests: Sequence[ProviderRequest] | None = None
    streams: Sequence[StreamLog] | None = None

    def judges(self, feature: Feature) -> bool:
        """Is the loop judged on `feature` (declared, or nothing declared)?"""
        return self.features is None or feature in self.features


Check = Callable[[Trace], list[Violation]]
INVARIANTS: dict[str, Check] = {}


def invariant(name: str) -> Callable[[Check], Check]:
    """Register a check under its stable id (DESIGN §4)."""

    def register(check: Check) -> Check:
        INVARIANTS[name] = check
        return check

    return register


def name_of(event: AgentEvent) -> str:
    return event.type


def _terminal(events: Sequence[AgentEvent]) -> tuple[int, TerminalEvent] | None:
    if events and isinstance(events[-1], _TERMINALS):
        return len(events) - 1, events[-1]
    return None


class Facts:
    """What several checks ask of one trace, found once: the terminal event, and which event
    types occur (most traces have no sub-run, output or tool events, and the checks of those
    have nothing to judge). `check_trace` makes one per trace (`judging`); a check called on
    its own gets one made for it (`facts`)."""

    __slots__ = ("_exact", "kinds", "terminal", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.kinds = frozenset(map(type, trace.events))
        self._exact = self.kinds <= EVENT_TYPES  # no subclass of an event: set tests suffice
        self.terminal = _terminal(trace.events)

    def has(self, types: frozenset[type]) -> bool:
        """Is some event an instance of one of `types`?"""
        if self._exact:
            return not self.kinds.isdisjoint(types)
        return any(issubclass(kind, tuple(types)) for kind in self.kinds)


class _Judging(threading.local):
    facts: Facts | None = None  # of the trace `check_trace` is checking in this thread


_JUDGING = _Judging()


def facts(trace: Trace) -> Facts:
    """The `Facts` of `trace`: those of the trace being checked, or new ones."""
    current = _JUDGING.facts
    if current is not None and current.trace is trace:
        return current
    return Facts(trace)


def judging(trace: Trace) -> tuple[Facts | None, Facts]:
    """Start checking `trace` in this thread (its facts found once for every check); returns
    (what to hand `judged` when done, the facts)."""
    previous = _JUDGING.facts
    current = _JUDGING.facts = Facts(trace)
    return previous, current


def judged(previous: Facts | None) -> None:
    """Done checking (`judging`): back to what was being checked before, if anything."""
    _JUDGING.facts = previous


def terminal(trace: Trace) -> tuple[int, TerminalEvent] | None:
    """The terminal event and its index, if the trace ends with one."""
    current = _JUDGING.facts
    if current is not None and current.trace is trace:
        return current.terminal
    return _terminal(trace.events)
