"""pytest helpers to import by name: the fixtures' types, `scenario_params`, and `fuzz_tests`
(agentsim's fuzz properties as hypothesis tests, for pytest, pytest-xdist and HypoFuzz).

The fixtures themselves come with the pytest plugin (`agentsim.pytest._plugin`, registered when
agentsim is installed), so tests only import what they annotate with or call. Needs pytest, so
it is a module of its own rather than part of `agentsim`.
"""

from agentsim.pytest._fuzz_tests import fuzz_tests
from agentsim.pytest._plugin import (
    AgentsimAReplay,
    AgentsimARun,
    AgentsimReplay,
    AgentsimRun,
    LoopSpec,
    scenario_params,
)

__all__ = [
    "AgentsimAReplay",
    "AgentsimARun",
    "AgentsimReplay",
    "AgentsimRun",
    "LoopSpec",
    "fuzz_tests",
    "scenario_params",
]
