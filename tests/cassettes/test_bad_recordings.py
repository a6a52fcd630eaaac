"""Bad recordings are bad input: an alias bomb, deep nesting, a streaming answer that is not a
stream, a corrupt event. Each is exit 2 with one line naming the file, the place and what was
expected, quickly and in bounded memory, for scenarios and cassettes alike."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agentsim.cassettes._files import Interaction
from agentsim.cassettes._writing import write_cassette
from agentsim.cli._main import main

# 342 bytes that expand to 9**9 strings (the 365-byte bomb is the same shape).
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
DEEP = "input: " + "[" * 600 + "]" * 600 + "\n"
URI = "https://api.openai.com/v1/chat/completions"
REQUEST = json.dumps(
    {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    code = main(args)
    return code, capsys.readouterr().err.strip(), time.perf_counter() - start


@pytest.mark.parametrize("command", ["run", "replay"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [(BOMB, "expands to more than"), (DEEP, "nesting deeper than 100 levels")],
    ids=["alias-bomb", "600-levels"],
)
def test_hostile_yaml_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, err, seconds = run([command, str(path)], capsys)
    assert code == 2, err
    assert err.startswith(f"agentsim: error: {path}:"), err
    assert expected in err
    assert len(err.splitlines()) == 1, err
    assert seconds < 2


def cassette_with(tmp_path: Path, body: bytes, content_type: str = "text/event-stream") -> Path:
    path = tmp_path / "rec.yaml"
    interaction = Interaction(
        method="POST",
        uri=URI,
        request_body=REQUEST.encode(),
        response_headers={"content-type": [content_type]},
        response_body=body,
    )
    write_cassette(path, [interaction])
    return path


@pytest.mark.parametrize("command", ["replay", "convert", "inspect"])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "x", "choices": []}', "got a JSON document"),
        (b"<html><body>Bad gateway</body></html>", "got HTML or XML"),
        (b"", "got an empty body"),
        (b"data: {not json\n\n", "event 1"),
    ],
    ids=["json", "html", "empty", "corrupt-event"],
)
def test_a_streaming_answer_that_is_not_a_stream_is_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    body: bytes,
    expected: str,
) -> None:
    path = cassette_with(tmp_path, body)
    extra = ["-o", str(tmp_path / "case.yaml")] if command == "convert" else []
    code, err, _ = run([command, str(path), *extra], capsys)
    assert code == 2, err
    assert err.startswith(f"agentsim: error: {path}:"), err
    assert "interactions[0].response.body.string" in err
    assert "expected a server-sent-event stream of openai-chat events" in err
    assert expected in err
    assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "case.yaml").exists()


def test_a_good_stream_and_an_error_answer_still_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (
        b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    code, err, _ = run(["replay", str(cassette_with(tmp_path, good))], capsys)
    assert code == 0, err
