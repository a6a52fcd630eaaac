"""The pydantic-ai findings in docs/frameworks.md replay: each reproducer under
examples/frameworks/reproducers/ fails with exactly the invariants the page lists for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsim.fuzz._properties import run_with_loop

ROOT = Path(__file__).resolve().parents[2]
REPRODUCERS = ROOT / "examples" / "frameworks" / "reproducers"
SPEC = "examples.frameworks.pydantic_ai_spec"
FINDINGS = {
    "pydantic_ai_invalid_json_arguments_rewritten.yaml": ("loop", {"H3"}),
    "pydantic_ai_part_end_before_the_last_delta.yaml": ("loop", {"EV5", "H3"}),
    "pydantic_ai_agui_relays_malformed_arguments.yaml": ("agui", {"H3", "S2.agui.args-not-json"}),
    "pydantic_ai_truncated_stream_accepted.yaml": ("loop", {"EV10"}),
}


def test_every_pydantic_ai_reproducer_is_listed() -> None:
    assert {p.name for p in REPRODUCERS.glob("pydantic_ai_*.yaml")} == set(FINDINGS)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_each_finding_replays(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    loop, expected = FINDINGS[name]
    result = run_with_loop(REPRODUCERS / name, loop=f"{SPEC}:{loop}")
    assert {v.invariant for v in result.violations} == expected, result.report()
    text = (ROOT / "docs" / "frameworks.md").read_text(encoding="utf-8")
    assert name in text
