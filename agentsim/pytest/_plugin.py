"""The pytest plugin: agentsim inside a test suite (registered as the ``pytest11`` entry point
``agentsim``, so it is active wherever agentsim is installed; ``-p no:agentsim`` turns it off).

What it adds, and the choices behind it:

- **Fixtures.** ``agentsim_run(scenario, *, loop=None, seed=None) -> RunResult`` runs a scenario
  (a path, a `Scenario` or scenario data) through the loop under test on virtual time, guarded
  as ``agentsim run --loop`` is: a loop that raises or hangs gives a failing `RunResult`, never
  a stuck test. ``agentsim_replay(cassette, *, loop=None, chunking="recorded", seed=None)``
  replays a recorded provider stream through it. ``agentsim_arun`` / ``agentsim_areplay`` are
  the same, awaited, for ``async def`` tests (the run gets its own loop in a worker thread; see
  `agentsim.pytest._fixtures`). All resolve a relative path against the
  directory of the test file, so a suite passes from any working directory. ``agentsim_loop``
  is the loop under test (override it in a conftest, or name it with ``--agentsim-loop`` or
  the ``agentsim_loop`` ini key; None is the reference loop) and ``agentsim_seed`` the
  ``--agentsim-seed`` value. Each run is guarded (``--agentsim-budget`` wall-clock seconds,
  default 10, and ``--agentsim-max-events``, default 100,000): a loop that spins, busy-waits,
  sleeps with ``time.sleep`` or streams forever fails its test with a sentence saying so, and
  the session goes on. ``sse_snapshot`` and ``normalized_sse_snapshot`` are the syrupy
  fixtures for byte-exact ``.sse`` snapshots; syrupy is imported only when one is used, so
  the plugin loads without it.
- **Record mode.** ``agentsim_provider(cassette, upstream=URL)`` is a base URL for a test's
  HTTP provider client: the cassette served back on loopback, or, with
  ``--agentsim-record=once|new_episodes|all``, the real provider through the recording proxy
  (pytest-recording's convention, vcrpy's modes; the default ``none`` only replays). See
  `agentsim.pytest._recording`.
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
- **Timelines of failures.** When a test that used ``agentsim_run`` / ``agentsim_replay`` (or a
  scenario file named on the command line) fails, the HTML timeline of each run that did not
  pass is written to ``--agentsim-html DIR`` (default: ``agentsim-html/`` under pytest's base
  temporary directory) and its path is printed in the failure report (`_timelines`).

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

import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentsim.cassettes._convert import replay_cassette
from agentsim.cassettes._files import load_cassette
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import run_guarded
from agentsim.pytest._fixtures import (
    AgentsimAReplay,
    AgentsimARun,
    AgentsimReplay,
    AgentsimRun,
    _params,
    agentsim_areplay,
    agentsim_arun,
    agentsim_loop,
    agentsim_replay,
    agentsim_run,
    agentsim_seed,
    normalized_sse_snapshot,
    scenario_params,
    sse_snapshot,
)
from agentsim.pytest._loops import LoopSpec, configured_loop, loop_spec, run_limits
from agentsim.pytest._network_guard import (
    GUARD_KEY,
    NetworkGuard,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)
from agentsim.pytest._recording import AgentsimProvider, agentsim_provider, record_mode_option
from agentsim.pytest._timelines import note_item_result, pytest_runtest_makereport

__all__ = [
    "AgentsimAReplay",
    "AgentsimARun",
    "AgentsimProvider",
    "AgentsimReplay",
    "AgentsimRun",
    "LoopSpec",
    "agentsim_areplay",
    "agentsim_arun",
    "agentsim_loop",
    "agentsim_provider",
    "agentsim_replay",
    "agentsim_run",
    "agentsim_seed",
    "normalized_sse_snapshot",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "scenario_params",
    "sse_snapshot",
]


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


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise pytest.UsageError(f"--agentsim-budget: expected seconds > 0, got {text!r}")
    return value


def _max_events(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(
            f"--agentsim-max-events: expected a whole number >= 1, got {text!r}"
        )
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
        "--agentsim-budget",
        metavar="SECONDS",
        type=_budget,
        default=None,
        help=(
            "wall-clock seconds one simulated run may take before it fails as a spin or a hang "
            "(default 10)"
        ),
    )
    group.addoption(
        "--agentsim-max-events",
        metavar="N",
        type=_max_events,
        default=None,
        help="events one simulated run may emit before it fails as a runaway (default 100000)",
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
        "--agentsim-html",
        metavar="DIR",
        default=None,
        help=(
            "write the HTML timeline of each failing test's runs into DIR (default: "
            "agentsim-html/ in pytest's base temporary directory); the report shows the path"
        ),
    )
    group.addoption(
        "--agentsim-record",
        metavar="MODE",
        type=record_mode_option,
        default="none",
        help=(
            "how agentsim_provider treats cassettes: none (replay only; default), once (record "
            "missing ones through the real provider), new_episodes (record and append), all "
            "(record afresh)"
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


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")
    guard = NetworkGuard(enabled=not config.getoption("agentsim_allow_network"))
    config.stash[GUARD_KEY] = guard
    guard.install()


def pytest_sessionstart(session: pytest.Session) -> None:
    configured_loop(session.config)  # a loop that does not import stops the session at once


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(GUARD_KEY, None)
    if guard is not None:
        guard.uninstall()


def pytest_report_header(config: pytest.Config) -> str:
    guard = "off" if config.getoption("agentsim_allow_network") else "on"
    seed = config.getoption("agentsim_seed")
    loop = loop_spec(config) or "the reference loop"
    seeded = f", seed {seed}" if seed is not None else ""
    record = config.getoption("agentsim_record")
    recording = f", record mode {record}" if record != "none" else ""
    return f"agentsim: loop under test {loop}{seeded}, network guard {guard}{recording}"


# -- one test per scenario file -------------------------------------------------------------------


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
        factory = configured_loop(self.config)
        seed = self.config.getoption("agentsim_seed")
        data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "input" not in data:
            loop = factory() if factory is not None else None
            result = replay_cassette(load_cassette(self.path), seed=seed or 0, loop=loop)
        else:
            result = run_guarded(self.path, loop=factory, seed=seed, limits=run_limits(self.config))
        note_item_result(self, str(self.path), result)
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
