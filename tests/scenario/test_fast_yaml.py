"""The fast YAML path gives exactly what the positional loader gives, or declines.

Documents are random scenario-like data (tricky scalars, unicode, control characters) dumped by
PyYAML in random styles, with comments and blank lines sprinkled in, and then, for half of them,
randomly damaged (so that the fast path also meets text libyaml rejects). The property: wherever
the positional loader raises, the fast path declines; wherever it loads, the fast path declines
or gives the same data, types included.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agentsim import InputError, load_scenario
from agentsim.scenario import _fast_yaml as _fast
from agentsim.scenario._fast_yaml import DECLINED, fast_load
from agentsim.scenario._schema import parse_scenario
from agentsim.scenario._yaml_source import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    load_positioned_yaml,
    load_yaml,
)

TRICKY = [
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "",
    " ",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1e3",
    "1.5e+3",
    "1.",
    ".5",
    "-.5",
    ".inf",
    "-.Inf",
    ".nan",
    "190:20:30",
    "12:30",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "-",
    "- x",
    "-x",
    "--",
    "---",
    "...",
    "?",
    "? x",
    ":",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#x",
    "&a",
    "*a",
    "!x",
    "!!str",
    "%x",
    "@x",
    "`x",
    "[]",
    "{}",
    "[a]",
    "{a: 1}",
    "'q'",
    '"q"',
    "it's",
    'say "hi"',
    "back\\slash",
    "é",
    "日本",
    "😀",
    "\t",
    "a\tb",
    "\n",
    "a\nb",
    "a\n",
    "\r",
    "\x85",
    "\u2028",
    "\ufeff",
    "\x07",
    "\x00",
    "\x7f",
    "\xa0",
    " lead",
    "trail ",
    "0",
    "-0",
    "+1",
    "-1",
    "00",
    "1.0",
    "-0.0",
    "word0 ",
    "a" * 120,
    "word " * 30,
]
KEYS = [
    "text",
    "delay",
    "finish",
    "chunks",
    "requests",
    "input",
    "yes",
    "on",
    "null",
    "y",
    "_x",
    "a.b",
    "a-b",
    "1",
    "1.5",
    "~",
    "<<",
    "key with space",
    "é",
    "k:",
    "#k",
    "-k",
    "",
]

scalars = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.text(alphabet="ab -:#'\"\\\n\t{}[],&*!|>%@`?~.01", max_size=10),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))


# Tame: what the fast path should take (identifier keys, printable one-line text), with some
# of the tricky words among them, so that the property is tested on data it takes, too.
tame_scalars = st.one_of(
    st.sampled_from(TRICKY[:60]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
tame_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)


def data_trees(leaves: Any = scalars, names: Any = keys) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(names, inner, max_size=4),
        ),
        max_leaves=24,
    )


@st.composite
def documents(draw: st.DrawFn) -> str:
    leaves, names = draw(st.sampled_from([(scalars, keys), (tame_scalars, tame_keys)]))
    trees = data_trees(leaves, names)
    data = draw(st.dictionaries(names, trees, min_size=1, max_size=5) | trees)
    text = yaml.dump(
        data,
        Dumper=yaml.SafeDumper,
        sort_keys=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, False, False, None, True])),
        default_style=draw(st.sampled_from([None, None, None, None, "'", '"'])),
        allow_unicode=draw(st.booleans()),
        width=draw(st.sampled_from([20, 80, 10_000, 10_000])),
        indent=draw(st.sampled_from([2, 3, 4])),
        explicit_start=draw(st.booleans()),
    )
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 3))):  # comments and blank lines
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["", "# note", "   # indented note", "  "])))
    for _ in range(draw(st.integers(0, 2))):  # trailing comments and spaces
        at = draw(st.integers(0, len(lines) - 1))
        lines[at] += draw(st.sampled_from([" # note", "  ", "#x", " #"]))
    text = "\n".join(lines)
    if draw(st.integers(0, 2)) == 0:  # damage: what libyaml rejects must be declined too
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 2))
            insert = draw(st.text(alphabet=" -:#'\"\n\t[]{},&*!|>?a1é\\", max_size=3))
            text = text[:at] + insert + text[at + cut :]
    return text


def canonical(value: Any) -> Any:
    """`value` with its types spelled out (1, 1.0 and True differ; so do 0.0 and -0.0)."""
    if isinstance(value, dict):
        return ("dict", [(canonical(k), canonical(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canonical(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    return (type(value).__name__, value)


def reference(text: str) -> Any:
    try:
        return canonical(load_positioned_yaml(text, file="f.yaml").data)
    except InputError:
        return InputError


@pytest.mark.parametrize("text", ["a: !!int x\n", "a: !!bool x\n", "!!timestamp x: 1\n"])
def test_a_tag_its_scalar_does_not_fit_is_bad_input(text: str) -> None:
    for load in (load_positioned_yaml, load_yaml):
        with pytest.raises(InputError, match="invalid YAML value 'x' for the tag"):
            load(text, file="f.yaml")


def check(text: str) -> bool:
    """The property; True when the fast path took the document."""
    fast = fast_load(text)
    expected = reference(text)
    if fast is DECLINED:
        return False
    assert expected is not InputError, f"fast path accepted what the loader rejects: {text!r}"
    assert canonical(fast) == expected, text
    # load_yaml (cassettes) is the same data through the same fast path
    assert canonical(load_yaml(text, file="f.yaml")) == expected
    return True


@settings(max_examples=150, deadline=None)
@given(documents())
def test_the_fast_path_is_the_positional_loader_or_declines(text: str) -> None:
    event("taken by the fast path" if check(text) else "declined")


def test_the_fast_path_takes_what_convert_writes() -> None:
    # Block style, quoted and plain scalars, numbers, nulls, empty collections and comments:
    # what the property test reaches, pinned so that a fast path declining everything fails.
    texts = [
        "# head\ninput: hi\nrequests:\n- chunks:\n  - delay: 0.001\n    text: 'word0 '\n"
        '  - text: "a\\tb\\u00e9"\n  - finish: stop\nundefined_tools: []\ntools: {}\n',
        "a:\n  - - 1\n    - -2.5\n  - b: ~\n    c:\n    d: yes\n    e: 'it''s'\nx-y: 3\n",
        "k: v # comment\nl: a#b\nm: -x\nn: no_thanks\no: 1_000_000x\n",
    ]
    for text in texts:
        assert check(text), text


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: 1\na: 2\n",  # duplicate keys
        "a: 017\nb: 0x1F\nc: 12:30\nd: 2001-12-14\n",  # YAML 1.1 numbers and timestamps
        "<<: {a: 1}\n",  # merge keys
        "a: |\n  text\n",  # block scalars
        "a: 'multi\n  line'\n",  # multi-line scalars
        "\ufeffa: 1\n",  # a BOM
        "a:\tb\n",  # a tab
        "a: b\r\nc: d\r\n",  # CR line ends
        "--- \na: 1\n",  # document markers
        "# only a comment\n",  # no document
        "{a: 1}\n",  # flow collections
        "a: " + "[" * 50 + "]" * 50 + "\n",
    ],
)
def test_the_fast_path_declines_what_it_does_not_handle(text: str) -> None:
    assert fast_load(text) is DECLINED
    reference(text)  # and the loader handles it (data or an InputError), as before


def test_the_fast_limits_are_below_the_loaders() -> None:
    assert _fast._BYTE_LIMIT < MAX_BYTES
    assert _fast._DEPTH_LIMIT < MAX_DEPTH
    assert _fast._NODE_LIMIT < MAX_NODES


def test_hostile_input_through_the_fast_path_stays_bounded() -> None:
    deep = "".join(" " * i + "- \n" for i in range(MAX_DEPTH * 2)).replace("- \n", "-\n")
    assert fast_load(deep) is DECLINED
    deep_map = "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH * 2))
    assert fast_load(deep_map) is DECLINED
    with pytest.raises(InputError, match="nesting deeper"):
        load_yaml(deep_map, file="deep.yaml")


def test_a_scenario_error_still_names_its_line(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: hi\nrequests:\n- chunks:\n  - text: a\n  - delay: -1\n    text: b\n")
    assert fast_load(path.read_text()) is not DECLINED  # the fast path read it
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:5:5: requests[0].chunks[1].delay: ")
    source = load_positioned_yaml(path.read_text(), file=str(path))
    with pytest.raises(InputError) as positional:
        parse_scenario(source.data, source=source, file=str(path))
    assert str(caught.value) == str(positional.value)  # exactly today's error
