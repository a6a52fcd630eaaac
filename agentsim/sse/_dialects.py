"""The SSE dialects (DESIGN §6) behind one registry: encode, decode, project, rule-check, detect.

Five dialects: ``native`` (every field; resumable), ``agui`` (AG-UI 1.0), ``vercel`` (AI SDK UI
message stream v5), ``phase`` (seed 000) and ``chat`` (seed 001). Each module documents what its
transcript carries and what decoding loses; `_fill` says how the rest is filled in.

- S1: ``decode(encode(events)) == events`` for native, ``== project(events)`` for the others, for
  every trace that keeps EV1-EV7 (encoders accept any sequence of events).
- S2: ``rules`` checks a transcript against its dialect's ordering rules; violations are
  ``S2.<dialect>.<rule>`` at the SSE event (0-based) where the rule broke.
- `check_transcript` is what ``agentsim check`` runs on a user's captured stream: it reads the
  transcript (a `TranscriptError` if it cannot: not SSE, JSON that does not fit, an unknown event
  type), applies S2, decodes and applies EV1-EV7 (EV8 and the ``max_steps`` bound only with the
  loop's options; the history invariants need a history, which no transcript has).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from agentsim.check._invariants import Trace, Violation, check_trace
from agentsim.core._errors import InputError
from agentsim.core._events import EVENTS, AgentEvent
from agentsim.core._sse_framing import ServerSentEvent
from agentsim.loop._protocol import LoopOptions
from agentsim.sse._agui import (
    TYPES as AGUI_TYPES,
)
from agentsim.sse._agui import AGUIEncoder, agui_frames, decode_agui, project_agui
from agentsim.sse._common import DialectEncoder, Frame, TranscriptError, read_sse, strict_loads
from agentsim.sse._fill import Decoded
from agentsim.sse._native import NativeEncoder, decode_native, native_frames
from agentsim.sse._rules import agui_rules, native_rules, terminal_rules, vercel_rules
from agentsim.sse._seeds import (
    CHAT_EVENTS,
    PHASE_TYPES,
    ChatEncoder,
    PhaseEncoder,
    chat_frames,
    decode_chat,
    decode_phase,
    phase_frames,
    project_chat,
    project_phase,
)
from agentsim.sse._vercel import (
    HEADERS as VERCEL_HEADERS,
)
from agentsim.sse._vercel import (
    TYPES as VERCEL_TYPES,
)
from agentsim.sse._vercel import (
    VercelEncoder,
    decode_vercel,
    project_vercel,
    vercel_frames,
)

__all__ = [
    "DIALECTS",
    "DIALECT_NAMES",
    "Dialect",
    "DialectName",
    "TranscriptReport",
    "check_transcript",
    "decode_dialect",
    "detect_dialect",
    "dialect_rules",
    "encode_dialect",
    "get_dialect",
    "project_dialect",
]

DialectName = Literal["native", "agui", "vercel", "phase", "chat"]
DIALECT_NAMES: tuple[DialectName, ...] = ("native", "agui", "vercel", "phase", "chat")
_EV_WITHOUT_OPTIONS = ("EV1", "EV2", "EV3", "EV4", "EV5", "EV6", "EV7")
_EV_ALL = (*_EV_WITHOUT_OPTIONS, "EV8")


@dataclass(frozen=True, slots=True)
class Dialect:
    """One SSE dialect: how agent events become its bytes and how its bytes are read back."""

    name: DialectName
    summary: str
    headers: Mapping[str, str]
    new_encoder: Callable[[], DialectEncoder]
    read_frames: Callable[[Sequence[ServerSentEvent]], list[Frame]]
    rules: Callable[[Sequence[Frame]], list[Violation]]
    decode_frames: Callable[[Sequence[Frame]], Decoded]
    project: Callable[[Sequence[AgentEvent]], list[AgentEvent]]

    def encode(self, events: Sequence[AgentEvent]) -> bytes:
        encoder = self.new_encoder()
        return b"".join(encoder.feed(event) for event in events)

    def frames(self, data: bytes) -> list[Frame]:
        return self.read_frames(read_sse(data, self.name))

    def decode(self, data: bytes) -> Decoded:
        """Agent events of a transcript; raises only `TranscriptError`."""
        return self.decode_frames(self.frames(data))


def _identity(events: Sequence[AgentEvent]) -> list[AgentEvent]:
    return list(events)


_SSE = {"content-type": "text/event-stream"}
DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "native",
            "agentsim's own events: id = seq, event = type, data = the event",
            _SSE,
            NativeEncoder,
            native_frames,
            native_rules,
            decode_native,
            _identity,
        ),
        Dialect(
            "agui",
            "AG-UI 1.0 events (ag-ui-protocol)",
            _SSE,
            AGUIEncoder,
            agui_frames,
            agui_rules,
            decode_agui,
            project_agui,
        ),
        Dialect(
            "vercel",
            "Vercel AI SDK UI message stream v5",
            {**_SSE, **VERCEL_HEADERS},
            VercelEncoder,
            vercel_frames,
            vercel_rules,
            decode_vercel,
            project_vercel,
        ),
        Dialect(
            "phase",
            "seed 000's phase frames",
            _SSE,
            PhaseEncoder,
            phase_frames,
            terminal_rules("phase", frozenset({"done", "error"})),
            decode_phase,
            project_phase,
        ),
        Dialect(
            "chat",
            "seed 001's chat frames",
            _SSE,
            ChatEncoder,
            chat_frames,
            terminal_rules("chat", frozenset({"done", "error", "billing_error"})),
            decode_chat,
            project_chat,
        ),
    )
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise InputError(
            f"unknown SSE dialect {name!r}; expected one of {', '.join(DIALECT_NAMES)}"
        ) from None


def encode_dialect(events: Sequence[AgentEvent], dialect: str) -> bytes:
    """The transcript of `events` in `dialect` (deterministic bytes, LF line endings)."""
    return get_dialect(dialect).encode(events)


def decode_dialect(data: bytes, dialect: str | None = None) -> list[AgentEvent]:
    """The agent events of a transcript (`dialect` None: detected); raises `TranscriptError`."""
    name = dialect or detect_dialect(data)
    return list(get_dialect(name).decode(data).events)


def project_dialect(events: Sequence[AgentEvent], dialect: str) -> list[AgentEvent]:
    """What decoding `dialect`'s transcript of `events` gives back (S1)."""
    return get_dialect(dialect).project(events)


