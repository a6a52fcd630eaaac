"""Where a fuzz campaign keeps what it found: a hypothesis example database named by a URL.

``agentsim fuzz --database URL`` stores every failing case hypothesis shrinks to (and the
interesting cases on the way) in an existing hypothesis `ExampleDatabase`, and replays them before
generating anything new, so a fix is checked against every failure found before, on any machine
that shares the database. Two kinds, both hypothesis' own classes - agentsim adds no storage of its
own:

- ``dir:PATH``: `DirectoryBasedExampleDatabase` (a folder, e.g. one a CI cache keeps);
- ``redis://host:port/db`` (or ``rediss://``): `hypothesis.extra.redis.RedisExampleDatabase` over
  the ``redis`` client (``pip install 'agentsim[redis]'``), for machines that fuzz together.

Keys are per loop, property and search (`database_key`), so campaigns of different loops sharing one
database never replay each other's cases, and a renamed property starts afresh.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from agentsim.core._errors import InputError

__all__ = ["database_key", "open_database"]

_KEY_PREFIX = b"agentsim-fuzz:"


def open_database(url: str) -> ExampleDatabase:
    """The database `url` names; `InputError` (path ``--database``) for anything else."""
    if url.startswith("dir:"):
        path = url[len("dir:") :]
        if not path:
            raise InputError("expected dir:PATH with a folder after 'dir:'", path="--database")
        return DirectoryBasedExampleDatabase(path)
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss", "unix"):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise InputError(
                "a redis database needs the redis client: pip install 'agentsim[redis]'",
                path="--database",
            ) from None
        try:
            client = redis.Redis.from_url(url)
        except ValueError as exc:
            raise InputError(f"not a redis URL: {exc}", path="--database") from None
        return RedisExampleDatabase(client, key_prefix=_KEY_PREFIX)
    raise InputError(f"expected dir:PATH or redis://host:port/db, got {url!r}", path="--database")


def database_key(loop: str | None, prop: str, search: int = 0) -> bytes:
    """The key a campaign of `loop` (its ``module:attr`` spec; None: the reference loop) stores
    property `prop`'s cases under, for its `search`-th search of that property.

    One key per search because a search skips the failures found before it, and hypothesis
    deletes a stored case that no longer fails its condition: with one shared key, the second
    search would erase the first one's failure."""
    name = f"agentsim-fuzz/1/{loop or 'agentsim:ReferenceLoop'}/{prop}/{search}"
    return hashlib.sha256(name.encode()).digest()[:16]
