"""Regenerate docs/timeline.png, the screenshot in docs/timeline.md.

    python docs/make_timeline_screenshot.py        # from the project root

It runs the bundled scenario `cancel_while_tool_runs.yaml` through a deliberately buggy loop
(`tests.buggy_loops:partial_text_lost`, which forgets the streamed text when it is cancelled),
renders the run's timeline, opens it in headless Chromium (Debian's ``chromium``, driven by
Playwright with the system executable; no browser is downloaded), clicks the violation so the
details panel shows the event it is pinned to, and saves the page as a PNG. No test runs this:
it needs a browser and writes into docs/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentsim.fuzz._properties import load_loop, run_guarded  # noqa: E402
from agentsim.report import run_html  # noqa: E402

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


def main() -> None:
    scenario = ROOT / "scenarios" / "cancel_while_tool_runs.yaml"
    spec = "tests.buggy_loops:partial_text_lost"
    result = run_guarded(scenario, loop=load_loop(spec))
    assert not result.passed, "the buggy loop should fail this scenario"
    title = f"agentsim run scenarios/{scenario.name} --loop {spec}"
    page_text = run_html(result, title=title)
    # the page is built before Playwright starts: its sync API keeps an asyncio loop running
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        path = Path(folder) / "timeline.html"
        path.write_text(page_text, encoding="utf-8")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1180, "height": 640}, device_scale_factor=2)
        page.goto(path.as_uri())
        page.locator("#violations li").first.click()
        out = ROOT / "docs" / "timeline.png"
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
