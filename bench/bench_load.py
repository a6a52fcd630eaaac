"""Loading a scenario converted from a long recording: chunk items per second for load + run,
and the load time as a ratio to `yaml.safe_load` of the same file (the ratio is what to compare
across machines).

The scenario is what `agentsim convert` writes for a long streamed answer: one request holding
N text chunks, each with a small recorded delay. Load is `load_scenario` (bounded YAML with
positions only when validation fails, see agentsim/scenario/_fast_yaml.py); run is the
reference loop on it.

    python bench/bench_load.py [--items N]

Times are CPU seconds of this process (on a shared machine, wall time mostly measures the
other processes). Each load + run starts from a collected heap; the time Python's cyclic garbage
collector took inside it is printed too (a full collection walks every object of the process,
and the objects a long run keeps are what sets one off).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import yaml

from agentsim import run_scenario
from agentsim.cassettes._convert import scenario_yaml
from agentsim.scenario._schema import load_scenario


def scenario_text(items: int) -> str:
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


def best(seconds: list[float]) -> float:
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.yaml"
        path.write_text(scenario_text(args.items))
        text = path.read_text()
        baseline, loads, totals, collecting = [], [], [], []
        collected = [0.0, 0.0]  # CPU seconds in the garbage collector; when the last one began

        def on_gc(phase: str, _info: dict[str, int]) -> None:
            now = time.process_time()
            if phase == "start":
                collected[1] = now
            else:
                collected[0] += now - collected[1]

        for _ in range(args.runs):
            start = time.process_time()
            yaml.safe_load(text)
            baseline.append(time.process_time() - start)
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
            loads.append(loaded - start)
            totals.append(done - start)
            collecting.append(collected[0])
    print(f"{args.items} chunk items, {len(text) / 1e6:.2f} MB of YAML")
    print(f"yaml.safe_load (pure Python)  {best(baseline) * 1e3:8.1f} ms")
    print(
        f"load_scenario                 {best(loads) * 1e3:8.1f} ms  "
        f"({best(loads) / best(baseline):.2f}x yaml.safe_load)"
    )
    rate = args.items / best(totals)
    print(
        f"load + run                    {best(totals) * 1e3:8.1f} ms  {rate:,.0f} chunk items/s "
        f"(goal 100,000; {best(totals) / best(baseline):.3f}x yaml.safe_load)"
    )
    fastest = totals.index(best(totals))
    print(f"  of which garbage collection {collecting[fastest] * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
