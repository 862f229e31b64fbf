"""`mafac eval`: rebuild a run's agent from its config and checkpoint, then play greedy episodes.

However many episodes are asked for, at most `env.test_n_envs` envs exist at once: the episodes are
played in rounds (round r seeded `seed + r`), so `--episodes 1000` costs time, not 1000 envs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from mafac.agent import build_agent
from mafac.checkpoint import check_like, read_checkpoint
from mafac.config import config_from_dict, load_yaml
from mafac.envs import make_env
from mafac.errors import MafacError
from mafac.rundir import CHECKPOINT, CONFIG_YAML
from mafac.runner import GreedyEpisodes, Runner


def evaluate_checkpoint(run_dir: Path, episodes: Optional[int] = None, seed: int = 12345) -> Dict[str, float]:
    """Greedy test episodes of a stored run's latest checkpoint (the test win rate `mafac eval` prints)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MafacError(f"run directory {str(run_dir)!r} does not exist")
    cfg = config_from_dict(load_yaml(run_dir / CONFIG_YAML))
    state = read_checkpoint(run_dir / CHECKPOINT)
    n = episodes or cfg.env.test_n_envs
    if n <= 0:
        raise MafacError(f"bad value {n!r} for --episodes; it must be > 0")
    n_envs = min(n, cfg.env.test_n_envs)
    env = make_env(cfg.env.backend, cfg.env.map, n_envs, seed, cfg.env.kwargs)
    try:
        agent = build_agent(env.info, cfg.agent)
        # only what evaluation reads: the agent's weights and the step count
        check_like(state, {"learner": {"agent": agent.state_dict()}, "env_steps": 0}, "", run_dir / CHECKPOINT,
                   partial=True)
        agent.load_state_dict(state["learner"]["agent"])
        runner = Runner(env, agent, cfg.agent, None, seed=seed)
        rounds = [runner.play_greedy(seed + r) for r in range(-(-n // n_envs))]
    finally:
        env.close()
    result = GreedyEpisodes.concat(rounds).first(n).summary()
    result.update(episodes=n, env_steps=int(state["env_steps"]))
    return result
