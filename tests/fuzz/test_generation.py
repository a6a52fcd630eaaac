"""Generation's speed-ups draw exactly what the plain code drew (issue #12 part 8): the cheaper
random generator and cut sampler of `agentsim.fuzz._streams` give the same numbers as
`random.Random` and `random.Random.sample`, so the same word still means the same response."""

from __future__ import annotations

import random

import pytest

from agentsim.fuzz._streams import WordRandom, sample_cuts


@pytest.mark.parametrize("word", [0, 1, 7, 65535, 2**31, 2**32 - 1, 123456789])
def test_the_cheap_generator_has_the_state_of_random_random(word: int) -> None:
    assert WordRandom(word).getstate() == random.Random(word).getstate()


def test_the_cut_sampler_draws_what_random_sample_draws() -> None:
    for seed in range(300):
        for m in (1, 2, 3, 5, 20, 21, 22, 40, 200):
            for k in range(1, min(m, 5) + 1):
                ours, theirs = WordRandom(seed), random.Random(seed)
                assert sample_cuts(ours, m, k) == theirs.sample(range(1, m + 1), k), (seed, m, k)
                assert ours.random() == theirs.random()  # and left the generator the same
