"""Writing agentsim's own cassettes: vcrpy YAML plus chunk timing, never holding a secret.

An interaction is written in vcrpy's layout with one extra key, ``agentsim: {chunks: [[offset,
size], ...]}``, which vcrpy and pytest-recording ignore. Before anything is written, every part
goes through `SecretRules` (headers, query parameters, user info, JSON keys of request and
response bodies, each JSON ``data:`` line of a stream; see `_scrub`), and the whole text is then
scanned for credential shapes: a match is refused (`SecretLeakError`), the file is not touched.
A body the rules changed loses its recorded timing (the sizes no longer fit it); it replays one
piece per event.

Cassettes are written with mode 0o600 (they hold what a user's production traffic said),
atomically and durably (`write_text_atomic`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentsim.cassettes._files import Interaction
from agentsim.cassettes._scrub import SecretLeakError, SecretRules, find_secret
from agentsim.cassettes._yaml_out import Flow, dump_yaml, write_text_atomic
from agentsim.wire._base import header

__all__ = ["CASSETTE_MODE", "cassette_text", "interaction_to_dict", "write_cassette"]

CASSETTE_MODE = 0o600
_DEFAULT_RULES = SecretRules()


def _text_or_bytes(body: bytes) -> str | bytes:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body  # written as !!binary


def interaction_to_dict(
    interaction: Interaction, *, rules: SecretRules = _DEFAULT_RULES
) -> dict[str, Any]:
    """The vcrpy form of one interaction (plus agentsim's chunk timing when it has one), scrubbed.

    Secrets never reach the file (DESIGN §8): see `SecretRules`.
    """
    sse = "text/event-stream" in (header(interaction.response_headers, "content-type") or "")
    request_body = rules.body(interaction.request_body, sse=False)
    response_body = rules.body(interaction.response_body, sse=sse)
    out: dict[str, Any] = {
        "request": {
            "body": _text_or_bytes(request_body) if request_body else None,
            "headers": rules.headers(interaction.request_headers),
            "method": interaction.method,
            "uri": rules.uri(interaction.uri),
        },
        "response": {
            "body": {"string": _text_or_bytes(response_body)},
            "headers": rules.headers(interaction.response_headers),
            "status": {"code": interaction.status, "message": interaction.reason},
        },
    }
    if interaction.timing is not None and response_body is interaction.response_body:
        out["agentsim"] = {"chunks": [Flow(pair) for pair in interaction.timing]}
    return out


def cassette_text(
    interactions: Iterable[Interaction], *, rules: SecretRules = _DEFAULT_RULES, file: str = ""
) -> str:
    """The cassette's YAML text; `SecretLeakError` when a credential shape is still in it."""
    data = {
        "interactions": [interaction_to_dict(i, rules=rules) for i in interactions],
        "version": 1,
    }
    text = dump_yaml(data)
    found = find_secret(text)
    if found is not None:
        what, offset = found
        line = text.count("\n", 0, offset) + 1
        raise SecretLeakError(
            f"refusing to write a cassette holding what looks like {what} (add a --scrub rule "
            "for the name that carries it)",
            file=file or None,
            line=line,
        )
    return text


def write_cassette(
    path: str | Path, interactions: Iterable[Interaction], *, rules: SecretRules = _DEFAULT_RULES
) -> None:
    """Write a vcrpy-compatible cassette with agentsim's chunk timing: scrubbed, mode 0o600,
    atomically and durably. Raises `SecretLeakError` (writing nothing) on a credential shape."""
    text = cassette_text(interactions, rules=rules, file=str(path))
    write_text_atomic(path, text, mode=CASSETTE_MODE, durable=True)
