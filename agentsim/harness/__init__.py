"""harness: running a loop under a scenario and judging the run.

`_run` runs a scenario through a loop on a virtual event loop (fresh, or a clean one reused for
the reference loop), plays its cancellation or consumer drop, and returns a `RunResult`
(`_result`) with the invariants, the script's verdict and the expectation checked. `_guard`
bounds a run in wall-clock time and events. `_metamorphic` (M1-M3) and `_sweep` (cancellation
at every point) run a loop several times and compare the runs. `_recording` notes what happened
around the loop (provider requests and chunks, tool runs, the cancel request, all timed) for the
timeline. Public through `agentsim` and `agentsim.invariants`.

May import: core, loop, check, scenario, wire, sse. Must not import: cassettes, serving, adapters,
fuzzing, pytest or the CLI.
"""
