"""The timeline in a real browser: headless Chromium (Debian's ``chromium``, which .ci/run
installs) driven by Playwright for Python with the system executable - never a downloaded
browser. Checks that the lanes, the markers and the violation pin render, that hovering and
clicking show a payload, that the page logs no error, and saves a screenshot in the test's tmp
dir. Skips, saying why, where Chromium or Playwright is missing."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsim.cli._fuzz import add_fuzz_commands
from agentsim.cli._main import main
from agentsim.harness._run import run_scenario
from agentsim.report import run_html
from tests.report._support import CANCEL, SCENARIOS

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _fuzz_reproducer_page(folder: Path) -> Path:
    """The page `agentsim fuzz` writes beside the reproducer it finds for a buggy loop."""
    parser = argparse.ArgumentParser()
    add_fuzz_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["fuzz", "--loop", "tests.buggy_loops:partial_text_lost", "--examples", "60", "--seed",
         "1", "--out", str(folder), "--property", "sweep", "--max-failures", "1"]
    )  # fmt: skip
    assert args.handler(args, stdout=io.StringIO(), stderr=io.StringIO()) == 1
    [reproducer] = folder.glob("sweep-EV7-*.yaml")
    return reproducer.with_suffix(".html")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    """The pages, built before the browser starts: Playwright's sync API keeps an asyncio loop
    running in this thread, where no virtual loop could run. The cancel page is the one
    ``agentsim run scenarios/cancel_while_tool_runs.yaml --html FILE`` writes."""
    folder = tmp_path_factory.mktemp("pages")
    cancel = folder / "cancel.html"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(CANCEL), "--html", str(cancel)]) == 0
    retries = folder / "retries.html"
    result = run_scenario(SCENARIOS / "retryable_errors_retried_with_exponential_backoff.yaml")
    retries.write_text(run_html(result, dialect="vercel"), encoding="utf-8")
    return {
        "cancel": (cancel, len(run_scenario(CANCEL).events)),
        "violation": (_fuzz_reproducer_page(tmp_path_factory.mktemp("fuzz")), 0),
        "retries": (retries, len(result.events)),
    }


class Tab:
    """One browser tab for the module (a new tab costs a second); `open` loads a page and
    resets the errors seen: console errors, uncaught exceptions, any request but the page."""

    def __init__(self, page: Any) -> None:
        self.page, self.url, self.errors = page, "", list[str]()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if request.url != self.url:
            self.errors.append(f"request {request.url}")

    def open(self, path: Path) -> tuple[Any, list[str]]:
        self.url, self.errors[:] = path.as_uri(), []
        self.page.goto(self.url)
        return self.page, self.errors


@pytest.fixture(scope="module")
def browser(pages: dict[str, tuple[Path, int]]) -> Iterator[Tab]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, as .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install 'agentsim[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield Tab(chromium.new_page(viewport={"width": 1400, "height": 800}))
        finally:
            chromium.close()


def _count(page: Any, selector: str) -> int:
    count: int = page.locator(selector).count()
    return count


def test_the_cancel_run_renders_its_lanes_and_the_cancel_marker(
    pages: dict[str, tuple[Path, int]], browser: Tab, tmp_path: Path
) -> None:
    path, events = pages["cancel"]
    page, errors = browser.open(path)
    assert _count(page, "rect.stream") == 1
    assert _count(page, "#timeline rect[class*='ch-']") == 5  # the chunks of the one request
    assert _count(page, "rect.tool-cancelled") == 1
    assert _count(page, "#timeline rect[class*='ev-']") == events
    assert _count(page, "rect.frame") == events
    assert _count(page, "g.marker-cancel") == 1
    assert _count(page, "g.violation") == 0
    assert page.locator("svg.labels text.group-title").all_text_contents() == [
        "provider streams",
        "tools",
        "agent loop",
        "to the browser",
    ]
    page.locator("rect.tool-cancelled").click()
    assert '"outcome": "cancelled"' in page.locator("#detail").text_content()
    page.locator("rect.ch-text").hover()
    assert "Exporting the Q2 report" in page.locator("#tip").text_content()
    page.screenshot(path=str(tmp_path / "cancel.png"), full_page=True)
    assert (tmp_path / "cancel.png").stat().st_size > 10_000
    assert errors == []


def test_a_fuzz_reproducers_page_shows_the_violation(
    pages: dict[str, tuple[Path, int]], browser: Tab, tmp_path: Path
) -> None:
    page, errors = browser.open(pages["violation"][0])
    assert _count(page, "g.violation[data-check='EV7']") == 1
    assert _count(page, "rect.pin-ring") == 1
    box = page.locator("g.violation circle").bounding_box()
    assert box is not None
    assert box["width"] > 10
    page.locator("#violations li").first.click()
    assert "run_cancelled" in page.locator("#detail").text_content()
    assert _count(page, "rect.selected") == 1
    page.screenshot(path=str(tmp_path / "violation.png"), full_page=True)
    assert errors == []


def test_retries_render_their_backoff(pages: dict[str, tuple[Path, int]], browser: Tab) -> None:
    page, errors = browser.open(pages["retries"][0])
    assert _count(page, "rect.stream") == 3
    assert _count(page, "rect.backoff") == 2
    assert _count(page, "rect.ch-error") == 2
    assert errors == []
