"""Scrubbing secrets out of a recording before it is written: by rule, then a last scan.

A recording proxy sees every credential a client sends and every token a provider answers with.
A list of known header names always misses the next one (``X-Auth-Token``,
``Ocp-Apim-Subscription-Key``, ``x-amz-security-token``, an ``api_key`` inside JSON metadata, a
``client_secret`` query parameter ...), so names are judged by the words they are made of:

- A name is split into words (``-``/``_``/``.``/space, and camelCase: ``promptTokenCount`` is
  prompt, token, count). It is a credential when a word is a credential word (key, token,
  secret, auth, password, signature, sig, cookie, session, credential, bearer ...) or a glued
  form of one (``apikey``, ``accesstoken``, ``clientsecret``). Headers also hide the account
  (``OpenAI-Organization``, ``OpenAI-Project``, ``anthropic-organization-id``).
- Usage must stay: only **text** values are scrubbed (``max_tokens: 100``, token counts and
  other numbers are never secrets), and a name with a counting word (count, limit, budget,
  usage, details, logprob) is kept. Model blobs a replay needs are kept too: Gemini's
  ``thoughtSignature`` and the ``signature`` of an Anthropic thinking block (a mapping whose
  ``type`` is thinking / signature_delta), the ``token`` of a logprobs entry (a mapping with a
  ``logprob``), and each field name under a JSON-schema
  ``properties`` (a tool spec's parameter names are not values).
- A credential name over a mapping or list scrubs every text inside it.
- Users add rules (`SecretRules.scrub`: more names, as case-insensitive regular expressions
  matched against the whole name) and exceptions (`SecretRules.keep`); `keep` wins.

Whatever the rules let through, `find_secret` scans the text about to be written for the
shapes real keys have (``sk-...``, ``sk-ant-...``, ``AIza...``, ``AKIA...``, ``ghp_...``,
``Bearer ...``, JWTs); the writer refuses to write a match (`SecretLeakError`, which names the
shape and where, never the secret).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentsim.core._errors import InputError

__all__ = [
    "REDACTED",
    "SecretLeakError",
    "SecretRules",
    "find_secret",
    "is_credential_name",
]

REDACTED = "REDACTED"

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CREDENTIAL_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "auth",
        "oauth",
        "authorization",
        "authentication",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "signature",
        "sig",
        "cookie",
        "session",
        "sessionid",
        "credential",
        "credentials",
        "bearer",
        "jwt",
        "sas",
        "otp",
    }
)
# Glued forms: ``accesstoken``, ``clientsecret``, ``subscriptionkey``, ``xapikey`` ...
_GLUED = re.compile(
    r".*(token|secret|password|passwd|signature|credentials?|cookie)"
    r"|.*(api|access|secret|private|subscription|client|auth|account|session|master)key",
)
_HEADER_WORDS = frozenset({"organization", "org", "project"})
_COUNTING_WORDS = frozenset(
    {"count", "counts", "limit", "limits", "budget", "usage", "details", "logprob", "logprobs"}
)
_KEEP_NAMES = frozenset({"thoughtsignature", "thought_signature"})
_THINKING_TYPES = frozenset({"thinking", "redacted_thinking", "signature_delta"})

# Shapes of real credentials; each must be long enough that prose does not match.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic key (sk-ant-...)", re.compile(r"(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{16,}")),
    ("an OpenAI-style key (sk-...)", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}")),
    ("a Google API key (AIza...)", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}")),
    ("an AWS access key id (AKIA...)", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}")),
    ("a GitHub token (ghp_...)", re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token (xox...)", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a bearer token", re.compile(r"(?i)\bbearer\s+(?!REDACTED\b)[A-Za-z0-9._~+/-]{12,}=*")),
    (
        "a JWT",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ),
)


class SecretLeakError(InputError):
    """What was about to be written holds something shaped like a credential: refused."""


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(name)]


def is_credential_name(name: str, *, header: bool = False) -> bool:
    """Whether `name` (a header, query parameter or JSON key) looks like it holds a credential."""
    words = _words(name)
    if not words or _COUNTING_WORDS.intersection(words):
        return False
    if name.lower() in _KEEP_NAMES:
        return False
    if header and _HEADER_WORDS.intersection(words):
        return True
    return any(w in _CREDENTIAL_WORDS or _GLUED.fullmatch(w) for w in words) or bool(
        _GLUED.fullmatch(re.sub(r"[^a-z0-9]", "", name.lower()))
    )


def _compile(patterns: Iterable[str], what: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for pattern in patterns:
        try:
            out.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise InputError(
                f"{what} rule {pattern!r} is not a regular expression: {exc}"
            ) from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SecretRules:
    """What to scrub besides the built-in rules (`scrub`) and what to keep anyway (`keep`).

    Both are regular expressions matched (case-insensitively) against a whole header name,
    query parameter name or JSON key; a name matching `keep` is never scrubbed.
    """

    scrub: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    _scrub: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _keep: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scrub", tuple(self.scrub))
        object.__setattr__(self, "keep", tuple(self.keep))
        object.__setattr__(self, "_scrub", _compile(self.scrub, "--scrub"))
        object.__setattr__(self, "_keep", _compile(self.keep, "--keep"))

    def secret(self, name: str, *, header: bool = False) -> bool:
        if any(p.fullmatch(name) for p in self._keep):
            return False
        if any(p.fullmatch(name) for p in self._scrub):
            return True
        return is_credential_name(name, header=header)

    # -- the parts of an exchange

    def headers(self, headers: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            k: [REDACTED for _ in v] or [REDACTED] if self.secret(k, header=True) else v
            for k, v in headers.items()
        }

    def uri(self, uri: str) -> str:
        parts = urlsplit(uri)
        netloc = parts.netloc
        if "@" in netloc:  # user info (a password) never reaches the file
            netloc = netloc.rpartition("@")[2]
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if not any(self.secret(name) for name, _ in pairs):
            return urlunsplit(parts._replace(netloc=netloc))  # the query's exact encoding kept
        query = urlencode([(n, REDACTED if self.secret(n) else v) for n, v in pairs])
        return urlunsplit(parts._replace(netloc=netloc, query=query))

    def json(self, value: Any, *, tainted: bool = False, schema: bool = False) -> Any:
        """`value` with the text under credential names replaced (a new object)."""
        if isinstance(value, dict):
            thinking = value.get("type") in _THINKING_TYPES
            logprob = "logprob" in value  # OpenAI logprobs: {token, logprob, bytes}
            out: dict[Any, Any] = {}
            for key, item in value.items():
                name = str(key)
                blob = (thinking and name == "signature") or (logprob and name == "token")
                secret = tainted or (not schema and not blob and self.secret(name))
                out[key] = self.json(item, tainted=secret, schema=name == "properties")
            return out
        if isinstance(value, list):
            return [self.json(item, tainted=tainted) for item in value]
        if tainted and isinstance(value, str) and value:
            return REDACTED
        return value

    def body(self, body: bytes, *, sse: bool) -> bytes:
        """`body` scrubbed: a JSON document, or each JSON ``data:`` line of an SSE stream.

        Returns the very same bytes when nothing needed scrubbing.
        """
        stripped = body.lstrip()[:1]
        if stripped in (b"{", b"["):
            changed = self._json_text(body)
            if changed is not None:
                return changed
        if not sse or b"data:" not in body:
            return body
        lines = body.split(b"\n")
        dirty = False
        for number, line in enumerate(lines):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].rstrip(b"\r")
            scrubbed = self._json_text(payload)
            if scrubbed is not None:
                end = b"\r" if line.endswith(b"\r") else b""
                lines[number] = b"data: " + scrubbed + end
                dirty = True
        return b"\n".join(lines) if dirty else body

    def _json_text(self, text: bytes) -> bytes | None:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
        scrubbed = self.json(data)
        if scrubbed == data:
            return None
        return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode()


def find_secret(text: str) -> tuple[str, int] | None:
    """(what it looks like, offset) of the first credential-shaped string in `text`, or None."""
    found: tuple[str, int] | None = None
    for what, shape in _SHAPES:
        match = shape.search(text)
        if match is not None and (found is None or match.start() < found[1]):
            found = (what, match.start())
    return found
