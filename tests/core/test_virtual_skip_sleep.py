"""`VirtualEventLoop.skip_sleep`: a scripted delay moves the clock without loop turns only when
nothing could have happened meanwhile, and every run does exactly what it did with the turns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentsim import load_scenario, run_scenario
from agentsim.core._virtual_loop import VirtualEventLoop

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(
    [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("examples/*/scenarios/*.yaml")],
    key=lambda p: p.name,
)


def run_on(coroutine_function: object) -> object:
    loop = VirtualEventLoop()
    try:
        return loop.run_until_complete(coroutine_function())  # type: ignore[operator]
    finally:
        loop.close()


def test_a_lone_sleep_is_skipped_to_the_same_instant() -> None:
    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        skipped = loop.skip_sleep(0.3)
        return skipped, loop.time()

    assert run_on(main) == (True, 0.3)


def test_it_declines_when_something_could_happen_meanwhile() -> None:
    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        out = []
        handle = loop.call_later(0.2, lambda: None)  # a timer due before the sleep ends
        out.append(loop.skip_sleep(0.3))
        handle.cancel()  # a cancelled timer is no obstacle
        out.append(loop.skip_sleep(0.3))
        loop.call_soon(lambda: None)  # something ready
        out.append(loop.skip_sleep(0.3))
        await asyncio.sleep(0)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # a cancellation pending: the sleep must raise it
        out.append(loop.skip_sleep(0.3))
        try:
            await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            task.uncancel()
        out.append(loop.skip_sleep(0.0))  # no time to skip
        return out

    assert run_on(main) == [False, True, False, False, False]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_runs_are_the_same_with_the_turns(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(path)
    fast = run_scenario(scenario)
    monkeypatch.setattr(VirtualEventLoop, "skip_sleep", lambda self, delay: False)
    slow = run_scenario(scenario)
    assert fast.report() == slow.report()
    assert fast.events == slow.events
    assert fast.recording == slow.recording
    assert fast.streams == slow.streams
