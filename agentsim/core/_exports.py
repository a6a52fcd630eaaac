"""The import-time self-check of the public faces (as hypothesis checks its own `__all__`):
every name a face lists exists, once, so a rename can never leave a face advertising a name
that is gone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_exports"]


def check_exports(module: str, namespace: Mapping[str, Any], names: Sequence[str]) -> None:
    missing = [n for n in names if n not in namespace]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing or repeated:
        raise ImportError(
            f"{module}.__all__ is out of date: missing {missing}, listed twice {repeated}"
        )
