"""Every random stream of a run comes from mafac/seeding.py and is independent of every stream of
every other run (the old scheme gave run s's test runner run s+1's exploration seed)."""

from __future__ import annotations

import itertools

from mafac.config import build_config
from mafac.seeding import STREAMS, RunSeeds
from mafac.trainer import Trainer


def _used_seeds(trainer: Trainer) -> dict:
    """The seeds a Trainer really handed its parts, read back from the parts themselves; the test
    episodes' from the seeds the test env was reset with while the run evaluated."""
    resets = []
    real_reset = trainer.test_env.reset

    def reset(seed=None):  # a spy: the real env still resets
        resets.append(seed)
        return real_reset(seed)

    trainer.test_env.reset = reset
    trainer.run()
    n_final = -(-trainer.cfg.run.final_episodes // trainer.test_env.n_envs)  # its rounds come last
    assert len(resets) == len(trainer.rows) + n_final and len(trainer.rows) > 5 and n_final == 2
    final = resets[len(trainer.rows):]
    return {
        "train_env": trainer.env.seed, "test_env": trainer.test_env.seed,
        "exploration": trainer.runner.generator.initial_seed(),
        "test_exploration": trainer.test_runner.generator.initial_seed(),
        "replay": trainer.buffer.generator.initial_seed(),
        **{f"test_episodes[{k}]": s for k, s in enumerate(resets[:len(trainer.rows)])},
        **{f"final_episodes[{k}]": s for k, s in enumerate(final)},
    }


def test_no_stream_of_one_run_is_a_stream_of_another(tmp_path):
    used = {}
    for seed in range(4):
        cfg = build_config(algo="vdn", map_name="qtran_game", preset="matrix", seed=seed,
                           overrides=["run.checkpoint=false", "env.n_envs=2", "env.test_n_envs=2", "run.t_max=40",
                                      "run.test_interval=4", "learner.start_episodes=1000",
                                      "run.final_episodes=4"])
        trainer = Trainer(cfg, tmp_path / str(seed))
        try:
            used[seed] = _used_seeds(trainer)
        finally:
            trainer.close()
    for (s1, a), (s2, b) in itertools.combinations(used.items(), 2):
        shared = {(k1, k2) for k1, v1 in a.items() for k2, v2 in b.items() if v1 == v2}
        assert not shared, f"runs {s1} and {s2} share a random stream: {sorted(shared)}"
    for seed, seeds in used.items():  # and within a run, each part has its own
        assert len(set(seeds.values())) == len(seeds), (seed, seeds)


def test_streams_are_fixed_functions_of_the_seed():
    a, b = RunSeeds(7), RunSeeds(7)
    assert a.all(evaluations=3) == b.all(evaluations=3)
    assert set(a.all()) == set(STREAMS) - {"test_episodes", "final_episodes"}
    assert all(0 <= v < 2 ** 31 for v in a.all(evaluations=50).values())
    assert RunSeeds(7).exploration != RunSeeds(8).exploration
