"""The fixtures the plugin registers, their types, and `scenario_params`.

Async tests. A simulated run needs an event loop of its own (a `VirtualEventLoop`), and a thread
runs one loop at a time, so from an ``async def`` test (pytest-asyncio, anyio's plugin) the run
goes to a worker thread: ``await agentsim_arun(...)`` / ``await agentsim_areplay(...)`` hand it
to one without blocking the test's loop (through anyio when it is installed, so they work under
trio too; else ``asyncio.to_thread``), and the plain fixtures, called from a running loop, run
it in a worker thread and block until it is done. The network guard keys on the thread running a
`VirtualEventLoop`, so it guards the worker just the same.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from agentsim.cassettes._convert import replay_cassette
from agentsim.cassettes._files import Cassette, load_cassette
from agentsim.cassettes._provider import Chunking
from agentsim.cassettes._request_diff import RequestCheck
from agentsim.fuzz._properties import run_guarded
from agentsim.harness._result import RunResult
from agentsim.pytest._loops import LoopSpec, configured_loop, factory_of, run_limits
from agentsim.pytest._timelines import note_result
from agentsim.scenario._schema import Scenario

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

T = TypeVar("T")

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
        run: int | None = None,
        requests: RequestCheck = "loose",
    ) -> RunResult: ...


class AgentsimARun(Protocol):
    """What the ``agentsim_arun`` fixture is: `AgentsimRun`, awaited."""

    def __call__(
        self,
        scenario: Scenario | Mapping[str, Any] | str | Path,
        *,
        loop: LoopSpec | None = None,
        seed: int | None = None,
    ) -> Awaitable[RunResult]: ...


class AgentsimAReplay(Protocol):
    """What the ``agentsim_areplay`` fixture is: `AgentsimReplay`, awaited."""

    def __call__(
        self,
        cassette: Cassette | str | Path,
        *,
        loop: LoopSpec | None = None,
        chunking: Chunking = "recorded",
        seed: int | None = None,
    ) -> Awaitable[RunResult]: ...


def _off_loop(work: Callable[[], T]) -> T:
    """Run `work` here, or in a worker thread if this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(1, thread_name_prefix="agentsim-run") as pool:
        return pool.submit(contextvars.copy_context().run, work).result()


async def _in_worker(work: Callable[[], T]) -> T:
    """Await `work` run in a worker thread, on whichever async library runs the test."""
    try:
        import anyio.to_thread
    except ImportError:  # pragma: no cover - anyio comes with httpx and the SDKs
        return await asyncio.to_thread(work)
    return await anyio.to_thread.run_sync(work)


@pytest.fixture
def agentsim_seed(pytestconfig: pytest.Config) -> int | None:
    """The ``--agentsim-seed`` value: the seed of every simulated run, or None (the file's)."""
    seed: int | None = pytestconfig.getoption("agentsim_seed")
    return seed


@pytest.fixture
def agentsim_loop(pytestconfig: pytest.Config) -> LoopSpec | None:
    """The loop under test: ``--agentsim-loop``, else the ``agentsim_loop`` ini value, else None
    (the reference loop). Override this fixture to hand the fixtures your loop."""
    return configured_loop(pytestconfig)


def _resolve(path: str | Path, request: pytest.FixtureRequest) -> Path:
    path = Path(path)
    return path if path.is_absolute() else request.path.parent / path


def _runner(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> Callable[..., RunResult]:
    def run(
        scenario: Scenario | Mapping[str, Any] | str | Path,
        *,
        loop: LoopSpec | None = None,
        seed: int | None = None,
    ) -> RunResult:
        if isinstance(scenario, str | Path):
            scenario = _resolve(scenario, request)
        factory = factory_of(request.config, loop if loop is not None else agentsim_loop)
        chosen = seed if seed is not None else agentsim_seed
        result = run_guarded(scenario, loop=factory, seed=chosen, limits=run_limits(request.config))
        what = str(scenario) if isinstance(scenario, Path) else "scenario data"
        return note_result(request, what, result)

    return run


def _replayer(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> Callable[..., RunResult]:
    def replay(
        cassette: Cassette | str | Path,
        *,
        loop: LoopSpec | None = None,
        chunking: Chunking = "recorded",
        seed: int | None = None,
        run: int | None = None,
        requests: RequestCheck = "loose",
    ) -> RunResult:
        if not isinstance(cassette, Cassette):
            cassette = load_cassette(_resolve(cassette, request))
        factory = factory_of(request.config, loop if loop is not None else agentsim_loop)
        chosen = seed if seed is not None else agentsim_seed
        result = replay_cassette(
            cassette,
            chunking=chunking,
            seed=chosen or 0,
            loop=factory() if factory is not None else None,
            run=run,
            requests=requests,
        )
        return note_result(request, str(cassette.path), result)

    return replay


@pytest.fixture
def agentsim_run(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimRun:
    """Run a scenario through the loop under test (or `loop`) and return its `RunResult`.

    Assert ``result.passed, result.report()`` for the whole verdict (expectation, strict
    script, every invariant), or look at ``result.events``, ``result.history``,
    ``result.outcome`` and ``result.violations``. Called from an async test it runs in a
    worker thread and blocks the test's loop meanwhile (``agentsim_arun`` does not block it).
    """
    run = _runner(request, agentsim_loop, agentsim_seed)

    def sync(*args: Any, **kwargs: Any) -> RunResult:
        return _off_loop(functools.partial(run, *args, **kwargs))

    return sync


@pytest.fixture
def agentsim_arun(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimARun:
    """``await agentsim_arun(scenario, ...)``: `agentsim_run` for ``async def`` tests.

    The run gets its own virtual loop in a worker thread; the test's loop goes on meanwhile.
    """
    run = _runner(request, agentsim_loop, agentsim_seed)

    async def arun(*args: Any, **kwargs: Any) -> RunResult:
        return await _in_worker(functools.partial(run, *args, **kwargs))

    return arun


@pytest.fixture
def agentsim_replay(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimReplay:
    """Replay a cassette through the loop under test (or `loop`); returns its `RunResult`.

    Its tools answer with the results the recording sent back; `problems` lists the requests
    beyond the recording and the interactions never requested. A cassette holding several runs
    replays run by run (`run=N` picks one; see `replay_cassette`); each request the loop sends
    is compared with the recorded one (`requests="loose"`, ``"strict"`` or ``"off"``).
    """
    replay = _replayer(request, agentsim_loop, agentsim_seed)

    def sync(*args: Any, **kwargs: Any) -> RunResult:
        return _off_loop(functools.partial(replay, *args, **kwargs))

    return sync


@pytest.fixture
def agentsim_areplay(
    request: pytest.FixtureRequest, agentsim_loop: LoopSpec | None, agentsim_seed: int | None
) -> AgentsimAReplay:
    """``await agentsim_areplay(cassette, ...)``: `agentsim_replay` for ``async def`` tests."""
    replay = _replayer(request, agentsim_loop, agentsim_seed)

    async def areplay(*args: Any, **kwargs: Any) -> RunResult:
        return await _in_worker(functools.partial(replay, *args, **kwargs))

    return areplay


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
