"""Text items built ahead of validation (`_text_items`) are exactly what validation builds, and
anything they do not certainly cover is left to pydantic (same scenario, same errors)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from agentsim import InputError, load_scenario
from agentsim.scenario._schema import TextItem, parse_scenario
from agentsim.scenario._text_items import prebuild_text_items

ITEMS: list[Any] = [
    {"text": "hello "},
    {"text": ""},
    {"delay": 0.25, "text": "x"},
    {"text": "x", "delay": 0.0},
    {"delay": -0.0, "text": "x"},
    {"delay": 1, "text": "x"},  # an int delay: pydantic's (it becomes 1.0)
    {"delay": True, "text": "x"},
    {"delay": math.nan, "text": "x"},
    {"delay": math.inf, "text": "x"},
    {"delay": -1.0, "text": "x"},
    {"text": "x", "split": 2},
    {"text": "x", "extra": 1},
    {"text": 5},
    {"text": None},
    {"reasoning": "r"},
    {"text": "x", "reasoning": "r"},
    "text",
    None,
]


def _scenario(items: list[Any]) -> dict[str, Any]:
    return {"input": "hi", "requests": [{"chunks": [*items, {"finish": "stop"}]}]}


def _state(item: object) -> tuple[object, ...]:
    assert isinstance(item, TextItem)
    return (
        type(item),
        item.__dict__,
        list(item.__dict__),
        item.model_fields_set,
        item.__pydantic_extra__,
        item.__pydantic_private__,
        repr(item),
        item.model_dump(),
        hash(item),
    )


@pytest.mark.parametrize("item", ITEMS, ids=repr)
def test_a_prebuilt_item_is_what_validation_builds_or_is_left_alone(item: Any) -> None:
    data = _scenario([item])
    prebuilt = copy.deepcopy(data)
    prebuild_text_items(prebuilt, TextItem)
    entry = prebuilt["requests"][0]["chunks"][0]
    if isinstance(entry, TextItem):
        validated = TextItem.model_validate(item)
        assert _state(entry) == _state(validated)
        assert entry == validated
        assert parse_scenario(prebuilt) == parse_scenario(data)
    else:
        assert entry == item  # not certainly valid: pydantic decides, with its own messages


def test_the_shapes_a_converted_recording_has_are_prebuilt() -> None:
    data = _scenario([{"text": "a"}, {"delay": 0.5, "text": "b"}])
    prebuild_text_items(data, TextItem)
    assert all(isinstance(c, TextItem) for c in data["requests"][0]["chunks"][:2])


@pytest.mark.parametrize(
    "data", [None, [], {"requests": None}, {"requests": [None, {"chunks": 3}]}], ids=repr
)
def test_other_shapes_are_left_for_validation(data: Any) -> None:
    before = copy.deepcopy(data)
    prebuild_text_items(data, TextItem)
    assert data == before


def test_loading_gives_the_same_scenario_and_the_same_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "input: hi\nrequests:\n- chunks:\n  - text: 'a '\n  - delay: 0.5\n    text: b\n"
        "  - finish: stop\n"
    )
    expected = parse_scenario(_scenario([{"text": "a "}, {"delay": 0.5, "text": "b"}]))
    assert load_scenario(good) == expected
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "input: hi\nrequests:\n- chunks:\n  - text: 'a '\n  - delay: -1.0\n    text: b\n"
        "  - finish: stop\n"
    )
    with pytest.raises(InputError) as caught:
        load_scenario(bad)
    assert caught.value.line == 5
    assert "greater than or equal to 0" in str(caught.value)
