"""SSE: what a loop's events look like on the wire to a browser, and back.

The layer: WHATWG framing (`SSEDecoder`, `decode_sse`, `encode_sse`), agentsim's `native` dialect
(`encode_native`), the AG-UI, Vercel AI SDK v5, `phase` and `chat` dialects - each an encoder, a
decoder and its ordering rules (S2) - transcript checking (`check_transcript`), Last-Event-ID resume
(`events_after`) and the normalizer for snapshots. One module per dialect (`_agui`, `_vercel`,
`_seeds`, `_native`), their shared frame reading in `_common`, the registry in `_dialects`.

May import: core, loop (the protocol's options), check (rules report `Violation`s). Must not import:
the harness, cassettes, serving, fuzzing, pytest or the CLI. Framing itself lives in `core`, since
the wire codecs read provider SSE with it too.
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.core._sse_framing import ServerSentEvent, SSEDecoder, decode_sse, encode_sse
from agentsim.sse._common import TranscriptError
from agentsim.sse._dialects import (
    DIALECT_NAMES,
    DialectName,
    TranscriptReport,
    check_transcript,
    decode_dialect,
    detect_dialect,
    dialect_rules,
    encode_dialect,
    project_dialect,
)
from agentsim.sse._encode_native import encode_native, encode_native_event
from agentsim.sse._native import events_after
from agentsim.sse._normalize import normalize_sse

__all__ = [
    "DIALECT_NAMES",
    "DialectName",
    "SSEDecoder",
    "ServerSentEvent",
    "TranscriptError",
    "TranscriptReport",
    "check_transcript",
    "decode_dialect",
    "decode_sse",
    "detect_dialect",
    "dialect_rules",
    "encode_dialect",
    "encode_native",
    "encode_native_event",
    "encode_sse",
    "events_after",
    "normalize_sse",
    "project_dialect",
]

check_exports(__name__, globals(), __all__)
