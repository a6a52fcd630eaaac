"""A fast path for loading plain block YAML: the same data as the positional loader, or `DECLINED`.

Why: a scenario converted from a long recording is tens of thousands of lines, and composing it
into PyYAML nodes (even through libyaml's C parser, every event and mark is a Python object)
costs ~25 us a chunk item, five times what running it costs. Positions are only needed to
report an error, so a document is first read by this module without any; if validation then
fails, the caller reloads it through `load_positioned_yaml` for today's exact error.

The choice: a line-at-a-time reader of a strict subset of YAML, written so that on every
document it accepts it gives exactly what PyYAML's safe loader (libyaml's parser with PyYAML's
YAML 1.1 resolver and constructors) gives, and declines everything else. A C++ parser
(rapidyaml) was measured (~35 ms for the file of bench/bench_load.py) but it resolves scalars
by YAML 1.2 rules, drops tags in its JSON output, accepts documents libyaml rejects, and walking
its tree from Python costs more than this reader; it could not be made exact by construction.

The subset, one line per node (anything else, or any doubt, is `DECLINED`):

* block mappings whose keys are plain identifiers (``[A-Za-z_][A-Za-z0-9_.-]*``, not one of
  YAML 1.1's booleans or nulls, unique), block sequences (``-`` entries, compact ``- - x`` and
  ``- key: v`` too, and a sequence at its key's indentation), ``[]`` and ``{}``;
* scalars on one line: single-quoted, double-quoted with the escapes libyaml and PyYAML share,
  and plain scalars, which resolve to str only when PyYAML's resolver says so (decimal ints,
  simple floats, booleans and nulls are built as PyYAML builds them; any other resolution, such
  as timestamps, octal or sexagesimal numbers, ``<<`` merges, declines);
* comments and blank lines. No tabs, carriage returns, BOMs, YAML 1.1 line breaks (NEL, LS, PS)
  or characters YAML does not print: any of them declines the whole document.

Not in the subset (declined): tags, anchors and aliases (``!``, ``&`` and ``*`` cannot start a
plain scalar or key here), quoted or complex keys, multi-line scalars (plain, quoted, literal or
folded), flow collections other than the empty ones, directives and document markers.

Bounds: the size of the text is checked first, the reader keeps no recursion, and a
document nested deeper than `_DEPTH_LIMIT` or with more than `_NODE_LIMIT` values declines (both
below the positional loader's limits, which then report it). There are no aliases to expand,
so time and memory are linear in the text.
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml

__all__ = ["DECLINED", "fast_load"]


class _Declined:
    def __repr__(self) -> str:
        return "DECLINED"


DECLINED: Final = _Declined()

# Below the positional loader's limits (`_yaml_source`, which imports this module; a test checks
# the order): a document near one is left to it, to be reported.
_BYTE_LIMIT = 64 * 1024 * 1024
_DEPTH_LIMIT = 90
_NODE_LIMIT = 2_500_000
# Not what YAML prints, and tab, CR, NEL, LS, PS and BOM (YAML 1.1 line breaks and the like);
# spelled as the complement: a class of the allowed ranges takes milliseconds to compile.
_UNSUPPORTED = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)
# One line: its indentation, a dash, a key, and the rest (a scalar, a comment, or more).
_LINE = re.compile(r"( *)(?:(-)(?: +|$))?(?:([A-Za-z_][A-Za-z0-9_.\-]*):(?: +|$))?(.*)")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*):(?: +|$)")
_SQUOTED = re.compile(r"'((?:[^']|'')*)'(?: +#.*)?")
_DQUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(?: +#.*)?')
_EMPTY = re.compile(r"(?:\[\]|\{\})(?: +#.*)?")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,40})")
_FLOAT = re.compile(r"[-+]?[0-9]{1,40}\.[0-9]{0,40}(?:[eE][-+][0-9]{1,3})?")
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset({"~", "null", "Null", "NULL"})
_NOT_KEYS = frozenset(_BOOLS) | _NULLS
# First characters for which PyYAML's resolver has an implicit (non-str) resolution.
_RESOLVED_FIRST = frozenset("-+0123456789.<=~yYnNtTfFoO")
# First characters that cannot start a plain scalar (indicators), or that we do not handle.
_NOT_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@` ")
_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX = {"x": 2, "u": 4, "U": 8}
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER: Any = yaml.resolver.Resolver()


class _Decline(Exception):
    pass


def _unescape(body: str) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    while True:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        code = body[j + 1]  # the pattern guarantees a character after each backslash
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i = j + 2
            continue
        width = _HEX.get(code)
        digits = body[j + 2 : j + 2 + width] if width else ""
        if not width or len(digits) != width or not _HEXDIGITS.issuperset(digits):
            raise _Decline
        point = int(digits, 16)
        if 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
            raise _Decline
        out.append(chr(point))
        i = j + 2 + width
        if i > n:
            raise _Decline


def _scalar(s: str) -> Any:
    """The value of a one-line scalar `s` (no leading spaces, trailing ones stripped)."""
    first = s[0]
    if first == "'":
        m = _SQUOTED.fullmatch(s)
        if m is None:
            raise _Decline
        return m.group(1).replace("''", "'")
    if first == '"':
        m = _DQUOTED.fullmatch(s)
        if m is None:
            raise _Decline
        body = m.group(1)
        return _unescape(body) if "\\" in body else body
    if first in "[{":
        if _EMPTY.fullmatch(s) is None:
            raise _Decline
        return [] if first == "[" else {}
    if first in _NOT_PLAIN_FIRST and not (first == "-" and len(s) > 1 and s[1] != " "):
        raise _Decline
    cut = s.find(" #")
    value = s[:cut].rstrip(" ") if cut >= 0 else s
    if ": " in value or value.endswith(":"):
        raise _Decline
    if first not in _RESOLVED_FIRST:
        return value
    if value in _BOOLS:
        return _BOOLS[value]
    if value in _NULLS:
        return None
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG:
        raise _Decline
    return value


def fast_load(text: str) -> Any:
    """The data of `text` as PyYAML's safe loader builds it, or `DECLINED` (see the module)."""
    if len(text) > _BYTE_LIMIT or _UNSUPPORTED.search(text):
        return DECLINED
    try:
        return _read(text)
    except (_Decline, IndexError):  # IndexError: a line shape not foreseen, so not handled
        return DECLINED


