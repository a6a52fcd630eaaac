"""What goes wrong with one provider response, and a whole response with its fault (DESIGN §5).

`response` is the half of generation that `agentsim.fuzz._strategies` expands from a detail word:
the word picks the response's kind and details (`agentsim.fuzz._streams`), then its fault. A
fault is an error at any position (first, mid-stream, after the finish; retryable or not, with
an HTTP status at times), a truncation, a stall, a duplicated or swapped chunk, or a wire-level
variant of them; features gate them as they gate shapes (`allowed_faults`), and a word of 0
means no fault. Plain Python over a seeded `random.Random`: a word always means the same fault.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from agentsim.core._chunks import ERROR_KINDS, ErrorKind
from agentsim.fuzz._streams import (
    NO_TIMING,
    READ_STALL,
    FaultKind,
    Item,
    Plan,
    Timing,
    WordRandom,
    build_response,
    kinds_for,
    simplest_response,
)

__all__ = [
    "MALFORMED_DATA",
    "Fault",
    "allowed_faults",
    "apply_fault",
    "fault_from_word",
    "response",
]

_STATUSES: dict[str, int] = {"rate_limit": 429, "overloaded": 529, "server": 500, "timeout": 504}
_OVERLOADED = (529, 503)  # Anthropic's overloaded_error, and everyone's 503
_RETRY_AFTER = (1.0, 30.0)  # seconds; 30 is what rate-limited APIs ask, virtual anyway
MALFORMED_DATA = '{"choices": [{"delta": {"content": "unterminated'


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong with one response; `at` picks the position (modulo the stream length)."""

    kind: FaultKind = "none"
    at: int = 0
    retryable: bool = True
    error: ErrorKind = "rate_limit"
    wire: int = 0  # 0-3: which wire-level variant (see `apply_fault`)


_FAULT_KINDS: tuple[FaultKind, ...] = (
    *(("none",) * 9),
    "error_before",
    "error_after",
    "truncate",
    "stall",
    "duplicate",
    "reorder",
    "error_after",
)


@functools.cache
def allowed_faults(plan: Plan, timing: Timing) -> tuple[FaultKind, ...]:
    """The fault kinds `plan` allows, "none" included, with repeats for weight."""
    errors = "provider_errors" in plan.features
    stall = "deadline" in plan.features or (timing.idle is not None and errors)
    read_stall = errors and timing.read_stalls  # a gap the client's read timeout ends
    return tuple(
        kind
        for kind in _FAULT_KINDS
        if (kind not in ("error_before", "error_after", "truncate") or errors)
        and (kind != "stall" or stall or read_stall)
    )


def fault_from_word(plan: Plan, timing: Timing, word: int) -> Fault:
    """The fault numbered `word` (16 bits) for `plan`: none about half of the time."""
    kinds = allowed_faults(plan, timing)
    kind = kinds[(word >> 8) % len(kinds)]
    if kind == "none":
        return Fault()
    error = ERROR_KINDS[((word >> 5) & 7) % len(ERROR_KINDS)]
    return Fault(kind, word & 15, not word & 16, error, ((word * 40503) >> 9) & 3)


