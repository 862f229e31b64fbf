"""A stand-in for `smac.env.StarCraft2Env` that needs no StarCraft II.

It keeps StarCraft2Env's public contract, which is all the sc2 adapter may rely on: the same
constructor keywords (so the adapter's defaults are proven to be valid SMAC keywords), `reset()`
returning `(obs, state)`, `step(actions) -> (reward, terminated, info)` with SMAC's info keys,
per-agent observations as a list of float32 arrays, available actions as lists of 0/1 ints where a
dead agent may only no-op, and SMAC's time limit: terminated=True with info["episode_limit"] only
when continuing_episode=True. The battle itself is a seeded coin-flip per unit per step.

Like SMAC (through pysc2) it owns a child process, the "game": launched by the first reset, ended by
close(), which first waits `standin_close_s` as pysc2 waits for SC2 to quit. A close cut short leaves
the game running without its parent, as a real one would.

Keywords starting with `standin_` steer the stand-in for tests (crash at a step, death odds, close
time, an event log); SMAC has no such keywords.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# name: (n_agents, n_enemies, episode limit), as in SMAC's map registry.
MAPS: Dict[str, Tuple[int, int, int]] = {
    "3m": (3, 3, 60),
    "8m": (8, 8, 120),
    "2s3z": (5, 5, 120),
    "5m_vs_6m": (5, 6, 70),
}
N_ACTIONS_NO_ATTACK = 6  # no-op, stop, north, south, east, west
# SMAC's `difficulties`: the built-in AI's level, looked up when the game is launched.
DIFFICULTIES = {"1": "VeryEasy", "2": "Easy", "3": "Medium", "4": "MediumHard", "5": "Hard", "6": "Harder",
                "7": "VeryHard", "8": "CheatVision", "9": "CheatMoney", "A": "CheatInsane"}


class StandInSC2:
    def __init__(
        self,
        map_name="8m",
        step_mul=8,
        move_amount=2,
        difficulty="7",
        game_version=None,
        seed=None,
        continuing_episode=False,
        obs_all_health=True,
        obs_own_health=True,
        obs_last_action=False,
        obs_pathing_grid=False,
        obs_terrain_height=False,
        obs_instead_of_state=False,
        obs_timestep_number=False,
        state_last_action=True,
        state_timestep_number=False,
        reward_sparse=False,
        reward_only_positive=True,
        reward_death_value=10,
        reward_win=200,
        reward_defeat=0,
        reward_negative_scale=0.5,
        reward_scale=True,
        reward_scale_rate=20,
        replay_dir="",
        replay_prefix="",
        window_size_x=1920,
        window_size_y=1200,
        heuristic_ai=False,
        heuristic_rest=False,
        debug=False,
        standin_crash_at_step: Optional[int] = None,
        standin_crash_how: str = "raise",  # "raise" or "exit"
        standin_only_seed: Optional[int] = None,  # crash or restart only the worker with this seed
        standin_enemy_death_prob: float = 0.05,
        standin_ally_death_prob: float = 0.03,
        standin_episode_limit: Optional[int] = None,
        standin_close_s: float = 0.0,
        standin_restart_every: Optional[int] = None,  # every n-th step, SMAC's restart path
        standin_log: Optional[str] = None,  # file to append "launch <game pid>" / "closed <game pid>" to
        standin_init_s: float = 0.0,  # a slow start (SMAC's imports on a loaded machine)
    ):
        time.sleep(standin_init_s)
        self.n_agents, self.n_enemies, self.episode_limit = MAPS[map_name]  # KeyError like SMAC
        if standin_episode_limit is not None:
            self.episode_limit = standin_episode_limit
        self.map_name = map_name
        self.difficulty = difficulty
        assert isinstance(difficulty, str), "SMAC keys difficulties by string"
        self.continuing_episode = continuing_episode
        self.state_last_action = state_last_action
        self.obs_timestep_number = obs_timestep_number
        self.reward_death_value = reward_death_value
        self.reward_win = reward_win
        self.reward_scale = reward_scale
        self.reward_scale_rate = reward_scale_rate
        self.max_reward = self.n_enemies * reward_death_value + reward_win
        self.n_actions = N_ACTIONS_NO_ATTACK + self.n_enemies
        self._seed = seed
        self._rng = np.random.RandomState(seed)
        chosen = standin_only_seed is None or standin_only_seed == seed
        self._crash_at = standin_crash_at_step if chosen else None
        self._crash_how = standin_crash_how
        self._p_enemy = standin_enemy_death_prob
        self._p_ally = standin_ally_death_prob
        self._close_s = standin_close_s
        self._restart_every = standin_restart_every if chosen else None
        self._step_calls = 0
        self.force_restarts = 0
        self._log = standin_log
        self._game: Optional[subprocess.Popen] = None
        self._total_steps = 0
        self._episode_steps = 0
        self._started = False
        self.closed = False
        self._new_battle()

    # -- SMAC's API --------------------------------------------------------------------------
    def get_env_info(self) -> Dict[str, Any]:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    def reset(self):
        if self._game is None:
            self._launch()
        self._started = True
        self._episode_steps = 0
        self._new_battle()
        return self.get_obs(), self.get_state()

    def step(self, actions):
        assert self._started, "reset() must be called before step()"
        actions_int = [int(a) for a in actions]
        for a_id, action in enumerate(actions_int):
            assert self.get_avail_agent_actions(a_id)[action] == 1, f"Agent {a_id} cannot perform action {action}"
        self.last_action = np.eye(self.n_actions)[np.array(actions_int)]
        self._step_calls += 1
        if self._restart_every and self._step_calls % self._restart_every == 0:
            # SMAC on a ProtocolError/ConnectionError from SC2: relaunch the game, count nothing,
            # and report an ended episode with an empty info.
            self._full_restart()
            return 0, True, {}
        self._total_steps += 1
        self._episode_steps += 1
        if self._crash_at is not None and self._total_steps >= self._crash_at:
            if self._crash_how == "exit":
                os._exit(3)  # what an SC2 segfault looks like from the parent: no reply, no traceback
            raise RuntimeError(f"stand-in crash at step {self._total_steps}")

        enemy_deaths = self._alive_enemy & (self._rng.rand(self.n_enemies) < self._p_enemy)
        ally_deaths = self._alive_ally & (self._rng.rand(self.n_agents) < self._p_ally)
        self._alive_enemy &= ~enemy_deaths
        self._alive_ally &= ~ally_deaths
        self._health = np.where(self._alive_ally, np.maximum(self._health - 0.01 * self._rng.rand(self.n_agents), 0.05), 0.0)

        reward = float(enemy_deaths.sum() * self.reward_death_value)
        info: Dict[str, Any] = {"battle_won": False}
        info["dead_allies"] = int((~self._alive_ally).sum())
        info["dead_enemies"] = int((~self._alive_enemy).sum())
        terminated = False
        allies_left, enemies_left = self._alive_ally.any(), self._alive_enemy.any()
        if not allies_left or not enemies_left:
            terminated = True
            if allies_left:  # won; a mutual wipe-out is a draw, as in SMAC
                info["battle_won"] = True
                reward += self.reward_win
        elif self._episode_steps >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
        if self.reward_scale:
            reward /= self.max_reward / self.reward_scale_rate
        return reward, terminated, info

    def get_obs(self) -> List[np.ndarray]:
        return [self.get_obs_agent(i) for i in range(self.n_agents)]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        if not self._alive_ally[agent_id]:
            obs = np.zeros(self.get_obs_size(), dtype=np.float32)
        else:
            others = np.delete(self._health, agent_id)
            feats = [
                np.array(self.get_avail_agent_actions(agent_id)[2:N_ACTIONS_NO_ATTACK], dtype=np.float32),
                self._alive_enemy.astype(np.float32),
                others.astype(np.float32),
                np.array([self._health[agent_id], self._episode_steps / self.episode_limit], dtype=np.float32),
            ]
            if self.obs_timestep_number:
                feats.append(np.zeros(1, dtype=np.float32))  # SMAC's own-features slot it counts, never fills
            obs = np.concatenate(feats).astype(np.float32)
        if self.obs_timestep_number:  # SMAC's bug: appended on top of the counted slot, dead or alive
            obs = np.append(obs, np.float32(self._episode_steps / self.episode_limit))
        return obs

    def get_obs_size(self) -> int:
        # obs_timestep_number: SMAC counts one own feature for it (get_obs_own_feats_size)
        return 4 + self.n_enemies + (self.n_agents - 1) + 2 + int(self.obs_timestep_number)

    def get_state(self) -> np.ndarray:
        parts = [self._health, self._alive_enemy.astype(np.float32)]
        if self.state_last_action:
            parts.append(self.last_action.reshape(-1))
        return np.concatenate(parts).astype(np.float32)

    def get_state_size(self) -> int:
        size = self.n_agents + self.n_enemies
        if self.state_last_action:
            size += self.n_agents * self.n_actions
        return size

    def get_avail_agent_actions(self, agent_id: int) -> List[int]:
        if not self._alive_ally[agent_id]:
            return [1] + [0] * (self.n_actions - 1)
        return [0, 1, 1, 1, 1, 1] + [int(a) for a in self._alive_enemy]

    def get_avail_actions(self) -> List[List[int]]:
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_total_actions(self) -> int:
        return self.n_actions

    def seed(self):
        return self._seed

    def close(self) -> None:
        self._close_game()
        self.closed = True

    # -- internals ---------------------------------------------------------------------------
    def _close_game(self) -> None:
        if self._game is not None:
            time.sleep(self._close_s)  # pysc2 asks SC2 to quit and waits before it terminates it
            self._game.terminate()
            self._game.wait()
            self._record(f"closed {self._game.pid}")
            self._game = None

    def _full_restart(self) -> None:
        self._close_game()
        self._launch()
        self.force_restarts += 1
        self._alive_ally[:] = False  # the old game's units are gone: observing them now is a bug

    def _launch(self) -> None:
        self.ai_level = DIFFICULTIES[self.difficulty]  # KeyError for a bad one, at the first reset, as in SMAC
        self._game = subprocess.Popen(["sleep", "3600"])  # stands for SC2_x64, a child like pysc2's
        self._record(f"launch {self._game.pid}")

    def _record(self, event: str) -> None:
        if self._log:
            with open(self._log, "a") as f:
                f.write(event + "\n")

    def _new_battle(self) -> None:
        self._alive_ally = np.ones(self.n_agents, dtype=bool)
        self._alive_enemy = np.ones(self.n_enemies, dtype=bool)
        self._health = np.ones(self.n_agents, dtype=np.float64)
        self.last_action = np.zeros((self.n_agents, self.n_actions))


class RestartingStandIn(StandInSC2):
    """For runs built from a config, which passes only SMAC's keywords: SMAC restarts itself every
    7th step."""

    def __init__(self, **kwargs):
        super().__init__(**{"standin_restart_every": 7, **kwargs})
