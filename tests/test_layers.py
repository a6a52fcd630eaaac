"""The architecture as a test: one package per layer, lower layers never import higher ones, no
import circle anywhere, and the public faces stay on top (docs/architecture.md draws it)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "agentsim"

# Lowest first: a module may import its own layer and the layers before it, never one after.
LAYERS = (
    "core",
    "loop",
    "check",
    "scenario",
    "wire",
    "sse",
    "harness",
    "report",
    "cassettes",
    "serve",
    "adapters",
    "frameworks",
    "fuzz",
    "pytest",
    "cli",
)
# The public faces: modules on top of every layer, which no layer imports.
FACES = (
    "agentsim",
    "agentsim.invariants",
    "agentsim.fuzzing",
    "agentsim.strategies",
    "agentsim.testing",
    "agentsim.__main__",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, at run time?) for every agentsim import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str, bool]] = []
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        runtime = id(node) not in typing_only
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute agentsim imports"
            if node.module and (node.module == "agentsim" or node.module.startswith("agentsim.")):
                found.append((node.lineno, node.module, runtime))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("agentsim"):
                    found.append((node.lineno, alias.name, runtime))
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_belongs_to_a_layer_or_is_a_face() -> None:
    stray = [m for m in MODULES if _layer(m) is None and m not in FACES]
    assert stray == [], f"modules outside the layer packages: {stray}"
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").exists(), layer


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) is not None))
def test_no_upward_import(module: str) -> None:
    own = LAYERS.index(_layer(module) or "")
    for line, target, _runtime in _imports(MODULES[module]):
        assert target not in FACES, (
            f"{MODULES[module]}:{line}: a layer imports the public face {target}; "
            "import from the layer that defines the name"
        )
        layer = _layer(target)
        assert layer is not None, f"{MODULES[module]}:{line}: import of {target}"
        assert LAYERS.index(layer) <= own, (
            f"{MODULES[module]}:{line}: {_layer(module)} imports {target}, a higher layer "
            f"({' < '.join(LAYERS)})"
        )


def test_no_import_circle() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges = set()
        for _line, target, runtime in _imports(path):
            if not runtime:
                continue
            # `from agentsim.x import name` may name a submodule or an attribute: the module it is
            # read from is what runs first.
            edges.add(target)
        graph[module] = edges
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt in graph and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            visit(module)


LAYER_FACES = (
    "agentsim.wire",
    "agentsim.sse",
    "agentsim.cassettes",
    "agentsim.serve",
    "agentsim.adapters",
    "agentsim.frameworks",
    "agentsim.report",
)


@pytest.mark.parametrize("face", ["agentsim", *LAYER_FACES, "agentsim.invariants"])
def test_a_face_lists_only_public_names_it_defines(face: str) -> None:
    module = importlib.import_module(face)
    names = list(module.__all__)
    assert names == sorted(set(names), key=names.index)
    assert all(not n.startswith("_") for n in names)
    assert all(hasattr(module, n) for n in names)


def test_names_that_moved_to_a_layer_still_import_from_the_top_level() -> None:
    import agentsim

    moved = agentsim._FROM_LAYERS
    assert set(moved) & set(agentsim.__all__) == set()
    for name, face in moved.items():
        assert face in LAYER_FACES
        assert getattr(agentsim, name) is getattr(importlib.import_module(face), name)
        assert name in importlib.import_module(face).__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        agentsim.nothing_here  # noqa: B018


def test_the_self_check_refuses_a_face_that_lists_a_missing_name() -> None:
    from agentsim.core._exports import check_exports

    with pytest.raises(ImportError, match=r"missing \['gone'\]"):
        check_exports("x", {"here": 1}, ["here", "gone"])
    with pytest.raises(ImportError, match=r"listed twice \['here'\]"):
        check_exports("x", {"here": 1}, ["here", "here"])


def test_the_architecture_page_describes_the_tree_as_it_is() -> None:
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for layer in LAYERS:
        assert f"{layer}/" in page, f"docs/architecture.md does not mention the layer {layer}/"
    layers = "|".join(LAYERS)
    named = set(re.findall(rf"`(?:agentsim/)?((?:{layers})/_\w+\.py)`", page))
    assert named, "the page names no module"
    missing = sorted(p for p in named if not (PACKAGE / p).exists() and "<" not in p)
    assert missing == [], f"docs/architecture.md names modules that do not exist: {missing}"
