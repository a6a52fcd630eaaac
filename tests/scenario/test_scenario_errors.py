"""Bad scenario input: one `InputError` naming the file, the line and column, the field and what
was expected. Never a traceback from deep inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsim import InputError, LoopOptions, load_scenario

VALID_HEAD = "input: hi\ntools:\n  get_weather: {result: sunny}\n"

CASES = {
    "malformed-yaml": ("input: hi\nrequests: [\n", "3:1", None, "invalid YAML"),
    "tab-indented": ("input: hi\n\trequests: []\n", "2:1", None, "invalid YAML"),
    "unknown-top-level-key": (
        "input: hi\nrequests: []\nexpct: {outcome: completed}\n",
        "3:1",
        "expct",
        "unknown key",
    ),
    "missing-requests": ("input: hi\n", "1:1", "requests", "required key is missing"),
    "wrong-type": (
        "input: hi\noptions: {max_steps: many}\nrequests: []\n",
        "2:11",
        "options.max_steps",
        "valid integer",
    ),
    "negative-delay": (
        "input: hi\nrequests:\n  - chunks:\n      - {text: a, delay: -1}\n",
        "4:19",
        "requests[0].chunks[0].delay",
        "greater than or equal to 0",
    ),
    "two-chunk-kinds-in-one-item": (
        "input: hi\nrequests:\n  - chunks:\n      - {text: a, finish: stop}\n",
        "4:9",
        "requests[0].chunks[0]",
        "exactly one of",
    ),
    "misspelled-chunk-field": (
        VALID_HEAD + "requests:\n  - chunks:\n      - tool_call: {name: get_weather, args: {}}\n",
        "6:40",
        "requests[0].chunks[0].tool_call.args",
        "unknown key",
    ),
    "undefined-tool": (
        VALID_HEAD + "requests:\n  - chunks:\n      - tool_call: {name: get_wether}\n",
        "6:21",
        "requests[0].chunks[0].tool_call.name",
        "tool 'get_wether' is not defined",
    ),
    "bad-finish-reason": (
        "input: hi\nrequests:\n  - chunks:\n      - finish: done\n",
        "4:9",
        "requests[0].chunks[0].finish",
        "'stop', 'length'",
    ),
    "stall-not-last": (
        "input: hi\nrequests:\n  - chunks:\n      - stall: true\n      - finish: stop\n",
        "3:5",
        "requests[0]",
        "must come last",
    ),
    "duplicate-key": ("input: hi\ninput: again\nrequests: []\n", "2:1", None, "duplicate key"),
    "expect-kind-without-failure": (
        "input: hi\nrequests: []\nexpect: {outcome: completed, kind: timeout}\n",
        "3:1",
        "expect",
        "only for outcome: failed",
    ),
    "not-a-mapping": ("- just\n- a list\n", "1", None, "expected a mapping"),
    "python-tag": ("input: !!python/object:os.system {}\nrequests: []\n", "1:8", None, "YAML tag"),
    "python-scalar-tag": ("input: !!python/name:os.system ''\nrequests: []\n", "1:8", None, "YAML"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_scenario_is_one_clear_error(case: str, tmp_path: Path) -> None:
    text, position, path, expected = CASES[case]
    file = tmp_path / f"{case}.yaml"
    file.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(file)
    message = str(info.value)
    assert message.startswith(f"{file}:{position}"), message
    if path is not None:
        assert info.value.path == path, message
    assert expected in message, message


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_scenario(tmp_path / "absent.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"input: \xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_scenario(binary)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_steps": -1}, "options.max_steps"),
        ({"deadline": float("nan")}, "options.deadline"),
        ({"idle_timeout": 0}, "options.idle_timeout"),
        ({"backoff_factor": 0.5}, "options.backoff_factor"),
        ({"max_tool_calls": True}, "options.max_tool_calls"),
    ],
)
def test_loop_options_validate_eagerly(options: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        LoopOptions(**options)  # type: ignore[arg-type]
    assert info.value.path == field
