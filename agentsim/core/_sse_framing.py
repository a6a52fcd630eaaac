"""Server-sent events framing: an incremental decoder and a deterministic encoder.

The decoder implements WHATWG HTML §9.2.5-9.2.6 ("Parsing an event stream" /
"Interpreting an event stream",
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
It is sans-IO: ``feed(bytes)`` returns the events completed by those bytes, with no
awaits, no sockets and no clocks, so it can sit behind any transport or replay.

Properties the rest of agentsim relies on:

* It never raises on bytes.  The stream is decoded with an *incremental* UTF-8
  decoder using U+FFFD replacement, so a multi-byte character split across two
  ``feed()`` calls decodes exactly as if it had arrived whole.  One leading BOM is
  stripped, only at the very start of the stream.
* Lines end in CRLF, LF or a lone CR, mixed freely.  A CR that ends one chunk is
  treated as a complete line ending immediately; if the next chunk then starts
  with LF, that LF is swallowed (it was the second half of a CRLF).  Without this
  a CRLF split across chunks would yield a spurious empty line and dispatch an
  event too early.
* Any chunking of the same bytes yields the same events.
* Only the incomplete tail line is buffered; complete lines are cut with
  ``str.split`` at C speed.  ``str.splitlines`` is deliberately not used: it also
  breaks on U+2028, U+0085, form feed, etc., which are ordinary text in SSE.

Choices where the spec leaves room (documented on the API below): per-event
``retry``; ``last_event_id`` follows the spec's "last event ID string", updated at
each blank line; the encoder rejects what it cannot frame instead of rewriting it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = [
    "SSEDecoder",
    "ServerSentEvent",
    "decode_sse",
    "encode_comment",
    "encode_sse",
]

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    ``id`` is the last event ID in force when the event was dispatched (it persists
    across events until the stream sets another one).  ``retry`` is the reconnection
    time (ms) from the last valid ``retry`` field inside *this event's block* (the
    lines since the previous blank line), or ``None`` if the block had none; the
    stream-wide value is :attr:`SSEDecoder.retry`.
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder for one stream (one connection).

    ``feed()`` accepts arbitrary chunks; ``close()`` marks the end of the stream and
    discards any unterminated event, as the spec requires.
    """

    __slots__ = (
        "_block_retry",
        "_closed",
        "_data",
        "_decoder",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_pending_cr",
        "_retry",
        "_started",
        "_tail",
    )

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # first non-empty text seen (BOM handled)
        self._pending_cr = False  # previous text ended with CR; swallow one leading LF
        self._tail: list[str] = []  # pieces of the incomplete last line (no CR/LF inside)
        self._data: list[str] = []  # data buffer, one entry per `data` line
        self._event_type = ""
        self._id_buffer = ""
        self._last_event_id = ""
        self._block_retry: int | None = None
        self._retry: int | None = None
        self._closed = False

    @property
    def last_event_id(self) -> str:
        """The spec's "last event ID string": the ID buffer as of the latest blank line.

        This is the value to send as ``Last-Event-ID`` when reconnecting.  An ``id``
        inside an event that was never terminated does not count.
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """Latest reconnection time in ms (applied as soon as its line is complete)."""
        return self._retry

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume a chunk of the byte stream; return the events it completed."""
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() called after close()")
        text = self._decoder.decode(data)
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._pending_cr:
            self._pending_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\n" not in text and "\r" not in text:
            self._tail.append(text)
            return []
        if self._tail:
            self._tail.append(text)
            text = "".join(self._tail)
            self._tail.clear()
        if "\r" in text:
            # A trailing CR already ends its line; remember it to swallow a following LF.
            self._pending_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        rest = lines.pop()
        if rest:
            self._tail.append(rest)
        return self._process(lines)

    def close(self) -> list[ServerSentEvent]:
        """End of stream.  Discards a partial line and any undispatched event.

        Always returns ``[]`` (an event is only ever dispatched by a blank line); it
        exists so callers can treat every decoder as ``feed* + close``.  Idempotent.
        """
        if not self._closed:
            self._closed = True
            self._decoder.decode(b"", final=True)
            self._tail.clear()
            self._data.clear()
            self._event_type = ""
            self._block_retry = None
        return []

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                # Blank line: dispatch (§9.2.6 "dispatch the event").
                self._last_event_id = self._id_buffer
                if data:
                    events.append(
                        ServerSentEvent(
                            data="\n".join(data),
                            event=self._event_type or "message",
                            id=self._id_buffer,
                            retry=self._block_retry,
                        )
                    )
                    data.clear()
                self._event_type = ""
                self._block_retry = None
                continue
            if line.startswith("data: "):  # the common line, read as the general case would
                data.append(line[6:])
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # comment
            if colon < 0:
                field, value = line, ""
            else:
                field = line[:colon]
                value = line[colon + 1 :]
                if value[:1] == " ":
                    value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "event":
                self._event_type = value
            elif field == "id":
                if "\0" not in value:
                    self._id_buffer = value
            elif field == "retry":
                retry = _parse_retry(value)
                if retry is not None:
                    self._retry = self._block_retry = retry
            # any other field is ignored
        return events


def _parse_retry(value: str) -> int | None:
    """ASCII digits only (non-empty), base ten; anything else is ignored (``None``).

    A value too long for Python's int-conversion limit (thousands of significant
    digits) is also ignored rather than raising.
    """
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value.lstrip("0") or "0")
    except ValueError:
        return None


def decode_sse(data: bytes) -> list[ServerSentEvent]:
    """Decode a complete event-stream body (an unterminated last event is dropped)."""
    decoder = SSEDecoder()
    return decoder.feed(data) + decoder.close()


def _check_line(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"SSE {name} must not contain CR or LF: {value!r}")


def encode_sse(
    *,
    data: str,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Frame one event as UTF-8 bytes with LF line endings.

    Field order is fixed: ``id``, ``event``, ``retry``, then one ``data: `` line per
    ``\\n``-separated line of *data*, then a blank line.  ``event=None`` or ``""``
    omits the field (the event decodes as ``"message"``); ``id=None`` omits it (the
    previous ID stays in force) while ``id=""`` explicitly resets it.

    Raises ``ValueError`` for anything that cannot be framed so that it decodes back
    unchanged: CR or LF in *event* or *id*, NUL in *id*, CR in *data* (the decoder
    turns every CR into a line break; normalise to ``\\n`` first if that is meant),
    a negative or non-int *retry*, or text that is not encodable as UTF-8 (lone
    surrogates).  For everything accepted, ``decode_sse(encode_sse(...))`` returns
    exactly that event.
    """
    parts: list[str] = []
    if id is not None:
        _check_line("id", id)
        if "\0" in id:
            raise ValueError(f"SSE id must not contain NUL: {id!r}")
        parts.append(f"id: {id}\n")
    if event:
        _check_line("event", event)
        parts.append(f"event: {event}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"SSE retry must be a non-negative int: {retry!r}")
        parts.append(f"retry: {retry}\n")
    if "\r" in data:
        raise ValueError("SSE data must not contain CR; use LF for line breaks")
    parts.append("data: " + data.replace("\n", "\ndata: ") + "\n\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """Frame a comment block (``": text\\n\\n"``), e.g. a keep-alive; never an event."""
    _check_line("comment", text)
    return f": {text}\n\n".encode()
