"""The invariant library (DESIGN §4) in one place: the trace checks (EV1-EV10, H1-H4, O1-O3,
SR1-SR2), the metamorphic relations M1-M3 with the scenario transformations they compare, and the
cancellation sweep. Everything here is also importable from its private module; the trace
checks are re-exported from `agentsim` too.
"""

from agentsim.check._invariants import INVARIANTS, Trace, Violation, assert_invariants, check_trace
from agentsim.harness._metamorphic import (
    METAMORPHIC,
    check_determinism,
    check_fragmentation,
    check_stretch,
    explode,
    metamorphic_blockers,
    rechunk,
    stretch,
)
from agentsim.harness._sweep import cancel_points, sweep, with_point

__all__ = [
    "INVARIANTS",
    "METAMORPHIC",
    "Trace",
    "Violation",
    "assert_invariants",
    "cancel_points",
    "check_determinism",
    "check_fragmentation",
    "check_stretch",
    "check_trace",
    "explode",
    "metamorphic_blockers",
    "rechunk",
    "stretch",
    "sweep",
    "with_point",
]
