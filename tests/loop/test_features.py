"""Declared features: names are validated, the reference loop declares them all."""

from __future__ import annotations

import pytest

from agentsim import ALL_FEATURES, FEATURE_NAMES, InputError, ReferenceLoop, parse_features
from agentsim.loop._features import declared_features


def test_feature_names_parse_from_text_or_iterables() -> None:
    assert parse_features("tools, parallel_tools,") == {"tools", "parallel_tools"}
    assert parse_features(["deadline"]) == {"deadline"}
    assert parse_features("") == frozenset()


def test_an_unknown_feature_is_bad_input_naming_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"--features: unknown feature 'tool'; expected some of"):
        parse_features("tool", path="--features")


def test_the_reference_loop_declares_every_feature_and_an_undeclared_loop_none() -> None:
    assert declared_features(ReferenceLoop()) == ALL_FEATURES == frozenset(FEATURE_NAMES)
    assert declared_features(ReferenceLoop) == ALL_FEATURES
    assert declared_features(object()) is None


def test_a_declared_set_is_validated() -> None:
    class Loop:
        features = ("tools", "teleport")

    with pytest.raises(InputError, match=r"Loop\.features: unknown feature .teleport."):
        declared_features(Loop())
