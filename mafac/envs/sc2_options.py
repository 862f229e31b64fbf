"""The sc2 backend's options: every StarCraft2Env keyword mafac passes, with PyMARL's values.

A module of its own so that the config (which validates `env.kwargs.*`) needs neither the worker
pool nor the installation checks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

DEFAULT_FACTORY = "smac.env:StarCraft2Env"

# PyMARL's sc2 config (src/config/envs/sc2.yaml), so results compare with the published ones.
# One deliberate difference: continuing_episode=True. It changes nothing in SMAC except that a
# time-limit end is then flagged in info["episode_limit"]; without it a timeout is
# indistinguishable from a true terminal state and the learner could not bootstrap there.
SMAC_DEFAULTS: Dict[str, Any] = {
    "continuing_episode": True,
    "difficulty": "7",
    "game_version": None,
    "move_amount": 2,
    "obs_all_health": True,
    "obs_instead_of_state": False,
    "obs_last_action": False,
    "obs_own_health": True,
    "obs_pathing_grid": False,
    "obs_terrain_height": False,
    "obs_timestep_number": False,
    "reward_death_value": 10,
    "reward_defeat": 0,
    "reward_negative_scale": 0.5,
    "reward_only_positive": True,
    "reward_scale": True,
    "reward_scale_rate": 20,
    "reward_sparse": False,
    "reward_win": 200,
    "replay_dir": "",
    "replay_prefix": "",
    "state_last_action": True,
    "state_timestep_number": False,
    "step_mul": 8,
    "heuristic_ai": False,
    "heuristic_rest": False,
    "debug": False,
}
# StarCraft2Env keywords that PyMARL leaves at SMAC's own defaults (StarCraft2Env's signature).
OTHER_SMAC_DEFAULTS: Dict[str, Any] = {"window_size_x": 1920, "window_size_y": 1200}


def _option_type(key: str, value: Any) -> Any:
    if value is None:
        return Optional[str]
    if key.startswith("reward_") and type(value) is int:  # SMAC takes any number for these
        return float
    return type(value)


# The `env.kwargs.*` options of the sc2 backend: every StarCraft2Env keyword mafac passes, with
# PyMARL's values, plus how the workers are made (a test can point env_factory at a stand-in).
SC2Config = dataclasses.make_dataclass(
    "SC2Config",
    [(k, _option_type(k, v), dataclasses.field(default=v)) for k, v in {**SMAC_DEFAULTS, **OTHER_SMAC_DEFAULTS}.items()]
    + [("env_factory", str, dataclasses.field(default=DEFAULT_FACTORY)),
       ("timeout_s", float, dataclasses.field(default=600.0))],
)
SC2Config.__module__ = __name__