def dialect_rules(data: bytes, dialect: str) -> list[Violation]:
    """S2: the dialect's ordering rules broken by a transcript."""
    spec = get_dialect(dialect)
    return spec.rules(spec.frames(data))


def _guess(event: ServerSentEvent) -> DialectName | None:
    if event.event != "message":
        return "native"
    if event.data == "[DONE]":
        return "vercel"
    try:
        body = strict_loads(event.data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    kind = body.get("type")
    if isinstance(kind, str):
        if kind == "error":
            return "vercel" if "errorText" in body else "phase"
        if kind in AGUI_TYPES:
            return "agui"
        if kind in VERCEL_TYPES or kind.startswith("data-"):
            return "vercel"
        if kind in PHASE_TYPES:
            return "phase"
        if kind in EVENTS.tags and "seq" in body:
            return "native"
    chat_event = body.get("event")
    if isinstance(chat_event, str) and chat_event in CHAT_EVENTS and "data" in body:
        return "chat"
    return None


def detect_dialect(data: bytes) -> DialectName:
    """The dialect of a transcript, from its first SSE event that only one dialect could send."""
    for event in read_sse(data):
        guess = _guess(event)
        if guess is not None:
            return guess
    raise TranscriptError(
        "cannot tell the dialect: no event looks like " + ", ".join(DIALECT_NAMES)
    )


@dataclass(frozen=True, slots=True)
class TranscriptReport:
    """The result of checking one transcript: its dialect's rules (S2) and the invariants."""

    dialect: DialectName
    sse_events: int
    events: tuple[AgentEvent, ...]
    origins: tuple[int | None, ...]
    rule_violations: tuple[Violation, ...]
    invariant_violations: tuple[Violation, ...]
    invariants: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not (self.rule_violations or self.invariant_violations)

    def render(self) -> str:
        lines = [
            f"dialect: {self.dialect} ({self.sse_events} SSE events, "
            f"{len(self.events)} agent events decoded)"
        ]
        if self.rule_violations:
            lines.append(f"S2 ({self.dialect} rules): {len(self.rule_violations)} violation(s)")
            lines += [f"  {_describe(v, 'SSE event')}" for v in self.rule_violations]
        else:
            lines.append(f"S2 ({self.dialect} rules): all hold")
        checked = ", ".join(self.invariants)
        if self.invariant_violations:
            lines.append(f"invariants ({checked}): {len(self.invariant_violations)} violation(s)")
            for v in self.invariant_violations:
                origin = self.origins[v.index] if v.index is not None else None
                suffix = f" (from SSE event {origin})" if origin is not None else ""
                lines.append(f"  {_describe(v, 'agent event')}{suffix}")
        else:
            lines.append(f"invariants ({checked}): all hold")
        if "EV8" not in self.invariants:
            lines.append("  (EV8 and the max_steps bound need the loop's options)")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def _describe(violation: Violation, unit: str) -> str:
    where = f" at {unit} {violation.index}" if violation.index is not None else ""
    return f"{violation.invariant}{where}: expected {violation.expected}; saw {violation.seen}"


def check_transcript(
    data: bytes,
    *,
    dialect: str | None = None,
    options: LoopOptions | None = None,
    dropped: bool = False,
) -> TranscriptReport:
    """Check a captured transcript: S2 for its dialect, then EV1-EV7 (EV8 too with `options`).

    `dropped` says the consumer stopped reading on purpose (then no terminal event is expected).
    Raises `TranscriptError` when the bytes cannot be read in the dialect.
    """
    spec = get_dialect(dialect or detect_dialect(data))
    frames = spec.frames(data)
    rules = spec.rules(frames)
    decoded = spec.decode_frames(frames)
    only = _EV_ALL if options is not None else _EV_WITHOUT_OPTIONS
    trace = Trace(
        events=decoded.events,
        options=options or LoopOptions(max_steps=sys.maxsize),
        dropped=dropped,
    )
    return TranscriptReport(
        dialect=spec.name,
        sse_events=len(frames),
        events=decoded.events,
        origins=decoded.origins,
        rule_violations=tuple(rules),
        invariant_violations=tuple(check_trace(trace, only=only)),
        invariants=only,
    )
