"""The pytest plugin, exercised through pytester (in-process inner sessions, which load the plugin
from the installed entry point as any project would)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsim import NetworkBlockedError

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
WEATHER = ROOT / "scenarios" / "tool_call_then_answer.yaml"


def write(pytester: pytest.Pytester, source: str) -> None:
    """Write the test file tests/test_it.py of the project."""
    (pytester.path / "tests" / "test_it.py").write_text(textwrap.dedent(source))


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with two scenarios under tests/scenarios and a cassette under tests/cassettes."""
    scenarios = pytester.mkdir("tests") / "scenarios"
    scenarios.mkdir()
    shutil.copy(WEATHER, scenarios / "weather.yaml")
    shutil.copy(ROOT / "scenarios" / "unknown_tool_becomes_error_result.yaml", scenarios)
    (pytester.path / "tests" / "cassettes").mkdir()
    shutil.copy(ROOT / "cassettes" / "anthropic.yaml", pytester.path / "tests" / "cassettes")
    pytester.makepyfile(
        loops="""
        from agentsim import ReferenceLoop

        class Counting(ReferenceLoop):
            made = 0

            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                type(self).made += 1
        """
    )
    pytester.syspathinsert()  # `loops` is importable, as an installed package would be
    return pytester


def test_run_and_replay_fixtures(project: pytest.Pytester) -> None:
    write(
        project,
        """
        from agentsim import ReferenceLoop

        def test_run(agentsim_run):
            result = agentsim_run("scenarios/weather.yaml")  # relative to this file
            assert result.passed, result.report()
            assert result.seed == 0

        def test_run_with_a_loop_object_and_a_seed(agentsim_run):
            result = agentsim_run("scenarios/weather.yaml", loop=ReferenceLoop(), seed=7)
            assert result.passed and result.seed == 7

        def test_replay(agentsim_replay):
            result = agentsim_replay("cassettes/anthropic.yaml", chunking="random", seed=3)
            assert result.passed, result.report()
        """,
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_loop_and_seed_options(project: pytest.Pytester) -> None:
    write(
        project,
        """
        import loops

        def test_loop_from_the_option(agentsim_run, agentsim_replay, agentsim_seed):
            assert agentsim_seed == 11
            assert agentsim_run("scenarios/weather.yaml").seed == 11
            assert agentsim_replay("cassettes/anthropic.yaml").passed
            assert loops.Counting.made == 2
        """,
    )
    result = project.runpytest(
        "-p", "no:cacheprovider", "--agentsim-loop=loops:Counting", "--agentsim-seed=11"
    )
    result.assert_outcomes(passed=1)
    assert "agentsim: loop under test loops:Counting, seed 11, network guard on" in result.outlines


def test_loop_from_the_ini_file_and_a_bad_one(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nagentsim_loop = loops:Counting\n")
    write(
        project,
        """
        import loops

        def test_it(agentsim_loop):
            assert agentsim_loop is loops.Counting
        """,
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    result = project.runpytest("-p", "no:cacheprovider", "--agentsim-loop=loops:Nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*agentsim: loop 'loops:Nope': 'loops' has no attribute 'Nope'"])


def test_scenario_marker_helper_and_selection(project: pytest.Pytester) -> None:
    write(
        project,
        """
        import pytest
        from agentsim.testing import scenario_params

        @pytest.mark.agentsim_scenarios("scenarios")
        def test_marker(scenario, agentsim_run):
            assert agentsim_run(scenario).passed

        @pytest.mark.parametrize("path", scenario_params("scenarios"))
        def test_helper(path):
            assert path.is_absolute() and path.suffix == ".yaml"

        @pytest.mark.agentsim_cassettes("cassettes")
        def test_cassettes(cassette, agentsim_replay):
            assert agentsim_replay(cassette).passed

        def test_other():
            pass
        """,
    )
    result = project.runpytest("-p", "no:cacheprovider", "-v", "--strict-markers")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*test_marker?unknown_tool_becomes_error_result? PASSED*", "*test_marker?weather? PASSED*"]
    )
    selected = project.runpytest("-p", "no:cacheprovider", "--agentsim-scenario=weath*")
    selected.assert_outcomes(passed=3, deselected=3)


def test_a_folder_without_scenarios_is_an_error(project: pytest.Pytester) -> None:
    write(
        project,
        """
        import pytest

        @pytest.mark.agentsim_scenarios("nowhere")
        def test_marker(scenario):
            pass
        """,
    )
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*nowhere is not a folder of scenario files*"])


def test_files_named_on_the_command_line_are_tests(project: pytest.Pytester) -> None:
    broken = project.path / "tests" / "scenarios" / "broken.yaml"
    broken.write_text(WEATHER.read_text().replace("output: It is sunny", "output: It is rainy"))
    result = project.runpytest(
        "-p", "no:cacheprovider", "tests/scenarios/weather.yaml", "tests/cassettes/anthropic.yaml"
    )
    result.assert_outcomes(passed=2)
    result = project.runpytest("-p", "no:cacheprovider", str(broken))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output: expected 'It is rainy*", "*FAIL"])
    # a folder is collected as usual: its YAML files are not tests
    project.runpytest("-p", "no:cacheprovider", "tests/scenarios").assert_outcomes()


# -- the network guard ----------------------------------------------------------------------------


GUARDED = """
import asyncio
import socket

import pytest

from agentsim import run_virtual


async def reach(host, port):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:  # a loop that swallows connection errors
        return type(exc).__name__
    writer.close()
    return "connected"


def test_loopback_in_a_simulated_run(port):
    assert run_virtual(reach("127.0.0.1", port)) == "NetworkBlockedError"


def test_a_name_in_a_simulated_run():
    assert run_virtual(reach("api.example.com", 443)) == "NetworkBlockedError"


def test_loopback_outside_simulated_runs(port):
    assert asyncio.run(reach("127.0.0.1", port)) == "connected"
    socket.create_connection(("127.0.0.1", port)).close()


@pytest.mark.agentsim_allow_network
def test_allowed(port):
    assert run_virtual(reach("127.0.0.1", port)) == "connected"


def connect_in(port):
    try:
        socket.create_connection(("127.0.0.1", port)).close()
    except OSError as exc:
        return type(exc).__name__
    return "connected"


async def in_threads(port):
    import concurrent.futures

    import anyio.to_thread

    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return [
            await asyncio.to_thread(connect_in, port),
            await anyio.to_thread.run_sync(connect_in, port),
            await loop.run_in_executor(pool, connect_in, port),
        ]


def test_worker_threads_of_a_simulated_run(port):
    assert run_virtual(in_threads(port)) == ["NetworkBlockedError"] * 3


def test_worker_threads_outside_simulated_runs(port):
    assert asyncio.run(in_threads(port)) == ["connected"] * 3
"""


@pytest.fixture
def listening(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A pytester project whose tests get the `port` of a loopback listener."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    pytester.makeconftest(f"import pytest\n\n@pytest.fixture\ndef port():\n    return {port}\n")
    pytester.makepyfile(test_guard=GUARDED)
    yield pytester
    server.close()


@pytest.mark.agentsim_allow_network  # the inner session's allowed connect passes through ours
def test_the_guard_fails_tests_whose_simulated_runs_connect(listening: pytest.Pytester) -> None:
    result = listening.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*agentsim network guard: a simulated run tried to reach the network (1):",
            "*connect to ('127.0.0.1', *)",
            "*lookup of 'api.example.com'",
            "*FAILED test_guard.py::test_loopback_in_a_simulated_run*",
            "*FAILED test_guard.py::test_a_name_in_a_simulated_run*",
            "*FAILED test_guard.py::test_worker_threads_of_a_simulated_run*",
        ]
    )


@pytest.mark.agentsim_allow_network
def test_the_guard_can_be_turned_off(listening: pytest.Pytester) -> None:
    result = listening.runpytest(
        "-p", "no:cacheprovider", "--agentsim-allow-network", "-k", "loopback_in"
    )
    result.stdout.fnmatch_lines(["*assert 'connected' == 'NetworkBlockedError'*"])
    assert "network guard off" in result.stdout.str()


def test_the_guard_raises_a_connection_error() -> None:
    # So clients and SDKs treat it as a connection that cannot be made (the test fails anyway).
    assert issubclass(NetworkBlockedError, ConnectionRefusedError)


def test_the_plugin_loads_without_syrupy() -> None:
    code = (
        "import sys; sys.modules['syrupy'] = None; "
        "import agentsim.pytest._plugin as p; print(p.sse_snapshot.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
