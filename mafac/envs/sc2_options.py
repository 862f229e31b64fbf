"""The sc2 backend's options: every StarCraft2Env keyword mafac passes, with PyMARL's values.

A module of its own so that the config (which validates `env.kwargs.*`) needs neither the worker
pool nor the installation checks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

from mafac.errors import MafacError

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


# The keys of SMAC's `difficulties` table (VeryEasy to CheatInsane). SMAC looks the value up only
# when it launches the game, in a worker, so a bad one would surface there as "KeyError: '10'".
DIFFICULTIES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "A")


def check_options(options: Mapping[str, Any]) -> None:
    """The option values SMAC would only reject (or silently ignore) inside a worker."""
    if "difficulty" in options and str(options["difficulty"]) not in DIFFICULTIES:
        raise MafacError(f"bad value {options['difficulty']!r} for env.kwargs.difficulty; "
                         f"valid choices: {', '.join(DIFFICULTIES)}")
    for key in ("replay_dir", "replay_prefix"):
        if options.get(key):
            # SMAC uses them only in save_replay(), which nothing in mafac calls: an accepted value
            # would promise replays that never appear.
            raise MafacError(f"bad value {options[key]!r} for env.kwargs.{key}; mafac saves no SC2 replays "
                             "(SMAC writes one only when save_replay() is called), so it must stay empty")


def _check(self: Any) -> None:
    check_options(dataclasses.asdict(self))


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
    namespace={"check": _check},
)
SC2Config.__module__ = __name__
