"""Record mode in pytest: ``--agentsim-record=MODE`` and the ``agentsim_provider`` fixture.

A test that talks to a provider over HTTP (an SDK client, an app under test) asks the fixture
for a base URL: ``base = agentsim_provider("cassettes/chat.yaml", upstream=REAL_URL)``. What is
behind that URL follows pytest-recording's convention, with vcrpy's record modes:

- ``none`` (the default): replay only. The cassette is served back by a `CassetteServer` on
  loopback (the recorded bytes, in order, strictly); a missing cassette fails the test with a
  line saying how to record it. CI never reaches the provider.
- ``once``: a missing cassette is recorded through agentsim's recording proxy (`RecordingProxy`)
  against `upstream`; an existing one is replayed.
- ``new_episodes``: every request goes to `upstream` and is appended to the existing
  interactions (agentsim plays cassettes in order, not by matching, so nothing is replayed).
- ``all``: every request goes to `upstream` and the cassette is recorded afresh (never
  replaced by one with fewer interactions: the proxy keeps the old file until it has as many).

Recording is the proxy's, unchanged: each exchange is written as it completes (atomically,
fsynced, mode 600) and scrubbed by rule, and a text still holding a key shape is refused (the
test then fails at teardown, saying so). Nothing is written but the cassette named (its
folder is created if needed); replaying writes nothing. The cassette path is relative to the
test file; without one it is ``cassettes/<test module>/<test name>.yaml`` beside it, as
pytest-recording names them. Servers run on background threads with their own event loops
(`serve_in_thread`) and stop at the end of the test; a replay that was asked for something the
cassette does not hold (a request beyond it, another path) fails the test at teardown.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from agentsim.cassettes._scrub import SecretRules
from agentsim.core._errors import InputError
from agentsim.serve._cassette_server import CassetteServer
from agentsim.serve._recorder import RECORD_MODES, RecordingProxy, RecordMode, display_url
from agentsim.serve._server import serve_in_thread

__all__ = ["AgentsimProvider", "agentsim_provider", "record_mode_option"]


def record_mode_option(text: str) -> RecordMode:
    for mode in RECORD_MODES:
        if text == mode:
            return mode
    raise pytest.UsageError(f"--agentsim-record: expected one of {', '.join(RECORD_MODES)}")


class AgentsimProvider(Protocol):
    """What the ``agentsim_provider`` fixture is: cassette path in, base URL out."""

    def __call__(
        self, cassette: str | Path | None = None, *, upstream: str | None = None, speed: float = 1.0
    ) -> str: ...


def _default_path(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^\w.\-\[\]]+", "_", request.node.name)
    return request.path.parent / "cassettes" / request.path.stem / f"{name}.yaml"


@pytest.fixture
def agentsim_provider(request: pytest.FixtureRequest) -> Iterator[AgentsimProvider]:
    """A base URL for the test's provider client: the cassette replayed, or (record mode) the
    real provider at `upstream` through the recording proxy. See `agentsim.pytest._recording`."""
    mode: RecordMode = request.config.getoption("agentsim_record") or "none"
    proxies: list[tuple[Path, RecordingProxy]] = []
    servers: list[tuple[Path, CassetteServer]] = []
    with contextlib.ExitStack() as stack:

        def provide(
            cassette: str | Path | None = None,
            *,
            upstream: str | None = None,
            speed: float = 1.0,
        ) -> str:
            path = Path(cassette) if cassette is not None else _default_path(request)
            if not path.is_absolute():
                path = request.path.parent / path
            exists = path.exists()
            if mode in ("new_episodes", "all") or (mode == "once" and not exists):
                if upstream is None:
                    pytest.fail(
                        f"{path}: record mode {mode} records through the real provider: "
                        "give agentsim_provider(..., upstream=URL)",
                        pytrace=False,
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                proxy = RecordingProxy(upstream, path, mode=mode, rules=SecretRules())
                proxies.append((path, stack.enter_context(serve_in_thread(proxy))))
                return proxy.url
            if not exists:
                pytest.fail(
                    f"{path}: no such cassette (record mode {mode}); record it with "
                    "--agentsim-record=once against the real provider",
                    pytrace=False,
                )
            try:
                server = CassetteServer(path, speed=speed)
            except InputError as exc:
                pytest.fail(str(exc), pytrace=False)
            servers.append((path, stack.enter_context(serve_in_thread(server))))
            return server.url

        yield provide
    problems = [f"{path}: {p}" for path, server in servers for p in server.problems]
    for path, proxy in proxies:
        problems += [f"{path}: not written: {p}" for p in proxy.problems]
        if proxy.unwritten:
            problems.append(
                f"{path}: kept as it was: {proxy.unwritten} new interaction(s) from "
                f"{display_url(proxy.upstream)} would replace more old ones"
            )
    if problems:
        pytest.fail("agentsim_provider:\n" + "\n".join(problems), pytrace=False)
