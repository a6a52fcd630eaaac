"""Timelines of failing tests: the HTML page of each run a failing test made, and where it is.

The fixtures (`agentsim_run`, `agentsim_replay`) note every `RunResult` they hand a test in the
test item's stash; nothing is written while the test runs, so passing tests (and tests that
assert a run fails) cost nothing. When a test's call phase fails, this hook writes the timeline
of each result that did not pass - or of every result, when the test failed on its own
assertion with passing runs - and adds an ``agentsim timeline`` section with the paths to the
failure report, where the traceback is.

Where: ``--agentsim-html DIR``, else ``agentsim-html/`` in pytest's base temporary directory
(``tmp_path_factory.getbasetemp()``, per xdist worker), never the project tree. The base
directory is asked for only when a page is written. File names come from the test's node id
and the result's number, so a rerun overwrites its own pages.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path

import pytest

from agentsim.cassettes._files import write_text_atomic
from agentsim.harness._result import RunResult
from agentsim.report import run_html

__all__ = ["RESULTS_KEY", "note_item_result", "note_result", "pytest_runtest_makereport"]

RESULTS_KEY = pytest.StashKey[list[tuple[str, RunResult]]]()
_FACTORY_KEY = pytest.StashKey[pytest.TempPathFactory]()


def note_result(request: pytest.FixtureRequest, what: str, result: RunResult) -> RunResult:
    """Keep `result` (of the scenario or cassette `what`) for the test's failure report."""
    node = request.node
    node.stash.setdefault(RESULTS_KEY, []).append((what, result))
    if _FACTORY_KEY not in node.stash:
        factory = request.getfixturevalue("tmp_path_factory")
        node.stash[_FACTORY_KEY] = factory
    return result


def note_item_result(item: pytest.Item, what: str, result: RunResult) -> None:
    """`note_result` for an item without fixtures (a scenario file named on the command line)."""
    item.stash.setdefault(RESULTS_KEY, []).append((what, result))


def _folder(item: pytest.Item) -> Path:
    chosen = item.config.getoption("agentsim_html", None)
    if chosen:
        return Path(chosen)
    factory = item.stash.get(_FACTORY_KEY, None)
    if factory is None:  # an item without fixtures: the factory pytest's tmp_path plugin keeps
        factory = getattr(item.config, "_tmp_path_factory", None)
    if factory is None:
        raise OSError("no --agentsim-html folder and no pytest temporary directory")
    base: Path = factory.getbasetemp()
    return base / "agentsim-html"


def _write(item: pytest.Item, results: list[tuple[str, RunResult]]) -> list[Path]:
    failing = [(n, w, r) for n, (w, r) in enumerate(results, 1) if not r.passed]
    chosen = failing or [(n, w, r) for n, (w, r) in enumerate(results, 1)]
    folder = _folder(item)
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")[:120]
    paths = []
    for number, what, result in chosen:
        path = folder / f"{stem}-{number}.html"
        title = f"{item.nodeid} · run {number}: {what}"
        write_text_atomic(path, run_html(result, title=title))
        paths.append(path)
    return paths


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    results = item.stash.get(RESULTS_KEY, None)
    if report.when != "call" or not report.failed or not results:
        return report
    try:
        paths = _write(item, results)
    except OSError as exc:
        text = f"agentsim: could not write the timeline: {exc}"
    else:
        text = "\n".join(f"timeline: {p}" for p in paths)
    addsection = getattr(report.longrepr, "addsection", None)
    if callable(addsection):  # a traceback's own section: shown whatever --show-capture says
        addsection("agentsim timeline", text)
    else:
        report.sections.append(("agentsim timeline", text))
    return report