def apply_fault(
    items: Sequence[Item], fault: Fault, *, plan: Plan | None = None, timing: Timing = NO_TIMING
) -> list[Item]:
    """`items` with `fault` applied; the original is not changed. With `plan`, what the loop
    does not claim is avoided: a retryable error before output without ``retries`` becomes
    non-retryable, and a stall before output that only an idle timeout ends moves after the
    first chunk."""
    out = list(items)
    n = len(out)
    error: Item = {"error": {"kind": fault.error, "retryable": fault.retryable}}
    if fault.at & 8 and fault.error in _STATUSES:
        error["error"]["status"] = _STATUSES[fault.error]
        if fault.error == "overloaded":
            error["error"]["status"] = _OVERLOADED[fault.wire & 1]
    # Wire-level variants (issue #16 part 4): a truncation is at times a connection reset
    # mid-body, an error after output at times a malformed event, and an HTTP error answer
    # before output carries a Retry-After header at times.
    end: Item = {"reset": True} if fault.wire in (1, 2) else {"truncate": True}
    before = fault.kind == "error_before" or (n == 0 and fault.kind != "none")
    if before and fault.kind in ("error_before", "error_after", "truncate"):
        if plan is not None and "retries" not in plan.features:
            error["error"]["retryable"] = False
        if "status" in error["error"] and fault.wire >= 2:
            error["error"]["retry_after"] = _RETRY_AFTER[fault.wire & 1]
        return [error] if fault.kind != "truncate" else [end]
    if n == 0:
        return out
    at = fault.at % n
    if fault.kind == "error_after":
        if fault.wire == 3:
            return [*out[: at + 1], {"malformed": MALFORMED_DATA}]
        return [*out[: at + 1], error]
    if fault.kind == "truncate":
        return [*out[:at], end]
    read_stall = plan is not None and "provider_errors" in plan.features and timing.read_stalls
    if (
        fault.kind == "stall"
        and read_stall
        and timing.idle is None
        and (fault.wire == 3 or not (plan is not None and "deadline" in plan.features))
    ):
        # Only a client's read timeout ends it (an SDK loop): a gap past the SDKs' defaults,
        # finite, so a loop whose client has none just waits and goes on.
        out[at] = {**out[at], "delay": READ_STALL}
        return out
    if fault.kind == "stall":
        if (
            at == 0
            and plan is not None
            and "retries" not in plan.features
            and timing.idle is not None
        ):
            at = min(1, n - 1) if n > 1 else 0
            if at == 0:
                return out
        return [*out[:at], {"stall": True}]
    if fault.kind == "duplicate" and "tool_call_start" not in out[at]:
        return [*out[: at + 1], dict(out[at]), *out[at + 1 :]]
    if fault.kind == "reorder" and n >= 2:
        at = fault.at % (n - 1)
        out = [*out[:at], out[at + 1], out[at], *out[at + 2 :]]
        idle = timing.idle
        # The swap may bring a gap over the idle timeout before any output: only a loop with
        # retries claims what that needs (as `_timing` keeps it for a response built so).
        over = at == 0 and idle is not None and out[0].get("delay", 0.0) > idle
        if over and idle is not None and plan is not None and "retries" not in plan.features:
            out[0] = {**out[0], "delay": round(idle * 0.98, 6)}
    return out


def response(
    plan: Plan, request: int, word: int, *, last: bool, faults: bool, timing: Timing
) -> list[Item]:
    """Response number `request` of a scenario from one 32-bit word: its kind, details and
    fault (none for word 0, which is the simplest answer)."""
    if word == 0:
        return simplest_response(plan, request, 0)
    rng = WordRandom(word)
    kinds = _KINDS_LAST.get(plan) if last else _KINDS_MORE.get(plan)
    if kinds is None:
        kinds = kinds_for(plan, last=last)
        (_KINDS_LAST if last else _KINDS_MORE)[plan] = kinds
    kind = kinds[int(rng.random() * len(kinds))]
    # Near-deadline gaps only in the first response, where the run's clock is known.
    here = timing if request == 1 or timing.deadline is None else _idle_only(timing.idle)
    items = build_response(plan, request, kind, rng, here)
    if not faults:
        return items
    word = int(rng.random() * 65536)
    allowed = allowed_faults(plan, timing)
    if allowed[(word >> 8) % len(allowed)] == "none":
        return items  # what `apply_fault` returns for no fault: the same items
    return apply_fault(items, fault_from_word(plan, timing, word), plan=plan, timing=timing)


@functools.cache
def _idle_only(idle: float | None) -> Timing:
    return Timing(idle)


# `kinds_for` by plan and `last` (a keyword argument makes its cache's key dearer to build).
_KINDS_LAST: dict[Plan, tuple[int, ...]] = {}
_KINDS_MORE: dict[Plan, tuple[int, ...]] = {}
