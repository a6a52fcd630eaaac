"""Syrupy snapshots of SSE transcripts: one byte-exact, readable `.sse` file per snapshot.

`SSESnapshotExtension` stores each snapshot as its own ``.sse`` file holding exactly the
transcript's bytes: binary write mode, so nothing translates line endings or encodings, and the
file is the stream a client would read (``cat`` it, or ``curl`` a fake server and ``diff``).
Failures diff the decoded text line by line instead of two ``bytes`` reprs. It accepts bytes, a
str (written as UTF-8) or a sequence of agent events (written in the native dialect).

`NormalizedSSESnapshotExtension` stores `normalize_sse` of the transcript instead, for a loop
under test whose output carries random ids or wall-clock times.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, get_args

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SerializedData

from agentsim.core._events import AgentEvent
from agentsim.sse._encode_native import encode_native
from agentsim.sse._normalize import normalize_sse

__all__ = ["NormalizedSSESnapshotExtension", "SSESnapshotExtension"]

_EVENT_TYPES: tuple[type, ...] = get_args(AgentEvent)


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, Sequence) and all(isinstance(e, _EVENT_TYPES) for e in data):
        return encode_native(data)
    raise TypeError(f"an SSE snapshot takes bytes, str or agent events, not {type(data).__name__}")


class SSESnapshotExtension(SingleFileSnapshotExtension):
    """One byte-exact ``.sse`` file per snapshot."""

    file_extension = "sse"
    _write_mode = WriteMode.BINARY

    def prepare(self, transcript: bytes) -> bytes:
        """What is stored for a transcript: here the transcript itself."""
        return transcript

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        return self.prepare(_as_bytes(data))

    def diff_lines(
        self, serialized_data: SerializedData, snapshot_data: SerializedData
    ) -> Iterator[str]:
        def text(value: SerializedData) -> str:
            if isinstance(value, bytes):
                return value.decode("utf-8", "backslashreplace")
            return str(value)

        yield from super().diff_lines(text(serialized_data), text(snapshot_data))


class NormalizedSSESnapshotExtension(SSESnapshotExtension):
    """`SSESnapshotExtension` that stores `normalize_sse` of the transcript."""

    def prepare(self, transcript: bytes) -> bytes:
        return normalize_sse(transcript)
