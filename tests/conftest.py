"""Shared fixtures. SMAX compiles its step once per (map, n_envs, env kwargs) and caches it on disk,
so tests share a few small shapes: prefer `smax_env` (session-scoped, one env per shape) and the
`TINY_*` settings below over new sizes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Tests compile far more SMAX steps (a map, a shape, a fresh subprocess each) than they run: XLA's
# cheapest backend optimisation halves each compile (2s3z: 8.4 -> 3.8 CPU s) for the few hundred
# steps a test plays. Set before anything imports jax; bench and train subprocesses inherit it.
# The product itself always compiles at XLA's default level.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# One SMAX shape for everything that trains: episodes of at most 16 steps (random play ends some by truncation, some by defeat) keep the learner cheap.
TINY_MAP = "3m"
TINY_MAX_STEPS = 16
TINY_N_ENVS = 4


def _tiny_overrides(**extra) -> list:
    base = {
        "env.n_envs": TINY_N_ENVS, "env.test_n_envs": TINY_N_ENVS,
        "env.kwargs.max_steps": TINY_MAX_STEPS,
        "replay.capacity": 64, "learner.batch_size": 8, "learner.start_episodes": 8,
        "agent.hidden_dim": 16, "run.test_interval": 200, "run.t_max": 600,
        "learner.target_update_episodes": 20,
        "online.episodes_per_update": 8,  # the default (online) learner updates several times too
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


# The files that take minutes, heaviest first (CI's --durations). Under `--dist loadfile` xdist hands
# out files in collection order, so running these first is longest-job-first scheduling: the last
# minutes are short files on every worker, not one worker still in the outcome pool while the
# others idle.
HEAVY_FIRST = ("test_learned_outcomes.py", "test_bench.py", "test_bench_cluster.py", "test_plugins.py",
               "test_sweep.py", "test_checkpoint_safety.py", "test_finals.py", "test_smax_features.py",
               "test_api.py", "test_wandb.py", "test_train.py", "test_throughput.py", "test_cli.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-file order kept


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker more than cores (at most 4). Many tests wait on subprocesses, Ray or
    a kill's timing; a third worker on 2 cores fills those waits (CI: 90% -> ~97% of both cores)."""
    return min(4, (os.cpu_count() or 1) + 1)


@pytest.fixture(scope="session", autouse=True)
def throughput_cache(tmp_path_factory):
    """Benches in tests probe their tiny configs: those measurements go to a cache of the test
    session's own (inherited by the bench subprocesses), never the user's ~/.cache/mafac."""
    import os

    path = tmp_path_factory.mktemp("throughput") / "throughput.json"
    saved = os.environ.get("MAFAC_THROUGHPUT_CACHE")
    os.environ["MAFAC_THROUGHPUT_CACHE"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("MAFAC_THROUGHPUT_CACHE", None)
    else:
        os.environ["MAFAC_THROUGHPUT_CACHE"] = saved


@pytest.fixture(scope="session")
def tiny_overrides():
    """tiny_overrides(**{"section.key": value}) -> ["section.key=value", ...] for a run that
    finishes in seconds on the shared SMAX shape (train and CLI tests)."""
    return _tiny_overrides


@pytest.fixture(scope="session")
def smax_env():
    """smax_env(map, n_envs, **kwargs) -> a shared SMAXEnv (reset it before use: others step it)."""
    from mafac.envs.smax import SMAXEnv

    envs = {}

    def get(map_name: str = TINY_MAP, n_envs: int = TINY_N_ENVS, **kwargs):
        key = (map_name, n_envs, tuple(sorted(kwargs.items())))
        if key not in envs:
            envs[key] = SMAXEnv(map_name, n_envs, seed=0, **kwargs)
        return envs[key]

    yield get
    for env in envs.values():
        env.close()


@pytest.fixture
def random_actions():
    """random_actions(rng, avail) -> int [n_envs, n_agents], uniform over each agent's available actions."""

    def pick(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
        scores = rng.random(avail.shape) + 1.0
        return np.where(avail, scores, 0.0).argmax(-1)

    return pick


def checkpointed_at_most_half(run_jsons, steps: int) -> bool:
    """Some run has checkpointed past its start and is at most half done: a kill now leaves the
    other half (seconds of work) unfinished, so a resume has something to resume."""
    import json

    infos = [json.loads(p.read_text()) for p in run_jsons if p.stat().st_size]
    return any(0 < i["env_steps"] <= steps // 2 for i in infos)


def sigkill_when(cmd, ready, timeout: float, what: str, sig: int = 9, stderr=None) -> int:
    """Start `cmd` in its own session, poll `ready()`, then send `sig` (default kill -9) to its whole
    process group, as a terminal's Ctrl-C (SIGINT, 2) reaches every process of the foreground job;
    wait for it and return its exit code. `stderr`: a path that receives its stderr (a file, not a
    pipe nobody reads while it runs, which a progress bar could fill and block)."""
    import os
    import subprocess
    import time

    err = open(stderr, "w") if stderr else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while not ready():
            if time.time() > deadline:
                pytest.fail(f"{what} in time")
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, sig)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a signal it ignored: do not leave it running
            os.killpg(proc.pid, 9)
            code = proc.wait()
        if stderr:
            err.close()
    return code
