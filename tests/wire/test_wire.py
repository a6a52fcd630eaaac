"""Rules every wire decoder shares (see `agentsim.wire._base`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsim.cassettes import Interaction, load_cassette, write_cassette
from agentsim.wire import API_NAMES, ApiName, WireFormatError, decoder_for
from agentsim.wire._gemini import GeminiArrayDecoder

DEEP = b"[" * 100_000


@pytest.mark.parametrize("api", API_NAMES)
def test_deeply_nested_json_is_a_wire_format_error_not_a_recursion_error(api: ApiName) -> None:
    separator = b"\r\n\r\n" if api == "gemini" else b"\n\n"
    decoder = decoder_for(api)
    with pytest.raises(WireFormatError, match="not JSON"):
        decoder.feed(b"data: " + DEEP + separator)


def test_deeply_nested_gemini_array_element() -> None:
    decoder = GeminiArrayDecoder()
    with pytest.raises(WireFormatError, match="invalid array element"):
        decoder.feed(b'[{"a":' + DEEP + b"]" * 100_000 + b"}]")


@pytest.mark.parametrize("api", API_NAMES)
def test_a_deeply_nested_error_body_still_becomes_one_error_chunk(api: ApiName) -> None:
    decoder = decoder_for(api, status=500)
    assert decoder.feed(DEEP) == []
    [chunk] = decoder.close()
    assert chunk.type == "error"


def test_a_cassette_with_a_deeply_nested_request_body_still_loads(tmp_path: Path) -> None:
    interaction = Interaction(
        method="POST",
        uri="https://api.openai.com/v1/chat/completions",
        request_headers={},
        request_body=DEEP,
        status=200,
        response_headers={"content-type": ["text/event-stream"]},
        response_body=b"data: [DONE]\n\n",
    )
    path = tmp_path / "deep.yaml"
    write_cassette(path, [interaction])
    [loaded] = load_cassette(path).interactions
    assert loaded.request_body == DEEP
