"""SMAX (JaxMARL's SC2-free SMAC) as a batched mafac env.

All envs are stepped by ONE jitted, vmapped call that also auto-resets finished episodes, so the
per-step Python cost is a single dispatch whatever n_envs is. Defaults follow JaxMARL's Q-learning
baselines on SMAX (heuristic enemy, see_enemy_actions, walls_cause_death, attack_mode="closest",
rewards x10 to SMAC's scale) so numbers compare with theirs.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, Sequence

import numpy as np

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.envs.jax_setup import import_jax
from mafac.errors import unknown

# SMAX maps with SMAC names (the SMACv2-style generated scenarios are excluded: they are not SMAC).
SMAX_MAPS = (
    "3m", "8m", "25m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m",
    "2s3z", "3s5z", "3s5z_vs_3s6z", "3s_vs_5z", "6h_vs_8z",
)


@contextlib.contextmanager
def _silenced_stdout():
    """jaxmarl prints about optional submodules on import, after resetting sys.stdout, so only a
    file-descriptor-level redirect keeps that noise out of our users' output."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _import_smax():
    import_jax()
    with _silenced_stdout():
        from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario
    return HeuristicEnemySMAX, map_name_to_scenario


class SMAXEnv(BatchedEnv):
    name = "smax"

    def __init__(
        self,
        map_name: str,
        n_envs: int,
        seed: int,
        reward_scale: float = 10.0,
        see_enemy_actions: bool = True,
        walls_cause_death: bool = True,
        attack_mode: str = "closest",
        max_steps: int = 100,
        normalize_state: bool = True,
    ) -> None:
        if map_name not in SMAX_MAPS:
            raise unknown("SMAX map", map_name, SMAX_MAPS)
        super().__init__(map_name, n_envs, seed)
        jax = import_jax()
        import jax.numpy as jnp

        HeuristicEnemySMAX, map_name_to_scenario = _import_smax()
        env = HeuristicEnemySMAX(
            scenario=map_name_to_scenario(map_name),
            see_enemy_actions=see_enemy_actions,
            walls_cause_death=walls_cause_death,
            attack_mode=attack_mode,
            max_steps=max_steps,
        )
        self._env = env
        n_allies = env.num_allies
        agents = env.agents
        n_actions = env.action_spaces[agents[0]].n
        n_units = env.num_allies + env.num_enemies
        feat = len(env.own_features)
        scale = jnp.ones((feat,)).at[1].set(1.0 / env.map_width).at[2].set(1.0 / env.map_height)

        def observe(env_state, obs_dict):
            obs = jnp.stack([obs_dict[a] for a in agents])
            alive = env_state.state.unit_alive[:n_allies]
            obs = jnp.where(alive[:, None], obs, 0.0)  # SMAC gives dead agents zero observations
            world = obs_dict["world_state"]
            if normalize_state:  # positions in map units would dwarf the other features
                units = world[: n_units * feat].reshape(n_units, feat) * scale
                world = jnp.concatenate([units.reshape(-1), world[n_units * feat:]])
            avail_d = env.get_avail_actions(env_state)
            avail = jnp.stack([avail_d[a] for a in agents]).astype(bool)
            return obs.astype(jnp.float32), world.astype(jnp.float32), avail

        def reset_one(key):
            obs_dict, env_state = env.reset(key)
            return env_state, observe(env_state, obs_dict)

        def step_one(key, env_state, actions):
            k_step, k_reset = jax.random.split(key)
            act = {a: actions[i] for i, a in enumerate(agents)}
            obs_dict, new_state, rewards, dones, _ = env.step_env(k_step, env_state, act)
            alive = new_state.state.unit_alive
            allies_alive = alive[:n_allies].any()
            enemies_alive = alive[n_allies:].any()
            terminated = ~allies_alive | ~enemies_alive
            # JaxMARL tests its time limit before counting the step, so its own done comes one
            # step late (max_steps + 1 steps); episode_limit must bound an episode's length.
            truncated = (new_state.state.step >= max_steps) & ~terminated
            won = ~enemies_alive & allies_alive
            final = observe(new_state, obs_dict)
            reset_state, start = reset_one(k_reset)
            done = terminated | truncated
            next_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, new_state)
            nxt = jax.tree.map(lambda r, s: jnp.where(done, r, s), start, final)
            reward = rewards[agents[0]] * reward_scale
            return next_state, final, nxt, reward.astype(jnp.float32), terminated, truncated, won

        def batch_reset(key):
            keys = jax.random.split(key, n_envs)
            states, start = jax.vmap(reset_one)(keys)
            # Strip weak types so the states match step's outputs exactly: otherwise the second
            # step call would see a new input signature and compile the whole step again.
            states = jax.tree.map(lambda x: x.astype(x.dtype), states)
            return states, start

        def batch_step(key, env_states, actions):
            key, sub = jax.random.split(key)
            out = jax.vmap(step_one)(jax.random.split(sub, n_envs), env_states, actions)
            return (key,) + out

        self._batch_reset = jax.jit(batch_reset)
        self._batch_step = jax.jit(batch_step, donate_argnums=(1,))
        self._jax = jax
        self._key = jax.random.PRNGKey(seed)
        self._states: Any = None
        state_dim = (feat + 2) * n_units
        self._info = EnvInfo(
            n_agents=n_allies,
            n_actions=int(n_actions),
            obs_dim=int(env.obs_size),
            state_dim=int(state_dim),
            episode_limit=int(max_steps),
        )

    @classmethod
    def maps(cls) -> Sequence[str]:
        return SMAX_MAPS

    @property
    def info(self) -> EnvInfo:
        return self._info

    def reset(self, seed: int | None = None) -> Observation:
        jax = self._jax
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        self._key, sub = jax.random.split(self._key)
        self._states, (obs, state, avail) = self._batch_reset(sub)
        return Observation(np.asarray(obs), np.asarray(state), np.asarray(avail))

    def step(self, actions: np.ndarray) -> Transition:
        if self._states is None:
            raise RuntimeError("reset() must be called before step()")
        out = self._batch_step(self._key, self._states, np.asarray(actions, dtype=np.int32))
        self._key, self._states, final, nxt, reward, term, trunc, won = out
        final, nxt, reward, term, trunc, won = self._jax.device_get((final, nxt, reward, term, trunc, won))
        return Transition(
            obs=final[0], state=final[1], avail_actions=final[2],
            reward=reward, terminated=term, truncated=trunc, battle_won=won,
            next=Observation(*nxt),
        )

    def snapshot(self) -> dict:
        return {"key": np.asarray(self._key), "states": self._jax.device_get(self._states)}

    def restore(self, snapshot: dict) -> None:
        jnp = self._jax.numpy
        self._key = jnp.asarray(snapshot["key"])
        self._states = self._jax.tree.map(jnp.asarray, snapshot["states"])
