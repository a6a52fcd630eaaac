"""What a loop declares it implements (DESIGN §9, "Declared features").

A loop under test is judged only on the semantics it claims, and fuzzed only with what it claims:
a loop without ``deadline`` is never failed by EV8's deadline clause and never given a stalled
stream, a loop without ``retries`` is never given a retryable error before output, and so on. A
loop is never failed for a feature it does not claim, and never spared for one it does.

A loop declares its features with a ``features`` attribute (any iterable of the names below); an
adapter takes ``features=``; ``--features a,b,c`` on the command line overrides both. A loop that
declares nothing is taken to implement every feature, as the reference loop does, so existing
loops keep being judged as before; `agentsim fuzz` says so in its report.

The names, and what claiming one means (DESIGN §3):

- ``reasoning``: forwards thinking deltas and keeps reasoning blocks (rule 2).
- ``tools``: runs tools between steps, one result per call (rule 3).
- ``parallel_tools``: a response may ask for several calls at once, results in call order.
- ``concurrent_tools``: honours ``LoopOptions.concurrent_tools``.
- ``provider_errors``: turns provider errors and truncated streams into ``run_failed`` (rule 6).
- ``retries``: retries retryable errors before output, with the configured backoff (rule 6).
- ``deadline``: one run deadline bounds everything (rule 5).
- ``idle_timeout``: honours ``LoopOptions.idle_timeout`` (rule 5).
- ``max_steps``: never starts step ``max_steps + 1`` (rule 4).
- ``cancellation``: honours the cancel token at any moment (rule 7).
- ``consumer_drop``: a consumer that stops reading cancels the run (rule 7).
- ``hooks``: the scenario's hooks (rule 10).
- ``guardrails``: the scenario's guardrails (rule 11).
- ``limits``: usage limits and ``max_response_bytes`` (rule 11).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from agentsim.core._errors import InputError

__all__ = ["ALL_FEATURES", "FEATURE_NAMES", "Feature", "declared_features", "parse_features"]

Feature = Literal[
    "reasoning",
    "tools",
    "parallel_tools",
    "concurrent_tools",
    "provider_errors",
    "retries",
    "deadline",
    "idle_timeout",
    "max_steps",
    "cancellation",
    "consumer_drop",
    "hooks",
    "guardrails",
    "limits",
]
FEATURE_NAMES: tuple[Feature, ...] = get_args(Feature)
ALL_FEATURES: frozenset[Feature] = frozenset(FEATURE_NAMES)


def parse_features(names: Iterable[str] | str, *, path: str = "features") -> frozenset[Feature]:
    """Validate feature names (a comma-separated string or an iterable); `InputError` names the
    unknown one and the known ones."""
    if type(names) is frozenset and names <= ALL_FEATURES:
        return names  # already valid (a loop's declaration, checked on every run)
    items = names.split(",") if isinstance(names, str) else list(names)
    found: set[Feature] = set()
    for raw in items:
        name = str(raw).strip()
        if not name:
            continue
        if name not in ALL_FEATURES:
            raise InputError(
                f"unknown feature {name!r}; expected some of {', '.join(FEATURE_NAMES)}", path=path
            )
        found.add(name)
    return frozenset(found)


def declared_features(loop: object) -> frozenset[Feature] | None:
    """The features `loop` (a loop object or a factory) declares, or None if it declares none."""
    declared = getattr(loop, "features", None)
    if declared is None:
        return None
    return parse_features(declared, path=f"{type(loop).__name__}.features")
