"""The pytest plugin: agentsim inside a test suite (registered as the ``pytest11`` entry point
``agentsim``, so it is active wherever agentsim is installed; ``-p no:agentsim`` turns it off).

What it adds, and the choices behind it:

- **Fixtures.** ``agentsim_run(scenario, *, loop=None, seed=None) -> RunResult`` runs a scenario
  (a path, a `Scenario` or scenario data) through the loop under test on virtual time, guarded
  as ``agentsim run --loop`` is: a loop that raises or hangs gives a failing `RunResult`, never
  a stuck test. ``agentsim_replay(cassette, *, loop=None, chunking="recorded", seed=None)``
  replays a recorded provider stream through it. Both resolve a relative path against the
  directory of the test file, so a suite passes from any working directory. ``agentsim_loop``
  is the loop under test (override it in a conftest, or name it with ``--agentsim-loop`` or
  the ``agentsim_loop`` ini key; None is the reference loop) and ``agentsim_seed`` the
  ``--agentsim-seed`` value. ``sse_snapshot`` and ``normalized_sse_snapshot`` are the syrupy
  fixtures for byte-exact ``.sse`` snapshots; syrupy is imported only when one is used, so
  the plugin loads without it.
- **One test per scenario file.** ``@pytest.mark.agentsim_scenarios("scenarios")``
  parametrizes the test's ``scenario`` argument with the path of every ``*.yaml`` file in the
  folder (``agentsim_cassettes`` does the same for ``cassette``); `scenario_params` is the
  same as a function for ``@pytest.mark.parametrize``. Each case is named by the file's stem
  and ``--agentsim-scenario PATTERN`` (repeatable, shell-style) keeps only the cases whose
  stem matches. A folder without files is a collection error, not a silently empty test.
- **Files named on the command line.** ``pytest path/to/case.yaml`` runs that scenario (or
  replays that cassette: a file without ``input`` is taken as one) through the loop under
  test as a test of its own, passing when the run matches the file and keeps every
  invariant. Only files named explicitly are collected, never YAML found in a directory.
- **Network guard.** A simulated run must not reach the network: its timing is virtual and
  its provider scripted, so a real request means the loop under test escaped the simulation
  (a client built with its default transport, a hard-coded URL, a local model server). The
  rule: while the current thread runs a `VirtualEventLoop` - where every agentsim run
  happens, and where agentsim's `run_in_executor` runs ``getaddrinfo`` and ``to_thread``
  work inline - a ``connect`` of an IPv4 or IPv6 socket (to any address, loopback included:
  a local server is no more simulated than a remote one) and a lookup of a host name (not
  an IP literal, not ``localhost``) raise `NetworkBlockedError` and fail the test, even if
  the loop under test catches the error. Outside simulated runs nothing is guarded:
  ``agentsim serve`` and its clients on ordinary event loops, a project's own integration
  tests and Unix sockets are untouched. ``@pytest.mark.agentsim_allow_network`` lifts the
  guard for one test, ``--agentsim-allow-network`` for the session.

  Why scoped to simulated runs rather than the whole session (as pytest-socket does): the
  plugin is on wherever agentsim is installed, so it must not break a project's other tests,
  and agentsim's own ``serve`` tests talk to loopback on purpose. Why record and fail instead
  of only raising: SDKs retry connection errors and loops turn them into ``run_failed``
  events, so the error alone could leave a green test. The patches (``socket.socket.connect``
  and ``connect_ex``, ``socket.getaddrinfo``) are installed once per session and restored at
  its end, nesting properly under pytester; each test phase (setup, call, teardown) starts
  with a clean record and fails if anything was refused during it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import ipaddress
import socket
import sys
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import yaml

from agentsim.cassettes._files import Cassette, load_cassette
from agentsim.cassettes._provider import Chunking
from agentsim.cassettes._convert import replay_cassette
from agentsim.core._errors import InputError, NetworkBlockedError
from agentsim.fuzz._properties import LoopFactory, load_loop, run_guarded
from agentsim.harness._run import RunResult
from agentsim.loop._protocol import AgentLoop
from agentsim.scenario._schema import Scenario
from agentsim.core._virtual_loop import VirtualEventLoop

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

__all__ = [
    "AgentsimReplay",
    "AgentsimRun",
    "LoopSpec",
    "agentsim_loop",
    "agentsim_replay",
    "agentsim_run",
    "agentsim_seed",
    "normalized_sse_snapshot",
    "scenario_params",
    "sse_snapshot",
]

# A loop as the fixtures take it: a factory (class or function), a loop object, or "module:attr".
LoopSpec = LoopFactory | AgentLoop | str

_MARKERS = {
    "agentsim_scenarios": (
        "agentsim_scenarios(folder, pattern='*.yaml', argname='scenario'): run the test once "
        "per scenario file in folder (relative to the test file), passing its path"
    ),
    "agentsim_cassettes": (
        "agentsim_cassettes(folder, pattern='*.yaml', argname='cassette'): run the test once "
        "per cassette file in folder (relative to the test file), passing its path"
    ),
    "agentsim_scenario(name)": "one case of agentsim_scenarios / scenario_params (set by them)",
    "agentsim_allow_network": "lift agentsim's network guard for this test",
}
_PARAMETRIZERS = {"agentsim_scenarios": "scenario", "agentsim_cassettes": "cassette"}


# -- options --------------------------------------------------------------------------------------


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise pytest.UsageError(f"--agentsim-seed: expected a whole number >= 0, got {text!r}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentsim", "agentsim: deterministic agent-loop simulation")
    group.addoption(
        "--agentsim-loop",
        metavar="MODULE:FACTORY",
        default=None,
        help=(
            "the loop under test for agentsim's fixtures and for scenario files named on the "
            "command line: a factory or loop object, importable from the rootdir "
            "(default: the agentsim_loop ini value, else the reference loop)"
        ),
    )
    group.addoption(
        "--agentsim-seed",
        metavar="N",
        type=_seed,
        default=None,
        help="seed every simulated run with N instead of the scenario's own seed",
    )
    group.addoption(
        "--agentsim-scenario",
        metavar="PATTERN",
        action="append",
        default=[],
        help=(
            "keep only the scenario/cassette cases (agentsim_scenarios, scenario_params) whose "
            "file stem matches PATTERN (shell-style, repeatable)"
        ),
    )
    group.addoption(
        "--agentsim-allow-network",
        action="store_true",
        default=False,
        help="turn off the guard that fails tests whose simulated runs connect to a network",
    )
    parser.addini(
        "agentsim_loop", "the loop under test (MODULE:FACTORY), as --agentsim-loop", default=""
    )


def _loop_spec(config: pytest.Config) -> str | None:
    spec = config.getoption("agentsim_loop") or str(config.getini("agentsim_loop") or "")
    return spec or None


def _import_loop(config: pytest.Config, spec: str) -> LoopFactory:
    """`load_loop` with the rootdir importable too (the ini file's folder)."""
    root = str(config.rootpath)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return load_loop(spec)
    except InputError as exc:
        raise pytest.UsageError(f"agentsim: loop {spec!r}: {exc.message}") from None


_LOOP_KEY = pytest.StashKey[tuple[LoopFactory | None]]()


def _configured_loop(config: pytest.Config) -> LoopFactory | None:
    """The loop named by the option or ini key (imported once), or None: the reference loop."""
    if _LOOP_KEY not in config.stash:
        spec = _loop_spec(config)
        config.stash[_LOOP_KEY] = (_import_loop(config, spec) if spec else None,)
    return config.stash[_LOOP_KEY][0]


def _factory(config: pytest.Config, loop: LoopSpec | None) -> LoopFactory | None:
    if loop is None:
        return None
    if isinstance(loop, str):
        return _import_loop(config, loop)
    if not inspect.isclass(loop) and callable(getattr(loop, "run", None)):
        ready: AgentLoop = loop  # type: ignore[assignment]  # a loop object, not a factory
        return lambda: ready
    if callable(loop):
        factory: LoopFactory = loop
        return factory
    raise TypeError(f"expected a loop, a loop factory or 'module:attr', got {loop!r}")


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")
    guard = _NetworkGuard(enabled=not config.getoption("agentsim_allow_network"))
    config.stash[_GUARD_KEY] = guard
    guard.install()


def pytest_sessionstart(session: pytest.Session) -> None:
    _configured_loop(session.config)  # a loop that does not import stops the session at once


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_GUARD_KEY, None)
    if guard is not None:
        guard.uninstall()


