"""The pytest plugin writes the timeline of a failing test's runs and names it in the report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = """
WRONG = {
    "input": "hi",
    "requests": [{"chunks": [{"text": "hello"}, {"finish": "stop"}]}],
    "expect": {"outcome": "completed", "output": "bye"},
}
RIGHT = {**WRONG, "expect": {"outcome": "completed", "output": "hello"}}

def test_a_run_that_fails(agentsim_run):
    agentsim_run(RIGHT)
    result = agentsim_run(WRONG)
    assert result.passed, result.report()

def test_a_passing_run_and_a_failing_assertion(agentsim_run):
    assert agentsim_run(RIGHT).outcome.output == "bye"

def test_a_failing_run_the_test_expects(agentsim_run):
    assert not agentsim_run(WRONG).passed

def test_passes(agentsim_run):
    assert agentsim_run(RIGHT).passed
"""


def test_failing_tests_get_their_timelines(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_it=textwrap.dedent(TESTS))
    folder = tmp_path / "pages"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--agentsim-html", str(folder))
    result.assert_outcomes(failed=2, passed=2)
    pages = sorted(p.name for p in folder.iterdir())
    # only the failing run of the first test; the passing run of the second (no run failed)
    assert pages == [
        "test_it.py_test_a_passing_run_and_a_failing_assertion-1.html",
        "test_it.py_test_a_run_that_fails-2.html",
    ]
    result.stdout.fnmatch_lines(
        [
            "*- agentsim timeline -*",
            f"timeline: {folder / 'test_it.py_test_a_run_that_fails-2.html'}",
        ]
    )
    page = (folder / "test_it.py_test_a_run_that_fails-2.html").read_text(encoding="utf-8")
    assert "expectation: output: expected &#x27;bye&#x27;" in page


def test_the_default_folder_is_pytests_temporary_directory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=textwrap.dedent(TESTS))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", "run_that_fails")
    result.assert_outcomes(failed=1, deselected=3)
    [line] = [x for x in result.outlines if x.startswith("timeline: ")]
    path = Path(line.removeprefix("timeline: "))
    assert path.parent.name == "agentsim-html"
    assert path.parent.parent.name.startswith("basetemp") or "pytest" in str(path)
    assert path.is_file()
    assert not (pytester.path / "agentsim-html").exists()
