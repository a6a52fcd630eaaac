"""The native SSE dialect: one SSE event per agent event (DESIGN §6).

``id: <seq>``, ``event: <type>``, ``data: <compact JSON of the event>``, LF line endings. The `id`
lets a client resume with ``Last-Event-ID``. Bytes are deterministic: keys in field order, compact
separators, non-ASCII text kept as UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from agentsim.core._events import AgentEvent, event_to_dict
from agentsim.core._sse_framing import encode_sse

__all__ = ["encode_native", "encode_native_event"]


def encode_native_event(event: AgentEvent) -> bytes:
    data = json.dumps(event_to_dict(event), separators=(",", ":"), ensure_ascii=False)
    return encode_sse(data=data, event=event.type, id=str(event.seq))


def encode_native(events: Iterable[AgentEvent]) -> bytes:
    """A whole transcript in the native dialect."""
    return b"".join(encode_native_event(event) for event in events)
