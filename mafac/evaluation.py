"""`mafac eval` (and `mafac render`): rebuild a run's agent from its config and checkpoint, then play
greedy episodes.

However many episodes are asked for, at most `env.test_n_envs` envs exist at once: the episodes are
played in rounds (round r seeded `seed + r`), so `--episodes 1000` costs time, not 1000 envs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from mafac.agent import DRQN, build_agent
from mafac.checkpoint import check_like, read_checkpoint
from mafac.config import Config, config_from_dict, load_yaml
from mafac.envs import make_env, warn_if_made_with_another_simulator
from mafac.envs.base import BatchedEnv
from mafac.errors import MafacError
from mafac.rundir import CHECKPOINT, CONFIG_YAML, RunInfo
from mafac.runner import GreedyEpisodes, Runner


@dataclass
class LoadedRun:
    """A stored run rebuilt for greedy play: its config, an env of the asked size, and its agent."""

    cfg: Config
    env: BatchedEnv
    agent: DRQN
    env_steps: int  # the checkpoint's


def open_run(run_dir: Path, max_envs: Optional[int], seed: int) -> LoadedRun:
    """Rebuild a run's agent from its config.yaml and checkpoint (weights checked against the network
    the config describes before loading), with env.test_n_envs envs, or `max_envs` if fewer. Close `.env`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MafacError(f"run directory {str(run_dir)!r} does not exist")
    if not (run_dir / CHECKPOINT).exists():
        raise MafacError(f"{run_dir} holds no {CHECKPOINT} (a run writes one at each evaluation unless "
                         f"run.checkpoint=false); nothing to load")
    cfg = config_from_dict(load_yaml(run_dir / CONFIG_YAML))
    state = read_checkpoint(run_dir / CHECKPOINT)
    warn_if_made_with_another_simulator(run_dir, cfg.env.backend)
    n_envs = min(max_envs, cfg.env.test_n_envs) if max_envs else cfg.env.test_n_envs
    env = make_env(cfg.env.backend, cfg.env.map, n_envs, seed, cfg.env.kwargs)
    try:
        agent = build_agent(env.info, cfg.agent)
        # only what greedy play reads: the agent's weights and the step count
        check_like(state, {"learner": {"agent": agent.state_dict()}, "env_steps": 0}, "", run_dir / CHECKPOINT,
                   partial=True)
        agent.load_state_dict(state["learner"]["agent"])
    except BaseException:
        env.close()
        raise
    return LoadedRun(cfg, env, agent, int(state["env_steps"]))


def evaluate_checkpoint(run_dir: Path, episodes: Optional[int] = None, seed: int = 12345) -> Dict[str, float]:
    """Greedy test episodes of a stored run's latest checkpoint (the test win rate `mafac eval` prints)."""
    if episodes is not None and episodes < 0:  # 0 or None: one episode per test env, as in training
        raise MafacError(f"bad value {episodes!r} for --episodes; it must be > 0")
    run = open_run(Path(run_dir), episodes, seed)
    n, n_envs = episodes or run.cfg.env.test_n_envs, run.env.n_envs
    try:
        runner = Runner(run.env, run.agent, run.cfg.agent, None, seed=seed)
        rounds = [runner.play_greedy(seed + r) for r in range(-(-n // n_envs))]
    finally:
        run.env.close()
    result = GreedyEpisodes.concat(rounds).first(n).summary()
    result.update(episodes=n, env_steps=run.env_steps)
    return result


def final_evaluation(run_dir: Path, episodes: Optional[int] = None) -> Dict[str, object]:
    """A stored run's final evaluation (final_eval.json, mafac/finals.py) of `episodes` greedy episodes
    (default 10 x env.test_n_envs) of its checkpoint: the same seeds, so the same figures, as a
    bench computes at the end of the run. An existing one of that size at these env steps is kept,
    and so is one of more episodes (then this one is read off it, or played, and returned, not
    recorded). A finished run without its checkpoint (a bench committed from another machine) is
    answered from its stored final evaluation where that holds the episodes asked for."""
    from mafac import finals

    if episodes is not None and episodes <= 0:
        raise MafacError(f"bad value {episodes!r} for --episodes; it must be > 0")
    if Path(run_dir).is_dir() and not (Path(run_dir) / CHECKPOINT).exists():
        return _final_without_checkpoint(Path(run_dir), episodes)
    run = open_run(Path(run_dir), None, seed=0)
    try:
        n = episodes or finals.default_episodes(run.cfg)
        runner = Runner(run.env, run.agent, run.cfg.agent, None, seed=0)
        return finals.evaluate(Path(run_dir), runner, run.cfg.seed, n, run.env_steps, run.cfg.env.test_n_envs,
                               keep_larger=True)
    finally:
        run.env.close()


def _final_without_checkpoint(run_dir: Path, episodes: Optional[int]) -> Dict[str, object]:
    """`final_evaluation` of a run whose checkpoint is gone: the stored final evaluation of its last
    policy (all of it, or its first `episodes`), or an error saying why it cannot be had."""
    from mafac import finals

    cfg = config_from_dict(load_yaml(run_dir / CONFIG_YAML))
    info = RunInfo.load(run_dir)
    n = episodes or finals.default_episodes(cfg)
    data = finals.read_final(run_dir)
    if data is not None and int(data["env_steps"]) == info.env_steps:
        if finals.is_current(data, n, info.env_steps):
            return data
        derived = finals.first(data, n, cfg.env.test_n_envs)
        if derived is not None:
            return derived
    stored = "none" if data is None else f"{data['episodes']} episodes at {int(data['env_steps']):,} env steps"
    if data is not None and any(k not in data for k in ("timed_out", "length")):
        stored += ", written before per-episode time-outs and lengths were kept"
    raise MafacError(f"{run_dir} holds no {CHECKPOINT} to play, and its stored final evaluation ({stored}) does not "
                     f"give {n} episodes of the policy at {info.env_steps:,} env steps")
