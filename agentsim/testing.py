"""pytest helpers to import by name: the fixtures' types and `scenario_params`.

The fixtures themselves come with the pytest plugin (`agentsim.pytest._plugin`, registered when
agentsim is installed), so tests only import what they annotate with or call. Needs pytest, so
it is a module of its own rather than part of `agentsim`.
"""

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
    "scenario_params",
]
