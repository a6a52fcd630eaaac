"""Hypothesis strategies for provider streams, faults, timing, cancellation and whole scenarios.

A public module of its own (like `hypothesis.strategies`), not re-exported from `agentsim`,
because it needs hypothesis, which agentsim itself does not. See `agentsim.fuzz._strategies` for
the design and docs/fuzzing.md for a guide.
"""

from agentsim.fuzz._strategies import (
    ARGUMENT_TEXTS,
    TEXT_PIECES,
    TOOL_NAMES,
    Fault,
    apply_fault,
    build_stream,
    cancellation_point,
    cancellation_points,
    chunk_streams,
    faults,
    scenario_models,
    scenarios,
    stream_items,
    timings,
)

__all__ = [
    "ARGUMENT_TEXTS",
    "TEXT_PIECES",
    "TOOL_NAMES",
    "Fault",
    "apply_fault",
    "build_stream",
    "cancellation_point",
    "cancellation_points",
    "chunk_streams",
    "faults",
    "scenario_models",
    "scenarios",
    "stream_items",
    "timings",
]
