"""The support agent with a bug planted for the fuzzing example to find.

The run's usage is the last step's instead of the sum of all steps': a billing bug that a
one-step test never shows. Invariant EV7 says a completed run's usage is the sum of the usages
its steps reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from support_agent import SupportAgentLoop, SupportAgentRun

from agentsim import Usage


class SeededBugRun(SupportAgentRun):
    def total_usage(self, steps: Sequence[Usage]) -> Usage:
        return steps[-1]


class SeededBugLoop(SupportAgentLoop):
    run_class = SeededBugRun
