"""Normalizing SSE transcripts of loops whose output is not deterministic.

`normalize_sse` replaces each value of an id-like JSON key (``id``, ``*_id``, ``*Id``) and each
UUID anywhere by ``<id-N>``, numbered by first appearance and the same wherever the value recurs
(so "this result answers the call before it" survives), and each value of a time key by
``"<t>"``. It works on the text with regular expressions instead of parsing and re-serializing
the JSON, so every other byte stays as the loop wrote it (key order, spacing, escapes); a value
that recurs inside a longer string is left alone unless it is a UUID. No dependency beyond the
standard library, so it is usable outside pytest too.
"""

from __future__ import annotations

import re

__all__ = ["ID_KEYS", "TIME_KEYS", "normalize_sse"]

ID_KEYS = r"id|[A-Za-z][A-Za-z_]*_id|[a-z][A-Za-z]*Id"
TIME_KEYS = r"timestamp|created_at|createdAt|started_at|startedAt|updated_at|updatedAt|time|t"
_STRING = r'"(?:[^"\\]|\\.)*"'
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)


def normalize_sse(data: bytes, *, id_keys: str = ID_KEYS, time_keys: str = TIME_KEYS) -> bytes:
    """Replace ids by ``<id-N>`` and times by ``<t>`` (see the module docstring).

    `id_keys` and `time_keys` are regular expressions matching whole JSON key names; pass
    ``"(?!)"`` to leave one kind alone.
    """
    text = data.decode("utf-8", "surrogateescape")
    id_field = re.compile(rf'("(?:{id_keys})"\s*:\s*)({_STRING})')
    time_field = re.compile(rf'("(?:{time_keys})"\s*:\s*)({_STRING}|{_NUMBER})')
    found = [(m.start(2), m.group(2)[1:-1]) for m in id_field.finditer(text)]
    found += [(m.start(), m.group()) for m in _UUID.finditer(text)]
    names: dict[str, str] = {}
    for _, value in sorted(found):
        if value and value not in names:
            names[value] = f"<id-{len(names) + 1}>"
    if names:
        quoted = re.compile(
            "|".join(f'"{re.escape(v)}"' for v in sorted(names, key=len, reverse=True))
        )
        text = quoted.sub(lambda m: f'"{names[m.group()[1:-1]]}"', text)
        text = _UUID.sub(lambda m: names.get(m.group(), m.group()), text)
    text = time_field.sub(lambda m: f'{m.group(1)}"<t>"', text)
    return text.encode("utf-8", "surrogateescape")
