"""The fixtures from ``async def`` tests: pytest-asyncio in auto and strict modes and anyio's
plugin (asyncio and trio); a harness limitation is reported as one, never as the loop's fault."""

from __future__ import annotations

import asyncio

import pytest

from agentsim.fuzz._properties import run_guarded
from agentsim.harness._result import RunResult

pytest_plugins = ["pytester"]

SCENARIO = """
input: What is the weather in Paris?
tools:
  get_weather:
    results: ["Paris: 21 C"]
requests:
  - chunks:
      - tool_call: {id: c1, name: get_weather, arguments: {city: Paris}}
      - finish: tool_calls
  - chunks:
      - text: It is 21 C.
        delay: 30
      - finish: stop
expect:
  outcome: completed
  output: It is 21 C.
  t: 30
"""

CASSETTE_FREE_TESTS = """
import asyncio

import pytest

{mark}
async def test_awaited_run(agentsim_arun):
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    result = await agentsim_arun("case.yaml")
    task.cancel()
    assert result.passed, result.report()
    assert result.outcome.t == 30


{mark}
async def test_plain_fixture_from_an_async_test(agentsim_run):
    result = agentsim_run("case.yaml", seed=3)
    assert result.passed, result.report()
    assert "loop raised" not in result.report()
"""

ANYIO_TESTS = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_awaited_run(agentsim_arun):
    result = await agentsim_arun("case.yaml")
    assert result.passed, result.report()
    assert result.outcome.t == 30


@pytest.mark.anyio
async def test_plain_fixture(agentsim_run):
    assert agentsim_run("case.yaml").passed
"""


def _project(pytester: pytest.Pytester, tests: str) -> pytest.Pytester:
    pytester.makefile(".yaml", case=SCENARIO)
    pytester.makepyfile(test_async=tests)
    return pytester


def test_auto_mode(pytester: pytest.Pytester) -> None:
    project = _project(pytester, CASSETTE_FREE_TESTS.format(mark=""))
    result = project.runpytest("-p", "no:cacheprovider", "-p", "asyncio", "--asyncio-mode=auto")
    result.assert_outcomes(passed=2)


def test_strict_mode(pytester: pytest.Pytester) -> None:
    tests = "import pytest_asyncio\n" + CASSETTE_FREE_TESTS.format(mark="@pytest.mark.asyncio")
    project = _project(pytester, tests)
    result = project.runpytest("-p", "no:cacheprovider", "-p", "asyncio", "--asyncio-mode=strict")
    result.assert_outcomes(passed=2)


def test_anyio_plugin_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    project = _project(pytester, ANYIO_TESTS)
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=4)


def test_a_harness_error_is_its_own_category() -> None:
    # Running on a thread whose loop is busy is agentsim's limitation: not "the loop raised".
    async def main() -> RunResult:
        return run_guarded({"input": "hi", "requests": [{"chunks": [{"text": "hi"}]}]})

    result = asyncio.run(main())
    assert not result.passed
    assert result.problems == ()
    assert result.harness
    assert "agentsim_arun" in result.harness[0]
    report = result.report()
    assert "harness: a simulated run needs a thread without a running event loop" in report
    assert "loop raised" not in report
    assert report.endswith("FAIL")


def test_fuzzing_reports_a_harness_error_as_its_own_category() -> None:
    from agentsim.fuzz._properties import check_run
    from agentsim.fuzz._shrink import signature

    data = {"input": "hi", "requests": [{"chunks": [{"text": "hi"}, {"finish": "stop"}]}]}

    async def main() -> tuple[object, set[str]]:
        return check_run((data, None), None), signature(run_guarded(data))

    failure, ids = asyncio.run(main())
    assert failure is not None
    assert failure.ids == ("harness",)  # type: ignore[attr-defined]
    assert failure.lines()[0].startswith("harness: a simulated run needs")  # type: ignore[attr-defined]
    assert ids == {"harness"}
    assert check_run((data, None), None) is None  # the same case, run properly, passes
