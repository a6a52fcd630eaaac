"""`parse_json` (the decoders' fast path to the C JSON scanner) is `json.loads`: the same value or
the same error for any text, JSON or not, nested too deeply included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentsim.wire._base import parse_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def outcome(parse: Any, text: str) -> tuple[str, Any]:
    try:
        value = parse(text)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)
    return "value", json.dumps(value, sort_keys=True)  # NaN != NaN: compare the texts


@given(
    value=json_values,
    before=st.sampled_from(["", " ", "\n", "\t\r"]),
    after=st.sampled_from(["", " ", "\n\r\t", "x", ",1", " }", "\x1c", "\u00a0"]),
)
def test_json_documents_parse_as_json_loads_parses_them(
    value: Any, before: str, after: str
) -> None:
    text = before + json.dumps(value) + after
    assert outcome(parse_json, text) == outcome(json.loads, text)


@given(text=st.text(alphabet='{}[]",:0123456789.eE+-truefalsn \\u\n', max_size=40))
def test_any_text_fails_or_parses_as_json_loads_does(text: str) -> None:
    assert outcome(parse_json, text) == outcome(json.loads, text)


def test_deep_nesting_is_a_recursion_error_as_with_json_loads() -> None:
    text = "[" * 100_000 + "]" * 100_000
    assert outcome(parse_json, text)[0] == outcome(json.loads, text)[0] == "RecursionError"
