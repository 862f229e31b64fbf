"""The random baseline on MPE: uniform random available actions through mafac's own MPE backend,
and the untrained (greedy, freshly initialised) agent, as team returns per episode.

A learned MPE return means something only against what no learning scores. Uniform random play
and an untrained greedy policy are different baselines (a fresh network's greedy actions are
constant-ish, and on simple_spread standing still scores worse than wandering), so both are
printed: mean +- std over the episodes, and the standard error of the mean.

    python benchmarks/mpe_random.py [--map simple_spread_v3] [--episodes 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np


def random_returns(map_name: str, episodes: int, seed: int, n_envs: int = 25) -> np.ndarray:
    from mafac.envs import make_env

    env = make_env("mpe", map_name, n_envs, seed)
    rng = np.random.default_rng(seed)
    cur, ret, out = env.reset(), np.zeros(n_envs), []
    while len(out) < episodes:
        av = cur.avail_actions
        tr = env.step((rng.random(av.shape) * av).argmax(-1))
        ret += tr.reward
        out += ret[tr.done].tolist()
        ret[tr.done] = 0.0
        cur = tr.next
    env.close()
    return np.asarray(out[:episodes])


def untrained_returns(map_name: str, episodes: int, seed: int) -> np.ndarray:
    import tempfile

    from mafac.api import make_config
    from mafac.trainer import Trainer

    cfg = make_config("vdn", map_name, env="mpe", seed=seed, say=None,
                      **{"env.test_n_envs": episodes, "run.checkpoint": False})
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(cfg, d)
        try:
            return tr.test_runner.play_greedy(seed=seed).returns
        finally:
            tr.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="simple_spread_v3")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for label, r in (("uniform random actions", random_returns(args.map, args.episodes, args.seed)),
                     ("untrained greedy agent (VDN, seed's init)", untrained_returns(args.map, args.episodes, args.seed))):
        print(f"{args.map}, {label}: {r.mean():.1f} +- {r.std():.1f} over {len(r)} episodes "
              f"(s.e.m. {r.std() / math.sqrt(len(r)):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
