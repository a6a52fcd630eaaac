"""What the timeline tests share: the pages they look at, built from bundled scenarios."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
CANCEL = SCENARIOS / "cancel_while_tool_runs.yaml"


def payloads(page: str) -> dict[str, Any]:
    """The page's payload block, parsed as the page's script parses it."""
    match = re.search(r'<script type="application/json" id="payloads">(.*?)</script>', page, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data
