"""The guides' examples run: every ```python block of a guide executes (blocks of one file share a
namespace, in order), every ```yaml block that is a whole scenario passes, and the README's
pytest walk-through - the blocks whose fence names a file (```python file=test_agent.py) -
passes as the project it describes: written out with the example loop next to it and run by an
inner pytest session (pytester), plugin and all."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from agentsim import parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

pytest_plugins = ["pytester"]


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


def test_the_readme_pytest_walkthrough_passes(pytester: pytest.Pytester) -> None:
    files = FILE_BLOCK.findall((ROOT / "README.md").read_text())
    assert {name for name, _ in files} >= {"pyproject.toml", "test_agent.py"}
    for name, body in files:
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    shutil.copy(ROOT / "examples" / "agent" / "support_agent.py", pytester.path)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["agentsim: loop under test support_agent:SupportAgentLoop*"])
