"""The network guard: while the current thread runs a `VirtualEventLoop`, or is a worker thread
doing a piece of work for one (``to_thread``, ``run_in_executor``, anyio's worker threads: see
`simulated_loop`), socket connects and host-name lookups are refused and fail the test phase (the
plugin's docstring says why)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentsim.core._errors import NetworkBlockedError
from agentsim.core._virtual_loop import simulated_loop

# -- the network guard ----------------------------------------------------------------------------


def _in_simulated_run() -> bool:
    return simulated_loop() is not None


def _is_name(host: object) -> bool:
    """Is `host` a name a lookup would send to a resolver (not an IP literal, not localhost)?"""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host or host.lower() in ("localhost", "localhost."):
        return False
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return True
    return False


_INET = (socket.AF_INET, socket.AF_INET6)
_PATCHED = ("connect", "connect_ex")


@dataclass
class NetworkGuard:
    """Patches ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo`` for the
    session; each test phase collects what was refused (`attempts`) and fails on it."""

    enabled: bool
    attempts: list[str] = field(default_factory=list)
    allowed: bool = False
    _saved: dict[str, Any] = field(default_factory=dict)

    def refuse(self, what: str) -> None:
        """Refuse `what` if this thread runs, or works for, a simulated run (and the test is
        not allowed the network)."""
        if self.allowed or not _in_simulated_run():
            return
        self.attempts.append(what)
        raise NetworkBlockedError(
            f"agentsim: {what} inside a simulated run: the loop under test tried to reach a real "
            "network (mark the test agentsim_allow_network if that is intended)"
        )

    def install(self) -> None:
        if not self.enabled:
            return
        self._saved = {name: vars(socket.socket).get(name) for name in _PATCHED}
        self._saved["getaddrinfo"] = socket.getaddrinfo
        connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
        lookup = socket.getaddrinfo

        def guarded_connect(sock: socket.socket, address: Any) -> None:
            if sock.family in _INET:
                self.refuse(f"connect to {address!r}")
            connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
            if sock.family in _INET:
                self.refuse(f"connect to {address!r}")
            return connect_ex(sock, address)

        def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if _is_name(host):
                self.refuse(f"lookup of {host!r}")
            return lookup(host, *args, **kwargs)

        socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = guarded_getaddrinfo

    def uninstall(self) -> None:
        if not self._saved:
            return
        for name in _PATCHED:
            original = self._saved[name]
            if original is None:
                delattr(socket.socket, name)  # it was inherited from _socket.socket
            else:
                setattr(socket.socket, name, original)
        socket.getaddrinfo = self._saved["getaddrinfo"]
        self._saved = {}

    def phase(self, item: pytest.Item) -> Generator[None, object, object]:
        """Wrap one test phase: fail it if a simulated run in it tried the network."""
        self.attempts.clear()
        self.allowed = item.get_closest_marker("agentsim_allow_network") is not None
        try:
            result = yield
        except Exception as exc:
            attempts = self._done()
            if attempts:
                raise pytest.fail.Exception(
                    _message(attempts) + f"\n(the test then raised {type(exc).__name__}: {exc})",
                    pytrace=False,
                ) from exc
            raise
        attempts = self._done()
        if attempts:
            pytest.fail(_message(attempts), pytrace=False)
        return result

    def _done(self) -> list[str]:
        attempts, self.attempts, self.allowed = list(self.attempts), [], False
        return attempts


def _message(attempts: Sequence[str]) -> str:
    unique = list(dict.fromkeys(attempts))
    lines = [f"agentsim network guard: a simulated run tried to reach the network ({len(unique)}):"]
    lines += [f"  {what}" for what in unique]
    lines.append(
        "A simulated run is scripted and on virtual time: give the loop under test agentsim's "
        "provider (or a ScenarioTransport) instead of a real client, or mark the test "
        "agentsim_allow_network."
    )
    return "\n".join(lines)


GUARD_KEY = pytest.StashKey[NetworkGuard]()


def _phase(item: pytest.Item) -> Generator[None, object, object]:
    return item.config.stash[GUARD_KEY].phase(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))
