"""``agentsim serve`` and ``agentsim record`` as commands: they print where they listen, serve until
Ctrl-C (SIGINT), then stop cleanly with a report and the documented exit status."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentsim.cli._serve import main

httpx2 = pytest.importorskip("httpx2")

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "tool_call_then_answer.yaml"
URL = re.compile(rb"at (http://127\.0\.0\.1:\d+)")


def start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentsim.cli._serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], 20)
    if not ready:
        process.kill()
        pytest.fail("the command printed nothing within 20 s")
    line = process.stderr.readline()
    found = URL.search(line)
    assert found, line
    return process, found.group(1).decode()


def stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    return process.returncode, err.decode()


def chat(url: str, messages: list[Any]) -> str:
    body = {"model": "m", "messages": messages, "tools": [{"function": {"name": "get_weather"}}]}
    return str(httpx2.post(url + "/v1/chat/completions", json=body, timeout=10).json())


def test_serve_until_ctrl_c_then_report_and_exit_by_the_verdict(tmp_path: Path) -> None:
    process, url = start("serve", str(SCENARIO), "--port", "0", "--speed", "100")
    system = {"role": "system", "content": "You are a weather assistant."}
    user = {"role": "user", "content": "What is the weather in Paris?"}
    assert "get_weather" in chat(url, [system, user])
    code, err = stop(process)
    assert code == 1, err  # the second scripted request was never made
    assert "POST /v1/chat/completions -> 200 (req_agentsim_1)" in err
    assert "requests[1] (request 2) was never made" in err
    assert err.rstrip().endswith("FAIL")

    process, url = start("serve", str(SCENARIO), "--port", "0", "--speed", "100")
    chat(url, [system, user])
    call: dict[str, object] = {"id": "call_weather_1", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "call_weather_1", "content": "sunny"}
    assert "It is sunny in Paris" in chat(url, [system, user, assistant, result])
    code, err = stop(process)
    assert code == 0, err
    assert err.rstrip().endswith("PASS")


def test_record_until_ctrl_c_writes_the_cassette(tmp_path: Path) -> None:
    server, upstream = start("serve", str(SCENARIO), "--port", "0", "--speed", "100")
    out = tmp_path / "out.yaml"
    proxy, url = start("record", "--upstream", upstream, "--out", str(out), "--port", "0")
    headers = {"authorization": "Bearer sk-live-secret"}
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx2.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    code, err = stop(proxy)
    assert code == 0, err
    assert f"wrote {out}: 1 interaction(s)" in err
    assert "sk-live-secret" not in out.read_text()
    stop(server)


def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["serve", str(SCENARIO), "--speed", "0"])
    assert raised.value.code == 2
    out = str(tmp_path / "no" / "such" / "folder" / "c.yaml")
    assert main(["record", "--upstream", "http://127.0.0.1:1", "--out", out]) == 2
    assert "cannot write there" in capsys.readouterr().err
    assert main(["record", "--upstream", "ftp://x", "--out", str(tmp_path / "c.yaml")]) == 2
    assert "http:// or https://" in capsys.readouterr().err


def test_a_port_in_use_exits_2() -> None:
    process, url = start("serve", str(SCENARIO), "--port", "0")
    try:
        port = url.rsplit(":", 1)[1]
        started = time.perf_counter()
        code = subprocess.run(
            [sys.executable, "-m", "agentsim.cli._serve", "serve", str(SCENARIO), "--port", port],
            capture_output=True,
            timeout=20,
            cwd=ROOT,
            env={**os.environ},
        )
        assert code.returncode == 2, code.stderr
        assert b"cannot listen on 127.0.0.1:" in code.stderr
        assert time.perf_counter() - started < 20
    finally:
        stop(process)


def test_the_report_names_rejected_requests() -> None:
    process, url = start("serve", str(SCENARIO), "--port", "0", "--model", "only-this")
    response = httpx2.post(url + "/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "model_not_found"
    code, err = stop(process)
    assert code == 1
    assert "rejected: 1 request(s)" in err
