"""Env steps per second on SMAX 3m and 8m, and the replay's memory.

Prints, per map: (a) raw SMAX stepping with random available actions, (b) acting-only rollouts
with the DRQN (epsilon-greedy, episodes stored to replay), (c) full training with the default
update ratio (one update per finished episode, PyMARL), and the replay's memory for 5000 8m
episodes with the float16 error it costs. Compilation is excluded (warm-up steps first).

    python benchmarks/throughput.py [--maps 3m,8m] [--seconds 20] [--n-envs 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch


def timed(fn, seconds: float, warmup: int = 5):
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += fn()
    return n / (time.perf_counter() - start)


def raw_env(map_name: str, n_envs: int, seconds: float) -> float:
    from mafac.envs import make_env

    env = make_env("smax", map_name, n_envs, 0)
    rng = np.random.default_rng(0)
    cur = [env.reset()]

    def one():
        av = cur[0].avail_actions
        cur[0] = env.step((rng.random(av.shape) * av).argmax(-1)).next
        return n_envs

    return timed(one, seconds)


def trainer_for(map_name: str, n_envs: int, run_dir: str):
    from mafac.config import build_config
    from mafac.train import Trainer

    cfg = build_config(algo="qmix", map_name=map_name, overrides=[f"env.n_envs={n_envs}", "run.checkpoint=false"])
    return Trainer(cfg, run_dir)


def acting(map_name: str, n_envs: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as d:
        tr = trainer_for(map_name, n_envs, d)
        tr.runner.reset()
        return timed(lambda: (tr.runner.step(0.5), n_envs)[1], seconds)


def training(map_name: str, n_envs: int, seconds: float) -> tuple:
    """Steady-state speed of the real training loop (Trainer.run) once compiled and warm."""
    with tempfile.TemporaryDirectory() as d:
        tr = trainer_for(map_name, n_envs, d)
        tr.cfg.run.test_interval = 10**9  # measure training, not evaluation
        tr.cfg.run.t_max = 3000
        tr.run()  # compiles, fills the replay past start_episodes
        steps0, updates0 = tr.env_steps, tr.learner.updates
        chunk, start = 5000, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tr.cfg.run.t_max += chunk
            tr.run()
        elapsed = time.perf_counter() - start
        return (tr.env_steps - steps0) / elapsed, tr.learner.updates - updates0, tr.episodes


def replay_memory() -> None:
    from mafac.envs import EnvInfo, make_env
    from mafac.replay import EpisodeBuffer

    info = EnvInfo(n_agents=8, n_actions=13, obs_dim=205, state_dim=192, episode_limit=100)
    buf = EpisodeBuffer(info, 5000, "float16")
    print(f"replay, 5000 episodes of 8m (limit 100 steps): {buf.nbytes() / 2**30:.2f} GiB preallocated "
          f"(float32 obs would be {EpisodeBuffer(info, 1, 'float32').nbytes() * 5000 / 2**30:.2f} GiB)")
    env = make_env("smax", "8m", 8, 0)
    o = env.reset()
    obs, state = [o.obs], [o.state]
    rng = np.random.default_rng(0)
    for _ in range(200):
        tr = env.step((rng.random(o.avail_actions.shape) * o.avail_actions).argmax(-1))
        o = tr.next
        obs.append(tr.obs)
        state.append(tr.state)
    for name, arr in (("obs", np.stack(obs)), ("state", np.stack(state))):
        t = torch.as_tensor(arr)
        err = (t.half().float() - t).abs()
        rel = err / t.abs().clamp(min=1e-6)
        print(f"float16 storage of SMAX 8m {name}: max abs error {err.max():.2e}, "
              f"max relative error {rel[t.abs() > 1e-3].max():.2e} (values in [{arr.min():.2f}, {arr.max():.2f}])")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", default="3m,8m")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--n-envs", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {os.cpu_count()} cores, {cpu}; torch {torch.__version__}, 1 torch thread; n_envs={a.n_envs}")
    for m in a.maps.split(","):
        print(f"[{m}] (a) raw SMAX stepping:      {raw_env(m, a.n_envs, a.seconds):10,.0f} env steps/s")
        print(f"[{m}] (a) raw SMAX, 32 envs:       {raw_env(m, 32, a.seconds):10,.0f} env steps/s")
        print(f"[{m}] (b) acting-only rollouts:   {acting(m, a.n_envs, a.seconds):10,.0f} env steps/s")
        sps, updates, episodes = training(m, a.n_envs, a.seconds * 2)
        print(f"[{m}] (c) full training (qmix):   {sps:10,.0f} env steps/s "
              f"({updates} updates of batch 32 over {episodes} episodes)")
    replay_memory()


if __name__ == "__main__":
    main()
