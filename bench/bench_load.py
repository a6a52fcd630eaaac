"""Loading a scenario converted from a long recording: chunk items per second for load + run,
and the load time as a ratio to `yaml.safe_load` of the same file (the ratio is what to compare
across machines).

The scenario is what `agentsim convert` writes for a long streamed answer: one request holding
N text chunks, each with a small recorded delay. Load is `load_scenario` (bounded YAML with
positions only when validation fails, see agentsim/scenario/_fast_yaml.py); run is the
reference loop on it.

    python bench/bench_load.py [--items N] [--runs R] [--against CHECKOUT]

``--against`` measures another checkout of agentsim (a folder holding its ``agentsim``
package, such as ``git worktree add /tmp/filed ce4143e``, the tree issue #13 was filed on)
beside this one, round by round in fresh processes, and prints this tree's speed as a ratio to
it. The goal of issue #13 is an absolute rate measured on another day's machine, and this VM's
speed moves by 2x between days, so that ratio is the figure to compare with the goal's own:
the issue measured 20,000 items in 1.8 s on the filed tree (11,111 items/s), so 100,000 items/s
is 9.0 times the filed tree's rate on the same machine.

Times are CPU seconds of the measuring process (on a shared machine, wall time mostly measures
the other processes). Each load + run starts from a collected heap; the time Python's cyclic
garbage collector took inside it is printed too (a full collection walks every object of the
process, and the objects a long run keeps are what sets one off).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

import yaml
from _against import checkout, measure_in

GOAL_RATE = 100_000  # chunk items/s for load + run (issue #13 part 8)
FILED_RATE = 20_000 / 1.8  # what the issue measured on the tree it was filed on
ROOT = Path(__file__).resolve().parents[1]


def scenario_text(items: int) -> str:
    from agentsim.cassettes._convert import scenario_yaml  # this tree's, not --against's

    chunks: list[dict[str, object]] = [
        {"delay": 0.001, "text": f"word{i} "} if i % 3 == 0 else {"text": f"word{i} "}
        for i in range(items)
    ]
    chunks.append({"finish": "stop"})
    data = {
        "description": "Converted from a long recording.",
        "input": "Tell me a long story.",
        "requests": [{"chunks": chunks}],
    }
    return scenario_yaml(data)


def measure(path: Path, runs: int) -> dict[str, list[float]]:
    """CPU seconds of each run: yaml.safe_load, load_scenario, load + run, and the garbage
    collector's part of load + run. Only the public API, so that any checkout can run it."""
    from agentsim import load_scenario, run_scenario

    text = path.read_text()
    times: dict[str, list[float]] = {"safe_load": [], "load": [], "total": [], "gc": []}
    collected = [0.0, 0.0]  # CPU seconds in the garbage collector; when the last one began

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        now = time.process_time()
        if phase == "start":
            collected[1] = now
        else:
            collected[0] += now - collected[1]

    for _ in range(runs):
        start = time.process_time()
        yaml.safe_load(text)
        times["safe_load"].append(time.process_time() - start)
        gc.collect()  # not the garbage of safe_load's nodes: its loader is cyclic
        collected[0] = 0.0
        gc.callbacks.append(on_gc)
        start = time.process_time()
        scenario = load_scenario(path)
        loaded = time.process_time()
        result = run_scenario(scenario)
        done = time.process_time()
        gc.callbacks.remove(on_gc)
        assert result.passed, result.report()
        times["load"].append(loaded - start)
        times["total"].append(done - start)
        times["gc"].append(collected[0])
    return times


def report(items: int, size: int, times: dict[str, list[float]]) -> float:
    """Print the figures of `times`; return the best load + run time."""
    baseline, load, total = min(times["safe_load"]), min(times["load"]), min(times["total"])
    print(f"{items} chunk items, {size / 1e6:.2f} MB of YAML")
    print(f"yaml.safe_load (pure Python)  {baseline * 1e3:8.1f} ms")
    ratio = load / baseline
    print(f"load_scenario                 {load * 1e3:8.1f} ms  ({ratio:.2f}x yaml.safe_load)")
    print(
        f"load + run                    {total * 1e3:8.1f} ms  {items / total:,.0f} chunk items/s "
        f"(goal {GOAL_RATE:,}; {total / baseline:.3f}x yaml.safe_load)"
    )
    print(f"  of which garbage collection {times['gc'][times['total'].index(total)] * 1e3:8.1f} ms")
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--against", type=checkout, help="another checkout to measure beside this one"
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child of --against
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, 1)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.yaml"
        path.write_text(scenario_text(args.items))
        size = len(path.read_text())
        if args.against is None:
            report(args.items, size, measure(path, args.runs))
            return
        ours: dict[str, list[float]] = {}
        theirs: dict[str, list[float]] = {}
        for _ in range(args.runs):  # interleaved, so that both see the same load
            for tree, into in ((ROOT, ours), (args.against, theirs)):
                times: dict[str, list[float]] = measure_in(tree, __file__, str(path))
                for key, values in times.items():
                    into.setdefault(key, []).extend(values)
        print(f"== this checkout ({ROOT})")
        mine = report(args.items, size, ours)
        print(f"== --against {args.against}")
        other = report(args.items, size, theirs)
        rounds = zip(ours["total"], theirs["total"], strict=True)
        print(
            f"load + run: this checkout is {other / mine:.2f}x as fast as --against "
            f"(rounds: {', '.join(f'{o / m:.2f}' for m, o in rounds)}); "
            f"the goal is {GOAL_RATE / FILED_RATE:.1f}x the tree issue #13 was filed on"
        )


if __name__ == "__main__":
    main()
