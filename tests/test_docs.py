"""The guides' examples run: every ```python block of a guide executes (blocks of one file share a
namespace, in order), and every ```yaml block that is a whole scenario passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from agentsim import parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(path.read_text()) if lang == language]


@pytest.mark.parametrize("path", GUIDES, ids=[p.name for p in GUIDES])
def test_python_examples_run(path: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for source in blocks(path, "python"):
        exec(compile(source, str(path), "exec"), namespace)


@pytest.mark.parametrize("path", GUIDES, ids=[p.name for p in GUIDES])
def test_scenario_examples_pass(path: Path) -> None:
    for source in blocks(path, "yaml"):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError:
            continue  # a fragment showing alternatives, not a scenario
        if isinstance(data, dict) and "requests" in data and "input" in data:
            result = run_scenario(parse_scenario(data, file=path.name))
            assert result.passed, result.report()


def test_the_guides_have_examples() -> None:
    assert blocks(ROOT / "docs" / "loop-protocol.md", "python")
    assert blocks(ROOT / "docs" / "scenarios.md", "yaml")
