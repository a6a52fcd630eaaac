"""YAML with positions: load a document with the safe loader and remember where every value was.

Validation errors from pydantic come with a field path (``requests[0].chunks[3].delay``); this
module maps such a path back to a line and column of the file, so that bad input is reported as
``file:line:column: path: what was expected``. Only YAML's safe constructors are used (no tags
that build Python objects). Duplicate keys, which plain PyYAML silently collapses, are an error.

Bounded (scenarios and cassettes alike): a document is composed into nodes by libyaml's C
parser when it is there (it keeps every node's position and is ~10x faster than PyYAML's
pure-Python composer), and the node graph is checked before anything is built: at most
`MAX_BYTES` of text, `MAX_DEPTH` levels of nesting and `MAX_NODES` nodes once aliases are
expanded (a 365-byte "billion laughs" alias bomb expands to billions). The check walks the graph
without recursion and counts each shared node once per use by memo, so it takes time linear in
the text; a document over a limit is an `InputError` naming where, never a `MemoryError` or
`RecursionError` traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from agentsim.core._errors import InputError
from agentsim.scenario._fast_yaml import DECLINED, fast_load

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "PositionedYAML",
    "compose_bounded",
    "format_path",
    "load_positioned_yaml",
    "load_yaml",
]

Path = tuple[str | int, ...]

MAX_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 5_000_000
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


def format_path(path: Sequence[str | int]) -> str:
    """``("requests", 0, "delay")`` -> ``requests[0].delay``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class PositionedYAML:
    """A loaded document plus the (line, column) of each value, both 1-based, by path."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]], file: str) -> None:
        self.data = data
        self.positions = positions
        self.file = file

    def position(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """Where `path` is, or where its nearest existing ancestor is."""
        key = tuple(path)
        while key:
            found = self.positions.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.positions.get(())

    def error(self, path: Sequence[str | int], message: str) -> InputError:
        where = self.position(path)
        return InputError(
            message,
            file=self.file,
            line=where[0] if where else None,
            column=where[1] if where else None,
            path=format_path(path) or None,
        )


_PLAIN_TAGS = frozenset(
    {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
)


# What PyYAML's safe constructors raise for a scalar their tag does not fit (`!!int x`,
# `!!bool x`, `!!timestamp x`), instead of a ConstructorError.
_CONSTRUCTOR_ERRORS = (ValueError, TypeError, LookupError, AttributeError)


def _bad_value(node: yaml.Node) -> str:
    return f"invalid YAML value {node.value!r} for the tag {node.tag!r}"


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path, tuple[int, int]] = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path, mark: yaml.Mark | None = None) -> Any:
        start = mark or node.start_mark
        self.positions[path] = (start.line + 1, start.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise self._fail(node, f"unsupported YAML tag {node.tag!r}; expected plain data")
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # merge keys (<<)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                try:
                    key = self._constructor.construct_object(key_node, deep=True)
                except _CONSTRUCTOR_ERRORS:
                    raise self._fail(key_node, _bad_value(key_node)) from None
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise self._fail(key_node, "expected a plain key (a string)")
                if key in out:
                    raise self._fail(key_node, f"duplicate key {key!r}")
                out[key] = self.build(value_node, (*path, str(key)), key_node.start_mark)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag == _STR:
            return node.value  # what the safe constructor makes of a string, without its calls
        try:
            return self._constructor.construct_object(node, deep=True)
        except _CONSTRUCTOR_ERRORS:
            raise self._fail(node, _bad_value(node)) from None

    def _fail(self, node: yaml.Node, message: str) -> InputError:
        mark = node.start_mark
        return InputError(message, file=self.file, line=mark.line + 1, column=mark.column + 1)


def _syntax_error(exc: yaml.YAMLError, file: str) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        return InputError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
    return InputError(f"invalid YAML: {exc}", file=file)


def _check_bounds(root: yaml.Node, file: str) -> None:
    """Height and expanded size of the node graph, without recursion; `InputError` over a limit.

    Both are measured once per distinct node (memo by identity), so aliases cost nothing to
    check however often they are used, while their expansion is what gets counted.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (height, expanded size)
    scalar = yaml.ScalarNode
    if isinstance(root, scalar):
        return
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if not done:
            if id(node) in measured:
                continue  # an alias of a node already measured (or being measured: a cycle)
            measured[id(node)] = (0, 0)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if c.__class__ is not scalar)
            continue
        height, size = 1, 1
        for child in _children(node):
            if child.__class__ is scalar:
                size += 1
                height = max(height, 2)
            else:
                h, n = measured[id(child)]
                size += n
                if h >= height:
                    height = h + 1
        if size > MAX_NODES:
            mark = node.start_mark
            raise InputError(
                f"the document expands to more than {MAX_NODES:,} values (aliases of aliases?); "
                "expected plain data",
                file=file,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        measured[id(node)] = (height, size)
    if measured[id(root)][0] > MAX_DEPTH:
        node = root
        for _ in range(MAX_DEPTH):  # down the deepest branch to the first level too many
            node = max(_children(node), key=lambda child: measured.get(id(child), (1, 1))[0])
        mark = node.start_mark
        raise InputError(
            f"nesting deeper than {MAX_DEPTH} levels; expected a shallower document",
            file=file,
            line=mark.line + 1,
            column=mark.column + 1,
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def compose_bounded(text: str, *, file: str) -> yaml.Node | None:
    """The node graph of one YAML document, checked against the limits (see the module)."""
    if len(text) > MAX_BYTES:
        raise InputError(
            f"larger than {MAX_BYTES // 2**20} MiB; expected a smaller file", file=file
        )
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file) from None
    except RecursionError:
        raise InputError(f"nesting deeper than {MAX_DEPTH} levels", file=file) from None
    if node is not None:
        _check_bounds(node, file)
    return node


def load_yaml(text: str, *, file: str) -> Any:
    """Plain data from one YAML document with the safe constructors, bounded (no positions)."""
    data = fast_load(text)  # plain block YAML, exactly as below, without composing nodes
    if data is not DECLINED:
        return data
    node = compose_bounded(text, file=file)
    if node is None:
        return None
    constructor = _LOADER("")
    try:
        return constructor.construct_document(node)
    except (yaml.YAMLError, *_CONSTRUCTOR_ERRORS) as exc:
        load_positioned_yaml(text, file=file)  # the positioned builder's own, precise message
        if not isinstance(exc, yaml.YAMLError):
            raise InputError(f"invalid YAML value: {exc}", file=file) from None
        raise _syntax_error(exc, file) from None


def load_positioned_yaml(text: str, *, file: str) -> PositionedYAML:
    """Parse one YAML document; raises `InputError` with the position of a syntax error."""
    node = compose_bounded(text, file=file)
    if node is None:
        return PositionedYAML(None, {(): (1, 1)}, file)
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InputError(
            f"invalid YAML value: {exc.problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    return PositionedYAML(data, builder.positions, file)
