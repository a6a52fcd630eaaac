"""The protocols' own JS clients accept what agentsim writes in the AG-UI and Vercel dialects.

Every bundled scenario runs through the reference loop, is encoded by `agentsim.sse` in both
dialects, and the transcripts go, in one node process, through @ag-ui/core's event schemas and
@ag-ui/client's `verifyEvents`, and through the `ai` package's `uiMessageChunkSchema` and
`readUIMessageStream` (tests/js/check_transcripts.mjs says exactly how). Planted bad frames in the
same batch prove the JS side rejects and that the report names the scenario and the frame.

The clients are pinned in tests/js/package.json and package-lock.json and installed by this test
with `npm ci` into tests/js/node_modules (gitignored), npm's download cache in tests/js/.npm-cache:
next to the lockfile is where `npm ci` installs, so no copying and no path outside the checkout
(never the user's home); a fresh CI clone installs once (a few seconds), and a stamp of the
lockfile's hash makes a changed lockfile reinstall. Without node or npm the test skips, saying so;
an install that fails is a failure on CI (CI set) and a skip with npm's message elsewhere (offline).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsim import run_scenario
from agentsim.sse._dialects import encode_dialect

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
DIALECTS = ("agui", "vercel")
STAMP = JS / "node_modules" / ".agentsim-lock-sha256"
MIN_NODE = 20  # the oldest node the pinned clients were run on here (ai 7 declares >=22; works)


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    # pytest-xdist workers may reach the fixture at once: one installs, the other waits.
    with (JS / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JS client conformance test (.ci/run installs)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(re.match(r"v(\d+)", version.stdout).group(1))  # type: ignore[union-attr]
    if major < MIN_NODE:
        pytest.skip(f"node {version.stdout.strip()} is older than v{MIN_NODE}")
    digest = hashlib.sha256((JS / "package-lock.json").read_bytes()).hexdigest()
    with _install_lock():
        if not STAMP.exists() or STAMP.read_text() != digest:
            env = {**os.environ, "npm_config_update_notifier": "false"}
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--cache", str(JS / ".npm-cache")],
                cwd=JS,
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
            )
            if done.returncode != 0:
                detail = f"npm ci failed in {JS}:\n{done.stderr[-2000:]}"
                if os.environ.get("CI"):
                    pytest.fail(detail)
                pytest.skip(detail)
            STAMP.write_text(digest)
    return node


@functools.cache
def _transcript(path: Path, dialect: str) -> str:
    return encode_dialect(run_scenario(path).events, dialect).decode()


def _frames(sse: str) -> list[str]:
    return [frame for frame in sse.split("\n\n") if frame.strip()]


def _join(frames: list[str]) -> str:
    return "".join(f"{frame}\n\n" for frame in frames)


def _data(frame: str) -> Any:
    return json.loads(frame.removeprefix("data: "))


def _frame(body: dict[str, Any]) -> str:
    return "data: " + json.dumps(body, separators=(",", ":"))


def _planted() -> dict[str, tuple[str, str, int, str]]:
    """Invalid transcripts: name -> (dialect, sse, index of the bad frame, rejecting stage)."""
    # The first scenario with a text message and a tool call.
    base = next(p for p in SCENARIOS if '"TOOL_CALL_START"' in _transcript(p, "agui"))
    agui, vercel = _frames(_transcript(base, "agui")), _frames(_transcript(base, "vercel"))
    content = next(i for i, f in enumerate(agui) if '"TEXT_MESSAGE_CONTENT"' in f)
    start = next(i for i, f in enumerate(agui) if '"TEXT_MESSAGE_START"' in f)
    early = [*agui[:start], agui[content], *agui[start:]]  # content before its message starts
    nameless = list(agui)  # TOOL_CALL_START without the required toolCallName
    tool = next(i for i, f in enumerate(agui) if '"TOOL_CALL_START"' in f)
    body = _data(agui[tool])
    del body["toolCallName"]
    nameless[tool] = _frame(body)
    wrong = list(vercel)  # a chunk type the protocol does not have
    delta = next(i for i, f in enumerate(vercel) if '"text-delta"' in f)
    wrong[delta] = _frame({**_data(vercel[delta]), "type": "text-chunk"})
    orphan = list(vercel)  # a text-delta for a text part that was never started
    orphan[delta] = _frame({**_data(vercel[delta]), "id": "text-never-started"})
    return {
        "planted-content-before-start": ("agui", _join(early), start, "verifyEvents"),
        "planted-tool-call-without-name": ("agui", _join(nameless), tool, "EventSchemas"),
        "planted-wrong-chunk-type": ("vercel", _join(wrong), delta, "uiMessageChunkSchema"),
        "planted-orphan-text-delta": ("vercel", _join(orphan), delta, "readUIMessageStream"),
    }


def _sub_run_transcripts() -> list[tuple[str, str, str]]:
    """A run with nested sub-runs inside a tool call (what openai-agents handoffs and agents
    called as tools map to), ending each way a sub-run can: no bundled scenario has one."""
    from tests.sse.test_sub_runs_dialects import _trace

    return [
        (outcome, dialect, encode_dialect(_trace(outcome), dialect).decode())
        for outcome in ("completed", "failed", "cancelled")
        for dialect in DIALECTS
    ]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = _node()
    items = [
        {"name": f"{path.stem}/{dialect}", "dialect": dialect, "sse": _transcript(path, dialect)}
        for path in SCENARIOS
        for dialect in DIALECTS
    ]
    items += [
        {"name": name, "dialect": dialect, "sse": sse}
        for name, (dialect, sse, _, _) in _planted().items()
    ]
    items += [
        {"name": f"sub-runs-{outcome}/{dialect}", "dialect": dialect, "sse": sse}
        for outcome, dialect, sse in _sub_run_transcripts()
    ]
    batch = tmp_path_factory.mktemp("js") / "transcripts.json"
    batch.write_text(json.dumps(items))
    done = subprocess.run(
        [node, str(JS / "check_transcripts.mjs"), str(batch)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"check_transcripts.mjs crashed:\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["checked"] == len(items)
    return report


def _describe(rejection: dict[str, Any]) -> str:
    return (
        f"{rejection['name']}: frame {rejection['frame']} rejected by {rejection['stage']}: "
        f"{rejection['error'][:300]}\n  frame: {json.dumps(rejection['data'])[:300]}"
    )


def test_every_bundled_transcript_is_accepted_by_the_js_clients(verdicts: dict[str, Any]) -> None:
    assert len(SCENARIOS) >= 42
    real = [r for r in verdicts["rejections"] if not r["name"].startswith("planted-")]
    assert not real, "\n".join(_describe(r) for r in real)


def test_planted_invalid_frames_are_rejected_at_their_frame(verdicts: dict[str, Any]) -> None:
    found = {r["name"]: r for r in verdicts["rejections"] if r["name"].startswith("planted-")}
    for name, (_, sse, frame, stage) in _planted().items():
        assert name in found, f"{name} was accepted by the JS clients"
        assert (found[name]["frame"], found[name]["stage"]) == (frame, stage), _describe(
            found[name]
        )
        assert found[name]["data"] == _data(_frames(sse)[frame])