def pytest_report_header(config: pytest.Config) -> str:
    guard = "off" if config.getoption("agentsim_allow_network") else "on"
    seed = config.getoption("agentsim_seed")
    loop = _loop_spec(config) or "the reference loop"
    seeded = f", seed {seed}" if seed is not None else ""
    return f"agentsim: loop under test {loop}{seeded}, network guard {guard}"


# -- fixtures -------------------------------------------------------------------------------------


class AgentsimRun(Protocol):
    """What the ``agentsim_run`` fixture is."""

    def __call__(
        self,
        scenario: Scenario | Mapping[str, Any] | str | Path,
        *,
        loop: LoopSpec | None = None,
        seed: int | None = None,
    ) -> RunResult: ...


class AgentsimReplay(Protocol):
    """What the ``agentsim_replay`` fixture is."""

    def __call__(
        self,
        cassette: Cassette | str | Path,
        *,
        loop: LoopSpec | None = None,
        chunking: Chunking = "recorded",
        seed: int | None = None,
    ) -> RunResult: ...


@pytest.fixture
def agentsim_seed(pytestconfig: pytest.Config) -> int | None:
    """The ``--agentsim-seed`` value: the seed of every simulated run, or None (the file's)."""
    seed: int | None = pytestconfig.getoption("agentsim_seed")
    return seed


