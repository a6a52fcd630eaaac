"""SSE snapshots: every bundled scenario in every dialect, pinned byte for byte in `.sse` files.

Refresh after an intended change with
``pytest tests/sse/test_dialect_snapshots.py --snapshot-update``
and review the diff of ``tests/sse/__snapshots__/test_dialect_snapshots/``.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from agentsim import RunResult, run_scenario
from agentsim.pytest._snapshot import SSESnapshotExtension
from agentsim.sse._dialects import DIALECT_NAMES, encode_dialect
from agentsim.sse._normalize import normalize_sse

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__" / "test_dialect_snapshots"


@functools.cache
def _run(path: Path) -> RunResult:
    return run_scenario(path)


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_transcript(path: Path, dialect: str, sse_snapshot: SnapshotAssertion) -> None:
    assert encode_dialect(_run(path).events, dialect) == sse_snapshot


def test_snapshot_files_hold_the_exact_bytes() -> None:
    path = SCENARIOS[0]
    for dialect in DIALECT_NAMES:
        stored = (SNAPSHOTS / f"test_transcript[{path.stem}-{dialect}].sse").read_bytes()
        assert stored == encode_dialect(_run(path).events, dialect)


def test_events_are_snapshotted_as_native(sse_snapshot: SnapshotAssertion) -> None:
    events = _run(SCENARIOS[0]).events
    assert SSESnapshotExtension().serialize(events) == encode_dialect(events, "native")
    assert SSESnapshotExtension().serialize("data: é\n\n") == "data: é\n\n".encode()
    with pytest.raises(TypeError, match="bytes, str or agent events"):
        SSESnapshotExtension().serialize(42)


def test_a_failed_comparison_diffs_text_not_bytes_reprs() -> None:
    diff = SSESnapshotExtension().diff_snapshots(b"data: 1\n\ndata: 2\n\n", b"data: 1\n\n")
    assert isinstance(diff, str)
    assert "+ data: 2" in diff
    assert "b'" not in diff


def _random_loop_output() -> bytes:
    """A user's loop: fresh UUIDs and wall-clock stamps on every run."""
    run, message = uuid.uuid4(), uuid.uuid4()
    return (
        f'data: {{"type":"RUN_STARTED","timestamp":{uuid.uuid4().int % 10**13},'
        f'"threadId":"{run}","runId":"{run}"}}\n\n'
        f'data: {{"type":"TEXT_MESSAGE_START","messageId":"{message}","role":"assistant"}}\n\n'
        f'data: {{"type":"TEXT_MESSAGE_CONTENT","messageId":"{message}","delta":"run {run}"}}\n\n'
        f'data: {{"type":"TEXT_MESSAGE_END","messageId":"{message}"}}\n\n'
        f'data: {{"type": "RUN_FINISHED", "threadId": "{run}", "runId": "{run}"}}\n\n'
    ).encode()


def test_normalized_snapshot_of_a_nondeterministic_loop(
    normalized_sse_snapshot: SnapshotAssertion,
) -> None:
    first, second = _random_loop_output(), _random_loop_output()
    assert first != second
    assert normalize_sse(first) == normalize_sse(second)
    assert second == normalized_sse_snapshot


def test_normalize_keeps_everything_but_ids_and_times() -> None:
    data = (
        b'id: 7\ndata: {"type":"x","toolCallId":"call_9f","t":12.5,"created_at":"2024-05-01",'
        b'"text":"keep \\"id\\": \\"me\\"","ids":["call_9f"]}\n\n'
        b'data: {"tool_call_id": "call_9f", "id": "z"}\n\n'
    )
    assert normalize_sse(data) == (
        b'id: 7\ndata: {"type":"x","toolCallId":"<id-1>","t":"<t>","created_at":"<t>",'
        b'"text":"keep \\"id\\": \\"me\\"","ids":["<id-1>"]}\n\n'
        b'data: {"tool_call_id": "<id-1>", "id": "<id-2>"}\n\n'
    )
    assert normalize_sse(data, id_keys="(?!)", time_keys="(?!)") == data
    assert normalize_sse(b"\xff\xfe not utf-8") == b"\xff\xfe not utf-8"
