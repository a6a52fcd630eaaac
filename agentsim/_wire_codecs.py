"""Registers every provider API's codec with `_wire` (imported lazily on first use)."""

from __future__ import annotations

from ._wire import register_codec
from ._wire_anthropic import AnthropicDecoder, encode_anthropic
from ._wire_gemini import GeminiDecoder, encode_gemini
from ._wire_openai_chat import OpenAIChatDecoder, encode_openai_chat
from ._wire_openai_responses import OpenAIResponsesDecoder, encode_openai_responses

register_codec("openai-chat", OpenAIChatDecoder, encode_openai_chat)
register_codec("openai-responses", OpenAIResponsesDecoder, encode_openai_responses)
register_codec("anthropic", AnthropicDecoder, encode_anthropic)
register_codec("gemini", GeminiDecoder, encode_gemini)
