"""`mafac eval`: rebuild a run's agent from its config and checkpoint, then play greedy episodes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from mafac.agent import DRQN, agent_input_dim
from mafac.checkpoint import check_like, read_checkpoint
from mafac.config import config_from_dict, load_yaml
from mafac.envs import make_env
from mafac.errors import MafacError
from mafac.rundir import CHECKPOINT, CONFIG_YAML
from mafac.runner import Runner


def evaluate_run(run_dir: Path, episodes: Optional[int] = None, seed: int = 12345) -> Dict[str, float]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MafacError(f"run directory {str(run_dir)!r} does not exist")
    cfg = config_from_dict(load_yaml(run_dir / CONFIG_YAML))
    state = read_checkpoint(run_dir / CHECKPOINT)
    n = episodes or cfg.env.test_n_envs
    if n <= 0:
        raise MafacError(f"bad value {n!r} for --episodes; it must be > 0")
    env = make_env(cfg.env.backend, cfg.env.map, n, seed, cfg.env.kwargs)
    try:
        info = env.info
        agent = DRQN(agent_input_dim(info, cfg.agent), cfg.agent.hidden_dim, info.n_actions)
        # only what evaluation reads: the agent's weights and the step count
        check_like(state, {"learner": {"agent": agent.state_dict()}, "env_steps": 0}, "", run_dir / CHECKPOINT,
                   partial=True)
        agent.load_state_dict(state["learner"]["agent"])
        result = Runner(env, agent, cfg.agent, None, seed=seed).evaluate(seed)
    finally:
        env.close()
    result.update(episodes=n, env_steps=int(state["env_steps"]))
    return result
