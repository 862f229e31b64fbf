"""Every random stream of a run, derived from the run seed in one place.

A run draws randomness in several independent parts: network initialisation, the training envs,
the training runner's exploration, replay sampling, the test envs, the test runner and each
evaluation's episodes. Seeding them `seed`, `seed + 1`, `seed * 7919 + k`, ... (as mafac once did)
makes streams of different runs collide: run 0's test runner drew exactly run 1's exploration.
Here each part is a child of `numpy.random.SeedSequence(seed)` with its own spawn key, so every
stream of every run is statistically independent of every other, and adding a stream later
changes none of the existing ones.

The integers handed to torch, JAX and numpy are 31-bit (JAX's PRNGKey and torch's manual_seed take
them on every platform).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The spawn key of each stream: fixed forever (changing one changes every run's trajectory).
STREAMS = {
    "network_init": 0,  # torch's global RNG while the networks are built
    "train_env": 1,  # the training envs' JAX/numpy key
    "exploration": 2,  # epsilon-greedy draws of the training runner
    "replay": 3,  # which stored episodes each update samples
    "test_env": 4,  # the test envs' key (re-seeded per evaluation anyway)
    "test_exploration": 5,  # the test runner's generator (greedy acting draws nothing; kept separate)
    "test_episodes": 6,  # evaluation k's episodes: child k of this stream
    "numpy_global": 7,  # numpy's global RNG, for any library code that uses it
    "final_episodes": 8,  # the final evaluation's rounds of episodes: child r of this stream
    "minibatches": 9,  # the online learner's minibatch shuffles
}
# Streams indexed by a child number (an evaluation, a round), reached through their own method.
INDEXED = ("test_episodes", "final_episodes")


def stream_seed(seed: int, stream: str, index: int | None = None) -> int:
    """The 31-bit seed of one named stream of run `seed` (of its `index`-th child, if given)."""
    key = (STREAMS[stream],) if index is None else (STREAMS[stream], int(index))
    state = np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, dtype=np.uint32)[0]
    return int(state) & 0x7FFFFFFF


@dataclass(frozen=True)
class RunSeeds:
    """The seeds of one run's parts; `test_episodes(k)` is evaluation k's."""

    seed: int

    def __getattr__(self, name: str) -> int:
        if name in STREAMS and name not in INDEXED:
            return stream_seed(self.seed, name)
        raise AttributeError(name)

    def test_episodes(self, evaluation: int) -> int:
        return stream_seed(self.seed, "test_episodes", evaluation)

    def final_episodes(self, round_: int) -> int:
        """Round r of the final evaluation (each round plays one episode per test env)."""
        return stream_seed(self.seed, "final_episodes", round_)

    def all(self, evaluations: int = 0, final_rounds: int = 0) -> dict:
        """Every stream's seed (and the first `evaluations` test-episode seeds, the first
        `final_rounds` final-evaluation seeds), for tests and logs."""
        out = {name: getattr(self, name) for name in STREAMS if name not in INDEXED}
        out.update({f"test_episodes[{k}]": self.test_episodes(k) for k in range(evaluations)})
        out.update({f"final_episodes[{k}]": self.final_episodes(k) for k in range(final_rounds)})
        return out
