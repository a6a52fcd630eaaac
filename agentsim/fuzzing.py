"""Fuzzing any loop from Python: what ``agentsim fuzz`` and ``agentsim shrink`` do, as functions.

Needs hypothesis (like `agentsim.strategies`), so it is a module of its own rather than part of
`agentsim`. See docs/fuzzing.md.
"""

from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._coverage import Coverage
from agentsim.fuzz._profiles import PROFILES, default_profile, load_profile, register_profiles
from agentsim.fuzz._properties import (
    CHECKS,
    Failure,
    LoopFactory,
    crashed,
    load_loop,
    make_loop,
    run_guarded,
    run_with_loop,
    write_reproducer,
)
from agentsim.fuzz._search import (
    PROPERTIES,
    FuzzReport,
    Search,
    loop_features,
    polish,
    property_cases,
    search,
)
from agentsim.fuzz._shrink import fit_to_reference, shrink_data, shrink_failing, signature

__all__ = [
    "CHECKS",
    "PROFILES",
    "PROPERTIES",
    "Coverage",
    "Failure",
    "FuzzReport",
    "LoopFactory",
    "Search",
    "crashed",
    "default_profile",
    "fit_to_reference",
    "fuzz",
    "load_loop",
    "load_profile",
    "loop_features",
    "make_loop",
    "polish",
    "property_cases",
    "register_profiles",
    "run_guarded",
    "run_with_loop",
    "search",
    "shrink_data",
    "shrink_failing",
    "signature",
    "write_reproducer",
]
