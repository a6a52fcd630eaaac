"""Invariant checks over a run's trace (DESIGN §4): EV1-EV10 on the events, H1-H4 on the history,
O1-O3 on structured output, SR1-SR2 on sub-runs.

Each check is a function `(trace) -> list[Violation]` registered under its stable id; a violation
names the invariant, the event (or message) index and what was expected versus seen. The checks
only read the trace, so they apply to any loop: the reference loop, a user's loop run through the
loop protocol, or events decoded from an SSE transcript (then without a history, and H* skip).
The checks live by concept in `_event_rules` (EV1-EV7), `_bounds` (EV8-EV10), `_history_rules`
(H1-H4) and `_sub_runs` (SR1-SR2, nested runs); importing them here registers them in id order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from agentsim.check import _bounds, _event_rules, _history_rules, _output_rules, _sub_runs
from agentsim.check._trace import INVARIANTS, StreamLog, Trace, Violation, judged, judging
from agentsim.core._events import event_to_dict
from agentsim.loop._features import parse_features

__all__ = [
    "INVARIANTS",
    "StreamLog",
    "Trace",
    "Violation",
    "assert_invariants",
    "check_trace",
]

_REGISTERED = (
    _event_rules,
    _bounds,
    _history_rules,
    _output_rules,
    _sub_runs,
)  # imported for their registrations


def _id_order(name: str) -> tuple[str, int]:
    prefix = name.rstrip("0123456789")
    return (prefix != "EV", prefix), int(name[len(prefix) :])  # type: ignore[return-value]


# Id order (EV1..EV10, H1..H4, SR1..SR2) whatever order the modules registered in.
_ordered = {name: INVARIANTS[name] for name in sorted(INVARIANTS, key=_id_order)}
INVARIANTS.clear()
INVARIANTS.update(_ordered)


def check_trace(
    trace: Trace,
    *,
    only: Sequence[str] | None = None,
    features: Iterable[str] | None = None,
) -> list[Violation]:
    """Every violation of the catalogue (or of the invariants named in `only`), in id order.

    `features` (names from `agentsim.loop._features`) replaces the trace's own: the loop is
    judged only on the semantics it declares, and in full on each one it declares.
    """
    if features is not None:
        trace = dataclasses.replace(trace, features=parse_features(features))
    out: list[Violation] = []
    previous, _ = judging(trace)
    try:
        for name, check in INVARIANTS.items():
            if only is None or name in only:
                out.extend(check(trace))
    finally:
        judged(previous)
    return out


def assert_invariants(
    trace: Trace,
    *,
    only: Sequence[str] | None = None,
    window: int = 3,
    features: Iterable[str] | None = None,
) -> None:
    """Assert the trace keeps every invariant; the message shows each violation in context."""
    violations = check_trace(trace, only=only, features=features)
    if not violations:
        return
    lines = [f"{len(violations)} invariant violation(s):"]
    for violation in violations:
        lines.append(f"  {violation}")
        if violation.index is not None:
            lo = max(0, violation.index - window)
            for k in range(lo, min(len(trace.events), violation.index + window + 1)):
                mark = ">>" if k == violation.index else "  "
                lines.append(f"    {mark} [{k}] {event_to_dict(trace.events[k])}")
    raise AssertionError("\n".join(lines))
