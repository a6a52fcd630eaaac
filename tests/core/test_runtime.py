"""The runtime's ids and randomness: the same seed, the same values, however many runtimes."""

from __future__ import annotations

import random
import threading

from agentsim import IdFactory, Runtime


def _expected(seed: int, n: int) -> list[str]:
    rng = random.Random(f"agentsim-ids:{seed}")
    return [f"run_{rng.getrandbits(48):012x}" for _ in range(n)]


def test_ids_are_those_of_the_seeded_generator_for_every_factory() -> None:
    for seed in (0, 7, 2**40):
        first = [IdFactory(seed).new("run") for _ in range(3)]  # each factory starts over
        assert first == [_expected(seed, 1)[0]] * 3
        factory, other = IdFactory(seed), IdFactory(seed)
        assert [factory.new("run") for _ in range(5)] == _expected(seed, 5)
        assert [other.new("run") for _ in range(7)] == _expected(seed, 7)
    assert IdFactory(1).new("call") != IdFactory(2).new("call")


def test_ids_in_threads_are_the_same_sequence() -> None:
    seed = 987_654_321  # not drawn before in this process
    out: dict[int, list[str]] = {}

    def draw(k: int) -> None:
        factory = IdFactory(seed)
        out[k] = [factory.new("run") for _ in range(200)]

    threads = [threading.Thread(target=draw, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(ids == _expected(seed, 200) for ids in out.values())


def test_random_is_seeded_from_the_seed() -> None:
    assert Runtime(seed=3).random.random() == random.Random("agentsim-random:3").random()
    runtime = Runtime(seed=4)
    assert runtime.random is runtime.random