def _read(text: str) -> Any:
    # A frame is an open block collection: [indentation, the dict or list, is a mapping].
    stack: list[list[Any]] = []
    holder: list[Any] = [None]  # the root's slot
    # A slot waiting for its value (after `key:` or `-` with nothing else on the line):
    # (container, key or index, indentation of the key or dash, the container is a mapping).
    pending: tuple[Any, Any, int, bool] | None = (holder, 0, -1, False)
    nodes = 0
    line_match = _LINE.match
    plain: dict[str, Any] = {}  # plain scalars already resolved, by their text
    for line in text.split("\n"):
        if not line or line[-1] == " ":
            line = line.rstrip(" ")
            if not line:
                continue
        m: Any = line_match(line)  # matches every line
        indent, dash, key, rest = m.groups()
        col = len(indent)
        if not dash and not key and (not rest or rest[0] == "#"):
            continue  # a comment line
        # Where this line's node goes: a pending slot, or the open collection at its column.
        target: tuple[Any, Any] | None = None
        if pending is not None:
            container, slot, at, in_map = pending
            if col > at or (in_map and col == at and dash):
                target = (container, slot)
            else:
                container[slot] = None
            pending = None
        top: Any = None
        if target is None:
            top = stack[-1] if stack else None
            if top is None or top[0] != col or (top[2] and dash):
                while stack and (
                    stack[-1][0] > col or (stack[-1][0] == col and not dash and not stack[-1][2])
                ):
                    stack.pop()
                if not stack or stack[-1][0] != col:
                    raise _Decline
                top = stack[-1]
            elif not dash and not top[2]:
                stack.pop()
                if not stack or stack[-1][0] != col:
                    raise _Decline
                top = stack[-1]
        if dash:
            if target is None:
                if top[2]:
                    raise _Decline
                seq = top[1]
            else:
                seq = []
                target[0][target[1]] = seq
                stack.append([col, seq, False])
                if len(stack) > _DEPTH_LIMIT:
                    raise _Decline
            seq.append(None)
            nodes += 1
            target = (seq, len(seq) - 1)
            if not key:
                if not rest or rest[0] == "#":
                    pending = (seq, len(seq) - 1, col, False)
                    continue
                if rest[0] == "-" and (len(rest) == 1 or rest[1] == " "):
                    # compact nested sequences: the rest of the line, from its own column
                    pending = _nested(line, len(line) - len(rest), target, stack)
                    continue
                seq[-1] = _scalar(rest)
                continue
            col = m.start(3)
        elif not key:
            raise _Decline  # a bare scalar line: only as a sequence entry's value
        if key in _NOT_KEYS or len(key) > 256:
            raise _Decline
        if target is None:
            if not top[2]:
                raise _Decline
            mapping = top[1]
            if key in mapping:
                raise _Decline
        else:
            mapping = {}
            target[0][target[1]] = mapping
            stack.append([col, mapping, True])
            if len(stack) > _DEPTH_LIMIT:
                raise _Decline
        nodes += 1
        if nodes > _NODE_LIMIT:
            raise _Decline
        if not rest or rest[0] == "#":
            mapping[key] = None
            pending = (mapping, key, col, True)
        elif rest[0] == "'" and rest[-1] == "'" and len(rest) > 1 and "'" not in rest[1:-1]:
            mapping[key] = rest[1:-1]
        elif rest in plain:
            mapping[key] = plain[rest]
        else:
            value = mapping[key] = _scalar(rest)
            if rest[0] not in "'\"[{":  # a plain scalar: immutable, and often repeated
                plain[rest] = value
    if pending is not None:
        container, slot, _, _ = pending
        if container is holder:
            raise _Decline  # no node at all: an empty document
        container[slot] = None
    return holder[0]


def _nested(line: str, col: int, target: tuple[Any, Any], stack: list[list[Any]]) -> Any:
    """The rest of a line from a second dash on (``- - x``): sequences opened at their columns;
    the pending slot it leaves, if any."""
    while True:
        if line[col] == "-" and (len(line) == col + 1 or line[col + 1] == " "):
            seq: list[Any] = [None]
            target[0][target[1]] = seq
            stack.append([col, seq, False])
            if len(stack) > _DEPTH_LIMIT:
                raise _Decline
            rest = col + 1
            while rest < len(line) and line[rest] == " ":
                rest += 1
            if rest == len(line) or line[rest] == "#":
                return (seq, 0, col, False)
            target, col = (seq, 0), rest
            continue
        m = _KEY.match(line, col)
        if m is None:
            target[0][target[1]] = _scalar(line[col:])
            return None
        key = m.group(1)
        if key in _NOT_KEYS or len(key) > 256:
            raise _Decline
        mapping: dict[str, Any] = {}
        target[0][target[1]] = mapping
        stack.append([col, mapping, True])
        if len(stack) > _DEPTH_LIMIT:
            raise _Decline
        rest = m.end()
        if rest == len(line) or line[rest] == "#":
            mapping[key] = None
            return (mapping, key, col, True)
        mapping[key] = _scalar(line[rest:])
        return None
