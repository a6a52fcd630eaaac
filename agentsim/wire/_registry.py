"""The codec registry: which decoder and encoder serve each provider API.

It sits above the codec modules and imports each of them, so the shared base (`_base`) never
imports a codec and there is no import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentsim.core._chunks import Chunk
from agentsim.wire._anthropic import AnthropicDecoder, encode_anthropic
from agentsim.wire._base import API_NAMES, ApiName, StreamDecoder, error_body_decoder
from agentsim.wire._gemini import GeminiDecoder
from agentsim.wire._gemini_encode import encode_gemini
from agentsim.wire._openai_chat import OpenAIChatDecoder, encode_openai_chat
from agentsim.wire._openai_responses import OpenAIResponsesDecoder, encode_openai_responses

DecoderFactory = Callable[[], StreamDecoder]
Encoder = Callable[[Sequence[Chunk]], bytes]
_CODECS: dict[str, tuple[DecoderFactory, Encoder]] = {
    "openai-chat": (OpenAIChatDecoder, encode_openai_chat),
    "openai-responses": (OpenAIResponsesDecoder, encode_openai_responses),
    "anthropic": (AnthropicDecoder, encode_anthropic),
    "gemini": (GeminiDecoder, encode_gemini),
}


def _codec(api: str) -> tuple[DecoderFactory, Encoder]:
    try:
        return _CODECS[api]
    except KeyError:
        raise ValueError(f"unknown provider API {api!r}; expected one of {API_NAMES}") from None


def decoder_for(api: ApiName, *, status: int = 200) -> StreamDecoder:
    """A fresh decoder for one response body of `api` answered with HTTP `status`."""
    if status >= 400:
        return error_body_decoder(status)
    return _codec(api)[0]()


def encode_stream(api: ApiName, chunks: Sequence[Chunk]) -> bytes:
    """The exact streaming body `api` would send for `chunks`."""
    return _codec(api)[1](chunks)
