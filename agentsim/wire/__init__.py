"""Wire codecs: provider stream bytes to provider-neutral chunks and back (DESIGN §5).

One sans-IO module per provider API - `_openai_chat`, `_openai_responses`, `_anthropic`, `_gemini`
(+ `_gemini_encode`) - each a decoder (bytes in any split -> chunks; only `WireFormatError`) and an
encoder (chunks -> the API's exact bytes). `_base` holds what they share; `_registry` sits above the
codecs and picks one by API name (`decoder_for`, `encode_stream`), so nothing imports in a circle.

May import: core. Must not import any other layer: codecs are pure and know nothing of loops,
scenarios or files.
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.wire._base import API_NAMES, ApiName, StreamDecoder, WireFormatError
from agentsim.wire._registry import decoder_for, encode_stream

__all__ = [
    "API_NAMES",
    "ApiName",
    "StreamDecoder",
    "WireFormatError",
    "decoder_for",
    "encode_stream",
]

check_exports(__name__, globals(), __all__)