@pytest.fixture
def agentsim_loop(pytestconfig: pytest.Config) -> LoopSpec | None:
    """The loop under test: ``--agentsim-loop``, else the ``agentsim_loop`` ini value, else None
    (the reference loop). Override this fixture to hand the fixtures your loop."""
    return _configured_loop(pytestconfig)


def _resolve(path: str | Path, request: pytest.FixtureRequest) -> Path:
    path = Path(path)
    return path if path.is_absolute() else request.path.parent / path


@pytest.fixture
def agentsim_run(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimRun:
    """Run a scenario through the loop under test (or `loop`) and return its `RunResult`.

    Assert ``result.passed, result.report()`` for the whole verdict (expectation, strict
    script, every invariant), or look at ``result.events``, ``result.history``,
    ``result.outcome`` and ``result.violations``.
    """

    def run(
        scenario: Scenario | Mapping[str, Any] | str | Path,
        *,
        loop: LoopSpec | None = None,
        seed: int | None = None,
    ) -> RunResult:
        if isinstance(scenario, str | Path):
            scenario = _resolve(scenario, request)
        factory = _factory(request.config, loop if loop is not None else agentsim_loop)
        return run_guarded(scenario, loop=factory, seed=seed if seed is not None else agentsim_seed)

    return run


@pytest.fixture
def agentsim_replay(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimReplay:
    """Replay a cassette through the loop under test (or `loop`); returns its `RunResult`.

    Its tools answer with the results the recording sent back; `problems` lists the requests
    beyond the recording and the interactions never requested.
    """

    def replay(
        cassette: Cassette | str | Path,
        *,
        loop: LoopSpec | None = None,
        chunking: Chunking = "recorded",
        seed: int | None = None,
    ) -> RunResult:
        if not isinstance(cassette, Cassette):
            cassette = load_cassette(_resolve(cassette, request))
        factory = _factory(request.config, loop if loop is not None else agentsim_loop)
        chosen = seed if seed is not None else agentsim_seed
        return replay_cassette(
            cassette,
            chunking=chunking,
            seed=chosen or 0,
            loop=factory() if factory is not None else None,
        )

    return replay


@pytest.fixture
def sse_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Compare a transcript (bytes, str or agent events) with its byte-exact ``.sse`` file."""
    from agentsim.pytest._snapshot import SSESnapshotExtension

    return snapshot.use_extension(SSESnapshotExtension)


@pytest.fixture
def normalized_sse_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Like `sse_snapshot`, with ids and times replaced by placeholders (`normalize_sse`)."""
    from agentsim.pytest._snapshot import NormalizedSSESnapshotExtension

    return snapshot.use_extension(NormalizedSSESnapshotExtension)


# -- one test per scenario file -------------------------------------------------------------------


def _files(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        raise pytest.UsageError(f"agentsim: {folder} is not a folder of scenario files")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise pytest.UsageError(f"agentsim: no {pattern} file in {folder}")
    return files


def _params(folder: Path, pattern: str) -> list[Any]:
    return [
        pytest.param(path, id=path.stem, marks=pytest.mark.agentsim_scenario(path.stem))
        for path in _files(folder, pattern)
    ]


def scenario_params(folder: str | Path, *, pattern: str = "*.yaml") -> list[Any]:
    """One ``pytest.param`` per file in `folder` matching `pattern`, named by its stem.

    For ``@pytest.mark.parametrize("scenario", scenario_params("scenarios"))``; a relative
    `folder` is relative to the directory of the module that calls this (the test file), as
    with the marker. The cases obey ``--agentsim-scenario``.
    """
    folder = Path(folder)
    if not folder.is_absolute():
        caller = inspect.currentframe()
        module_file = caller.f_back.f_globals.get("__file__") if caller and caller.f_back else None
        base = Path(module_file).parent if module_file else Path.cwd()
        folder = base / folder
    return _params(folder, pattern)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, default_arg in _PARAMETRIZERS.items():
        for marker in metafunc.definition.iter_markers(name=name):
            folder, *rest = marker.args
            pattern = marker.kwargs.get("pattern", rest[0] if rest else "*.yaml")
            argname = marker.kwargs.get("argname", default_arg)
            folder = Path(folder)
            if not folder.is_absolute():
                folder = metafunc.definition.path.parent / folder
            metafunc.parametrize(argname, _params(folder, pattern))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns: list[str] = config.getoption("agentsim_scenario")
    if not patterns:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        names = [m.args[0] for m in item.iter_markers(name="agentsim_scenario") if m.args]
        wanted = not names or any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)
        (kept if wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- files named on the command line --------------------------------------------------------------


class ScenarioFailed(Exception):
    """A scenario or cassette file named on the command line did not pass; carries the report."""


class ScenarioFile(pytest.File):
    """A scenario or cassette YAML file named on the command line: one test."""

    def collect(self) -> list[pytest.Item]:
        return [ScenarioItem.from_parent(self, name=self.path.stem)]


class ScenarioItem(pytest.Item):
    """Runs its file through the loop under test: a scenario must pass (expectation, script and
    invariants); a cassette's replay must keep every invariant and use the recording exactly."""

    def runtest(self) -> None:
        factory = _configured_loop(self.config)
        seed = self.config.getoption("agentsim_seed")
        data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "input" not in data:
            loop = factory() if factory is not None else None
            result = replay_cassette(load_cassette(self.path), seed=seed or 0, loop=loop)
        else:
            result = run_guarded(self.path, loop=factory, seed=seed)
        if not result.passed:
            raise ScenarioFailed(result.report())

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailed | InputError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"agentsim: {self.path.name}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix in (".yaml", ".yml") and parent.session.isinitpath(file_path):
        file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return file
    return None


# -- the network guard ----------------------------------------------------------------------------


def _in_simulated_run() -> bool:
    try:
        return isinstance(asyncio.get_running_loop(), VirtualEventLoop)
    except RuntimeError:
        return False


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
class _NetworkGuard:
    """Patches ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo`` for the
    session; each test phase collects what was refused (`attempts`) and fails on it."""

    enabled: bool
    attempts: list[str] = field(default_factory=list)
    allowed: bool = False
    _saved: dict[str, Any] = field(default_factory=dict)

    def refuse(self, what: str) -> None:
        """Refuse `what` if a simulated run is going on in this thread (and the test is not
        allowed the network)."""
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


_GUARD_KEY = pytest.StashKey[_NetworkGuard]()


def _phase(item: pytest.Item) -> Generator[None, object, object]:
    return item.config.stash[_GUARD_KEY].phase(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _phase(item))
