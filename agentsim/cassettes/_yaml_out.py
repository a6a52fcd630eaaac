"""Writing YAML files: deterministic text, written atomically (and durably when asked).

Deterministic: sorted keys, the pure-Python emitter, no aliases, text as literal blocks where YAML
keeps it exact, so the same data always gives the same bytes. Atomic: a temporary file in the same
folder, then `os.replace`, so a reader (or a crash) never sees half a file. Durable (cassettes):
the file is fsynced before the rename and the folder after it, so a finished write survives a
power cut or a ``kill -9`` right after it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Flow", "dump_yaml", "write_text_atomic"]


class Flow(list[Any]):
    """A list written on one line: ``[0.25, 512]``."""


class _Dumper(yaml.SafeDumper):
    """Deterministic, readable YAML that loads back exactly with any safe loader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_NOT_LITERAL = re.compile(r"[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if _NOT_LITERAL.search(value) or "\u2028" in value or "\u2029" in value:
        style = '"'  # control characters, CR, NEL, ...: only escapes keep them exact
    elif "\n" in value:
        style = "|"  # the emitter falls back to quoting where a block would not be exact
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Flow, _represent_flow)


def dump_yaml(data: Any, *, sort_keys: bool = True) -> str:
    """`data` as YAML text: block style, text as literal blocks, no aliases, always the same."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=sort_keys, allow_unicode=True, width=100, indent=2
    )


def write_text_atomic(
    path: str | Path, text: str, *, mode: int | None = None, durable: bool = False
) -> None:
    """Write `text` to `path` through a temporary file in the same directory and `os.replace`.

    `mode` is the new file's permission bits (default: those of the file replaced, else 0o644);
    `durable` fsyncs the file and its folder.
    """
    target = Path(path)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o777
        except OSError:
            mode = 0o644
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        with contextlib.suppress(OSError):  # not every platform can open a folder
            folder = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
