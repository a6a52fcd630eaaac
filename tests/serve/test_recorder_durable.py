"""The recorder never loses: each finished exchange is on disk at once (a SIGKILLed `record`
keeps it), no session replaces a cassette by a smaller one unless asked, vcrpy's record modes,
and `convert X -o X` is refused."""

from __future__ import annotations

import asyncio
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentsim import parse_scenario
from agentsim.cassettes import load_cassette
from agentsim.cli._main import main as cli_main
from agentsim.core._errors import InputError
from agentsim.serve import serve_scenario
from agentsim.serve._recorder import RecordingProxy
from agentsim.serve._server import ScenarioServer

httpx2 = pytest.importorskip("httpx2")

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(rb"at (http://127\.0\.0\.1:\d+)")
BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
SCENARIO = {"input": "hi", "requests": [{"chunks": [{"text": "hello"}, {"finish": "stop"}]}] * 3}


def chat(url: str) -> None:
    answer = httpx2.post(url + "/v1/chat/completions", json=BODY, timeout=10)
    assert answer.status_code == 200


def test_kill_9_during_record_keeps_every_finished_exchange(tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    with serve_scenario(parse_scenario(SCENARIO), speed=100) as server:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "agentsim.cli._serve", "record"),
                *("--upstream", server.url, "--out", str(out), "--port", "0"),
            ],
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            assert process.stderr is not None
            ready, _, _ = select.select([process.stderr], [], [], 20)
            assert ready, "record printed nothing within 20 s"
            found = URL.search(process.stderr.readline())
            assert found
            url = found.group(1).decode()
            chat(url)
            chat(url)
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(load_cassette(out).interactions) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["rec.yaml"]


async def _record(out: Path, requests: int, **options: object) -> RecordingProxy:
    async with ScenarioServer(parse_scenario(SCENARIO)) as server:
        proxy = RecordingProxy(server.url, out, **options)  # type: ignore[arg-type]
        async with proxy, httpx2.AsyncClient(timeout=10) as http:
            for _ in range(requests):
                await http.post(proxy.url + "/v1/chat/completions", json=BODY)
    return proxy


def test_record_modes_never_shrink_a_cassette_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "rec.yaml"
    asyncio.run(_record(out, 2))
    assert len(load_cassette(out).interactions) == 2
    with pytest.raises(InputError, match="record mode `once` only records a new one"):
        asyncio.run(_record(out, 1))
    with pytest.raises(InputError, match="records nothing"):
        RecordingProxy("http://127.0.0.1:9", out, mode="none")
    before = out.read_bytes()
    idle = asyncio.run(_record(out, 0, mode="all"))  # a session without traffic
    assert out.read_bytes() == before
    assert idle.unwritten == 0
    fewer = asyncio.run(_record(out, 1, mode="all"))
    assert out.read_bytes() == before
    assert fewer.unwritten == 1
    asyncio.run(_record(out, 1, mode="new_episodes"))
    assert len(load_cassette(out).interactions) == 3
    asyncio.run(_record(out, 1, mode="all", allow_fewer=True))
    assert len(load_cassette(out).interactions) == 1
    asyncio.run(_record(out, 0, mode="new_episodes"))
    assert len(load_cassette(out).interactions) == 1


def test_convert_refuses_to_write_over_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "rec.yaml"
    asyncio.run(_record(cassette, 1))
    before = cassette.read_bytes()
    assert cli_main(["convert", str(cassette), "-o", str(cassette)]) == 2
    assert "refusing to write the scenario over the cassette" in capsys.readouterr().err
    assert cassette.read_bytes() == before
    assert cli_main(["convert", str(cassette), "-o", str(tmp_path / "case.yaml")]) == 0
