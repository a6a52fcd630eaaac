"""Cassettes: reading the HTTP recordings people already have, and writing agentsim's own.

Read (DESIGN §7), always with a safe YAML loader (no tag builds a Python object; `!!binary` is
plain bytes):

- vcrpy's layout ``{interactions: [{request, response}], version: 1}``, the body under
  ``body.string`` as text or ``!!binary`` bytes, header values as lists, names in any case;
- pydantic-ai's serializer, which stores JSON bodies as a YAML mapping ``parsed_body`` (turned
  back into JSON text with `json.dumps`);
- LangChain's `CustomSerializer` (langchain_tests/conftest.py): the whole file is gzip-compressed
  YAML holding ``{requests: [...], responses: [...]}`` side by side;
- vcrpy's older httpx layout, whose response is ``{status_code, headers, content}``.

Choices:

- A gzip body (``Content-Encoding: gzip``, or simply the ``1f 8b`` magic) is decompressed on
  load and the header dropped (Content-Length fixed), as vcrpy's ``decode_compressed_response``
  does: an `Interaction` always holds the bytes a client reads, so chunk sizes and offsets refer
  to them, and a cassette written back replays correctly under vcrpy.
- Error positions are found lazily: the file is parsed with the fast safe loader, and only a
  bad file is parsed again with positions (`_yaml_source`), so the error names file, line,
  interaction and key while loading a good file costs no position bookkeeping.
- agentsim's own cassettes are vcrpy cassettes (vcrpy and pytest-recording replay them) with one
  extra key per interaction, ``agentsim: {chunks: [[offset, size], ...]}``: when each piece of the
  body arrived (virtual seconds since the request) and how many bytes it had. vcrpy ignores the
  key. Writing is in `_writing` (scrubbed by `_scrub`'s rules, mode 0o600, atomic and durable).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentsim.cassettes._yaml_out import dump_yaml, write_text_atomic
from agentsim.core._errors import InputError
from agentsim.scenario._yaml_source import format_path, load_positioned_yaml, load_yaml
from agentsim.wire._base import ApiName, header

__all__ = ["Cassette", "Interaction", "Timing", "cassette_error", "load_cassette"]

Timing = tuple[tuple[float, int], ...]
Headers = dict[str, list[str]]
YamlPath = tuple[str | int, ...]

_GZIP_MAGIC = b"\x1f\x8b"
_RESPONSE_ID = re.compile(r"/responses/[^/]+$")  # GET /v1/responses/{id}?stream=true


def _api_of(path: str) -> ApiName | None:
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/responses") or _RESPONSE_ID.search(path):
        return "openai-responses"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith((":streamGenerateContent", ":generateContent")):
        return "gemini"
    return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def timing_problem(timing: Timing | None, size: int) -> str | None:
    """Why `timing` cannot describe a body of `size` bytes, or None when it can."""
    if timing is None:
        return None
    last = 0.0
    for number, (offset, length) in enumerate(timing):
        if not math.isfinite(offset) or offset < last:
            return f"chunks[{number}]: offset {offset!r} must be finite and not below {last!r}"
        if length < 1:
            return f"chunks[{number}]: size {length!r} must be at least 1 byte"
        last = offset
    total = sum(length for _, length in timing)
    if total != size:
        return f"the chunk sizes add up to {total} bytes but the response body has {size}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Interaction:
    """One recorded HTTP exchange; `response_body` is what the client read (decompressed).

    `api`, `streaming` and `json_array` are derived from the recording: the provider API from
    the URI path; streaming from ``"stream": true`` in the request, ``stream=true`` in the
    query, a Gemini ``:streamGenerateContent`` URI or an event-stream answer; `json_array` for
    Gemini's stream without ``alt=sse`` (one JSON array instead of SSE).
    """

    method: str
    uri: str
    request_headers: Headers = field(default_factory=dict)
    request_body: bytes = b""
    status: int = 200
    reason: str = ""
    response_headers: Headers = field(default_factory=dict)
    response_body: bytes = b""
    timing: Timing | None = None
    api: ApiName | None = field(init=False, compare=False)
    streaming: bool = field(init=False, compare=False)
    json_array: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        problem = timing_problem(self.timing, len(self.response_body))
        if problem is not None:
            raise InputError(problem, path="timing")
        try:
            parts = urlsplit(self.uri)
        except ValueError as exc:
            raise InputError(f"not a URI: {exc}", path="uri") from None
        query = parse_qs(parts.query)
        api = _api_of(parts.path)
        content_type = (header(self.response_headers, "content-type") or "").lower()
        sse = "text/event-stream" in content_type
        body = _json(self.request_body) if self.request_body.lstrip()[:1] == b"{" else None
        gemini_stream = parts.path.endswith(":streamGenerateContent")
        streaming = (
            (isinstance(body, dict) and body.get("stream") is True)
            or query.get("stream") == ["true"]
            or gemini_stream
            or sse
        )
        json_array = gemini_stream and query.get("alt") != ["sse"] and not sse
        object.__setattr__(self, "api", api)
        object.__setattr__(self, "streaming", streaming)
        object.__setattr__(self, "json_array", json_array)

    @property
    def replayable(self) -> bool:
        """A streaming request to a provider API agentsim decodes."""
        return self.api is not None and self.streaming

    def request_json(self) -> Any:
        """The request body as JSON, or None when it is not JSON."""
        return _json(self.request_body)

    def describe(self) -> str:
        return f"{self.method} {self.uri}"


@dataclass(frozen=True, slots=True)
class Cassette:
    """A loaded cassette: where it came from and its interactions, in recorded order.

    A run of a cassette (`agentsim.cassettes._runs`) is a `Cassette` too, holding some of the
    file's interactions; `numbers` keeps their indexes in the file (empty: 0, 1, 2 ...), so
    messages name ``interactions[N]`` as the file counts them.
    """

    path: Path
    interactions: tuple[Interaction, ...]
    numbers: tuple[int, ...] = ()
    run: int | None = None  # which run of the file (1-based), when it is one

    def _numbered(self) -> Iterable[tuple[int, Interaction]]:
        if self.numbers:
            return zip(self.numbers, self.interactions, strict=True)
        return enumerate(self.interactions)

    @property
    def replayable(self) -> tuple[tuple[int, Interaction], ...]:
        """(index, interaction) of the streaming provider requests: what a replay plays."""
        return tuple((i, x) for i, x in self._numbered() if x.replayable)

    @property
    def skipped(self) -> tuple[tuple[int, Interaction], ...]:
        """(index, interaction) of everything else (uploads, MCP, non-streaming calls)."""
        return tuple((i, x) for i, x in self._numbered() if not x.replayable)


def cassette_error(cassette: Cassette, path: YamlPath, message: str) -> InputError:
    """An `InputError` at `path` of the cassette's file, with its line when the file still reads
    as plain YAML text (a gzipped file gets the path alone)."""
    file = str(cassette.path)
    try:
        text = cassette.path.read_text(encoding="utf-8")
        return load_positioned_yaml(text, file=file).error(path, message)
    except (OSError, UnicodeDecodeError, InputError):
        return InputError(message, file=file, path=format_path(path))


# -- reading --------------------------------------------------------------------------------------


def _read_bytes(file: str) -> bytes:
    try:
        return Path(file).read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a cassette file", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=file) from None


def _gunzip(data: bytes) -> bytes:
    """Decompress gzip data; `ValueError` with the reason when it is truncated or corrupt."""
    try:
        return gzip.decompress(data)
    except EOFError:
        raise ValueError(
            "gzip data is truncated (it ends before the end-of-stream marker)"
        ) from None
    except (OSError, zlib.error) as exc:
        raise ValueError(f"gzip data is corrupt ({exc})") from None


def load_cassette(path: str | Path) -> Cassette:
    """Read a cassette; bad input raises `InputError` naming the file, the place and the problem."""
    file = str(path)
    raw = _read_bytes(file)
    compressed = raw[:2] == _GZIP_MAGIC  # LangChain's gzipped YAML
    if compressed:
        try:
            raw = _gunzip(raw)
        except ValueError as exc:
            raise InputError(f"gzip-compressed cassette: {exc}", file=file) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=file) from None
    data = load_yaml(text, file=file)  # safe and bounded: plain data and !!binary only
    return Cassette(Path(path), _Reader(text, file, lines=not compressed).cassette(data))


class _Reader:
    """Checks the loaded data and builds interactions; errors get positions on demand.

    Lines are left out of errors about a gzipped file: they would count lines nobody sees.
    """

    def __init__(self, text: str, file: str, *, lines: bool = True) -> None:
        self.text = text
        self.file = file
        self.lines = lines

    def fail(self, path: YamlPath, message: str) -> InputError:
        if not self.lines:
            return InputError(message, file=self.file, path=format_path(path) or None)
        try:
            source = load_positioned_yaml(self.text, file=self.file)
        except InputError as exc:  # the positioned parser is stricter (duplicate keys)
            return exc
        return source.error(path, message)

    def cassette(self, data: Any) -> tuple[Interaction, ...]:
        if isinstance(data, dict) and "interactions" in data:
            items = self.sequence(data, "interactions", ())
            return tuple(
                self.interaction(self.mapping(item, ("interactions", i)), ("interactions", i))
                for i, item in enumerate(items)
            )
        if isinstance(data, dict) and "requests" in data and "responses" in data:
            requests = self.sequence(data, "requests", ())
            responses = self.sequence(data, "responses", ())
            if len(requests) != len(responses):
                raise self.fail(
                    ("responses",),
                    f"expected as many responses as requests ({len(requests)}), "
                    f"got {len(responses)}",
                )
            return tuple(
                self.exchange(
                    self.mapping(request, ("requests", i)),
                    self.mapping(response, ("responses", i)),
                    ("requests", i),
                    ("responses", i),
                    None,
                )
                for i, (request, response) in enumerate(zip(requests, responses, strict=True))
            )
        raise self.fail(
            (),
            "not a cassette: expected a mapping with `interactions` (vcrpy) or with "
            "`requests` and `responses` (LangChain's gzipped layout)",
        )

    def interaction(self, item: dict[str, Any], at: YamlPath) -> Interaction:
        request = self.mapping(self.key(item, "request", at), (*at, "request"))
        response = self.mapping(self.key(item, "response", at), (*at, "response"))
        extra = (item["agentsim"], (*at, "agentsim")) if "agentsim" in item else None
        return self.exchange(request, response, (*at, "request"), (*at, "response"), extra)

    def exchange(
        self,
        request: dict[str, Any],
        response: dict[str, Any],
        req: YamlPath,
        resp: YamlPath,
        extra: tuple[Any, YamlPath] | None,
    ) -> Interaction:
        headers = self.headers(response.get("headers"), (*resp, "headers"))
        body, headers = self.decompress(self.body(response, resp, legacy=True), headers, resp)
        status, reason = self.status(response, resp)
        fields: dict[str, Any] = {
            "method": self.string(request, "method", req),
            "uri": self.string(request, "uri", req),
            "request_headers": self.headers(request.get("headers"), (*req, "headers")),
            "request_body": self.body(request, req, legacy=False),
            "status": status,
            "reason": reason,
            "response_headers": headers,
            "response_body": body,
            "timing": None if extra is None else self.timing(*extra, len(body)),
        }
        try:
            return Interaction(**fields)
        except InputError as exc:  # the one check only the interaction makes: the URI
            raise self.fail((*req, "uri"), exc.message) from None

    # -- leaves

    def key(self, mapping: dict[str, Any], key: str, at: YamlPath) -> Any:
        if key not in mapping:
            raise self.fail(at, f"missing key `{key}`")
        return mapping[key]

    def mapping(self, value: Any, at: YamlPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(at, f"expected a mapping, got {_kind(value)}")
        return value

    def sequence(self, mapping: dict[str, Any], key: str, at: YamlPath) -> list[Any]:
        value = mapping[key]
        if not isinstance(value, list):
            raise self.fail((*at, key), f"expected a list, got {_kind(value)}")
        return value

    def string(self, mapping: dict[str, Any], key: str, at: YamlPath) -> str:
        value = self.key(mapping, key, at)
        if not isinstance(value, str):
            raise self.fail((*at, key), f"expected a string, got {_kind(value)}")
        return value

    def headers(self, value: Any, at: YamlPath) -> Headers:
        if value is None:
            return {}
        out: Headers = {}
        for name, values in self.mapping(value, at).items():
            if values is None:
                values = []
            elif not isinstance(values, list):
                values = [values]
            out[str(name)] = [str(v) for v in values]
        return out

    def body(self, part: dict[str, Any], at: YamlPath, *, legacy: bool) -> bytes:
        if "parsed_body" in part:  # pydantic-ai
            return json.dumps(part["parsed_body"]).encode()
        if "body" in part:
            value = part["body"]
            if isinstance(value, dict):
                value = self.key(value, "string", (*at, "body"))
                return self.data(value, (*at, "body", "string"))
            return self.data(value, (*at, "body"))
        if legacy and "content" in part:  # vcrpy's older httpx layout
            value = part["content"]
            if part.get("base64encoded") is True and isinstance(value, str):
                try:
                    return base64.b64decode(value, validate=True)
                except ValueError:
                    raise self.fail((*at, "content"), "expected base64 text") from None
            return self.data(value, (*at, "content"))
        if not legacy:
            return b""  # a request without a body
        raise self.fail(
            at,
            "missing key `body` (expected `body: {string: ...}`, pydantic-ai's `parsed_body`, "
            "or `content` as in vcrpy's older httpx layout)",
        )

    def data(self, value: Any, at: YamlPath) -> bytes:
        if value is None:
            return b""
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:
                raise self.fail(at, "text holds a lone surrogate (not valid Unicode)") from None
        raise self.fail(at, f"expected text or !!binary bytes, got {_kind(value)}")

    def decompress(self, body: bytes, headers: Headers, at: YamlPath) -> tuple[bytes, Headers]:
        encoding = (header(headers, "content-encoding") or "").strip().lower()
        try:
            if body[:2] == _GZIP_MAGIC:
                body = _gunzip(body)
            elif encoding == "deflate":
                body = _inflate(body)
            elif encoding not in ("", "identity", "gzip", "x-gzip"):
                raise self.fail(
                    (*at, "headers"),
                    f"unsupported Content-Encoding {encoding!r}; expected gzip, deflate or none",
                )
            else:
                return body, headers
        except ValueError as exc:
            raise self.fail((*at, "body"), str(exc)) from None
        out = {k: v for k, v in headers.items() if k.lower() != "content-encoding"}
        for name in out:
            if name.lower() == "content-length":
                out[name] = [str(len(body))]
        return body, out

    def status(self, response: dict[str, Any], at: YamlPath) -> tuple[int, str]:
        if "status" in response:
            status = self.mapping(response["status"], (*at, "status"))
            code, reason = self.key(status, "code", (*at, "status")), status.get("message", "")
            where: YamlPath = (*at, "status", "code")
        elif "status_code" in response:  # vcrpy's older httpx layout
            code, reason, where = response["status_code"], "", (*at, "status_code")
        else:
            raise self.fail(at, "missing key `status` (expected `status: {code: 200, ...}`)")
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise self.fail(where, f"expected an HTTP status code (100-599), got {code!r}")
        return code, str(reason or "")

    def timing(self, value: Any, at: YamlPath, size: int) -> Timing:
        chunks = self.mapping(value, at).get("chunks")
        if not isinstance(chunks, list):
            raise self.fail((*at, "chunks"), "expected a list of [offset, size] pairs")
        pairs: list[tuple[float, int]] = []
        for number, pair in enumerate(chunks):
            ok = isinstance(pair, list) and len(pair) == 2
            offset, length = pair if ok else (None, None)
            if not (
                ok
                and isinstance(offset, int | float)
                and not isinstance(offset, bool)
                and isinstance(length, int)
                and not isinstance(length, bool)
            ):
                raise self.fail(
                    (*at, "chunks", number),
                    f"expected an [offset in seconds, size in bytes] pair, got {pair!r}",
                )
            pairs.append((float(offset), length))
        timing = tuple(pairs)
        problem = timing_problem(timing, size)
        if problem is not None:
            raise self.fail((*at, "chunks"), problem)
        return timing


def _inflate(body: bytes) -> bytes:
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # zlib-wrapped, then raw deflate
        with contextlib.suppress(zlib.error):
            return zlib.decompress(body, wbits)
    raise ValueError("deflate data is corrupt")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    names: dict[type, str] = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bytes: "binary data",
    }
    return names.get(type(value)) or f"{type(value).__name__} {value!r}"


# Writing lives in `_yaml_out` (YAML text, atomic files) and `_writing` (cassettes); the two
# generic helpers stay importable from here.
__all__ += ["dump_yaml", "write_text_atomic"]
