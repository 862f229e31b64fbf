"""SMAX (JaxMARL's SC2-free SMAC) as a batched mafac env.

All envs are stepped by ONE jitted, vmapped call that also auto-resets finished episodes, so the
per-step Python cost is a single dispatch whatever n_envs is. Defaults follow JaxMARL's Q-learning
baselines on SMAX (heuristic enemy, see_enemy_actions, walls_cause_death, attack_mode="closest",
rewards x10 to SMAC's scale) so numbers compare with theirs.

What the networks see, feature by feature (names: `obs_feature_names()`, `state_feature_names()`;
tests/test_smax_features.py plays episodes to the time limit and holds every one to its range and,
unit by unit, to its definition below; every per-unit maximum is that unit's own type's, so they
hold for the mixed teams of the smacv2_* maps as for the fixed ones):

Observation (JaxMARL's unit_list observation, kept as is but for the clip of the own position; all
zero for a dead agent). For each other unit, allies first, then enemies, all zero when it is dead
or out of sight:
  health            hit points / the unit type's maximum            [0, 1]
  position_x/_y     offset from the observer / observer's sight range  (-1, 1)
  last_movement_x/_y  the unit's last move as a unit vector           [-1, 1]
  last_targeted     its last attack action / its largest action index  [0, 1]
  weapon_cooldown   cooldown / the type's cooldown, clipped            [0, 1]
  unit_type_bits_k  one-hot unit type                                  {0, 1}
then the observer's own health, position / map size (clipped to [0, 1], as in the state), clipped
cooldown and type bits (all [0, 1]).

State (mafac's own, SMAC's definition rather than JaxMARL's `world_state`). For every unit, allies
then enemies, all zero when the unit is dead:
  health            hit points / the type's maximum                    [0, 1]
  position_x/_y     position / map width, height, clipped to [0, 1]. SMAX keeps moving units
                    on the map, but its collision push after a world tick can leave one a little
                    past a wall (it dies on the next tick): up to 1.004 seen on smacv2_5_units
  weapon_cooldown   cooldown / the type's cooldown, clipped to [0, 1]. JaxMARL's world_state gives
                    the raw value, which falls by 0.5 per step while a unit does not fire: an
                    unbounded "time since last shot" counter (-50 at the time limit)
  unit_type_bit_k   one-hot unit type                                  {0, 1}
then, with `state_last_action` (SMAC's default), each ally's last action one-hot (all zero at the
start of an episode). JaxMARL's tail of unit teams and raw unit-type integers (0..5) is dropped: it
is the same in every state of a map, so it carries nothing but an unnormalised constant.
`normalize_state=False` gives JaxMARL's raw world_state instead (for comparisons only).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import math
import os
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, List, Sequence

import numpy as np

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.envs.jax_setup import import_jax
from mafac.envs.smax_smacv2 import SMACV2_MAPS, build_sim
from mafac.errors import MafacError
from mafac.log import get as get_log
from mafac.options import build_options

# SMAX maps with SMAC names, then JaxMARL's SMACv2-style generated ones (mafac/envs/smax_smacv2.py:
# unit types and start positions drawn every episode; not SMACv2, see docs/environments.md).
SMAC_NAMED_MAPS = (
    "3m", "8m", "25m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m",
    "2s3z", "3s5z", "3s5z_vs_3s6z", "3s_vs_5z", "6h_vs_8z",
)
SMAX_MAPS = SMAC_NAMED_MAPS + SMACV2_MAPS


@dataclass(frozen=True)
class StateLayout:
    """Where each feature sits in the normalised state (see the module docstring)."""

    n_allies: int
    n_enemies: int
    n_types: int
    n_actions: int
    last_action: bool
    normalized: bool = True

    UNIT_FEATURES = ("health", "position_x", "position_y", "weapon_cooldown")

    @property
    def unit_dim(self) -> int:
        return len(self.UNIT_FEATURES) + self.n_types

    @property
    def dim(self) -> int:
        units = (self.n_allies + self.n_enemies) * self.unit_dim
        return units + (self.n_allies * self.n_actions if self.last_action else 0)

    def names(self) -> List[str]:
        unit = list(self.UNIT_FEATURES) + [f"unit_type_bit_{k}" for k in range(self.n_types)]
        units = [f"ally_{i}" for i in range(self.n_allies)] + [f"enemy_{j}" for j in range(self.n_enemies)]
        names = [f"{u}.{f}" for u in units for f in unit]
        if self.last_action:
            names += [f"ally_{i}.last_action_{a}" for i in range(self.n_allies) for a in range(self.n_actions)]
        return names


ATTACK_MODES = ("closest", "random")


@dataclass
class SMAXConfig:
    """The `env.kwargs.*` options of the smax backend (all recorded in a run's config.yaml)."""

    reward_scale: float = 10.0  # SMAX's team reward (at most ~2 an episode) x10 = SMAC's scale (max 20)
    max_steps: int = 100  # the episode limit; reaching it is a truncation, not a defeat
    normalize_state: bool = True  # the SMAC-style state of the module docstring; False: JaxMARL's raw one
    state_last_action: bool = True  # allies' last actions one-hot in the state (SMAC's default)
    see_enemy_actions: bool = True  # observations show enemies' last moves and targets
    walls_cause_death: bool = True
    attack_mode: str = "closest"  # the heuristic enemy's targeting: closest | random

    def check(self) -> None:
        if not (math.isfinite(self.reward_scale) and self.reward_scale > 0):
            raise MafacError(f"bad value {self.reward_scale!r} for env.kwargs.reward_scale; it must be a finite number > 0")
        if self.max_steps < 1:
            raise MafacError(f"bad value {self.max_steps!r} for env.kwargs.max_steps; it must be >= 1")
        if self.attack_mode not in ATTACK_MODES:
            raise MafacError(f"bad value {self.attack_mode!r} for env.kwargs.attack_mode; "
                             f"valid choices: {', '.join(ATTACK_MODES)}")


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


# The jaxmarl release the state/obs builders here and in mpe.py were written against.
JAXMARL_TESTED = "0.2.0"


def import_jaxmarl_module(module: str) -> types.ModuleType:
    """A jaxmarl module, jaxmarl's own chatter on stdout kept out (and one warning if the installed
    jaxmarl is not the one mafac was tested with)."""
    import_jax()
    installed = SMAXEnv.simulator_version()
    if installed != JAXMARL_TESTED and installed not in _WARNED:
        _WARNED.add(installed)
        get_log("envs").warning(f"jaxmarl {installed or '(not found)'} is installed; mafac's SMAX and MPE backends "
                                f"were written and tested for jaxmarl {JAXMARL_TESTED} "
                                f"(pip install jaxmarl=={JAXMARL_TESTED})")
    with _silenced_stdout():
        return importlib.import_module(module)


_WARNED = set()


@dataclass(frozen=True, eq=False)
class SMAXSpec:
    """The static facts of one SMAX env that its pure step and reset functions read: the JaxMARL
    env (its reset, step and avail-action functions), the agents, sizes, per-type maxima and the
    options. Built once per env; the functions below take it as their first argument, JaxMARL-style,
    and are jitted with it bound."""

    env: Any
    agents: tuple
    n_allies: int
    n_actions: int
    n_types: int
    type_health: Any  # [n_types] maximum hit points
    type_cooldown: Any  # [n_types] weapon cooldown
    map_size: Any  # [2] width, height
    reward_scale: float
    max_steps: int
    normalize_state: bool
    state_last_action: bool

    @classmethod
    def of(cls, env, reward_scale: float, max_steps: int, normalize_state: bool, state_last_action: bool) -> "SMAXSpec":
        import jax.numpy as jnp

        agents = tuple(env.agents)
        return cls(env, agents, int(env.num_allies), int(env.action_spaces[agents[0]].n), int(env.unit_type_bits),
                   jnp.asarray(env.unit_type_health), jnp.asarray(env.unit_type_weapon_cooldowns),
                   jnp.array([env.map_width, env.map_height], dtype=jnp.float32), float(reward_scale), int(max_steps),
                   bool(normalize_state), bool(state_last_action))


def world_state(spec: SMAXSpec, env_state, obs_dict, last_actions):
    """The mixer's global state, SMAC-style: every feature in [0, 1] (see the module doc)."""
    import jax
    import jax.numpy as jnp

    if not spec.normalize_state:  # JaxMARL's raw world_state: positions in map units, unbounded cooldown
        return obs_dict["world_state"]
    s = env_state.state
    alive = s.unit_alive[:, None]
    feats = jnp.concatenate([
        (s.unit_health / spec.type_health[s.unit_types])[:, None],
        jnp.clip(s.unit_positions / spec.map_size, 0.0, 1.0),
        jnp.clip(s.unit_weapon_cooldowns / spec.type_cooldown[s.unit_types], 0.0, 1.0)[:, None],
        jax.nn.one_hot(s.unit_types, spec.n_types),
    ], axis=-1)
    parts = [jnp.where(alive, feats, 0.0).reshape(-1)]
    if spec.state_last_action:
        parts.append(jax.nn.one_hot(last_actions, spec.n_actions).reshape(-1))
    return jnp.concatenate(parts)


def observe(spec: SMAXSpec, env_state, obs_dict, last_actions):
    """(obs [A, obs_dim], state [state_dim], avail [A, n_actions]) of one env."""
    import jax.numpy as jnp

    obs = jnp.stack([obs_dict[a] for a in spec.agents])
    own_pos = obs.shape[1] - spec.n_types - 3  # own position_x, _y come just before own cooldown and type bits
    obs = obs.at[:, own_pos:own_pos + 2].set(jnp.clip(obs[:, own_pos:own_pos + 2], 0.0, 1.0))
    alive = env_state.state.unit_alive[:spec.n_allies]
    obs = jnp.where(alive[:, None], obs, 0.0)  # SMAC gives dead agents zero observations
    world = world_state(spec, env_state, obs_dict, last_actions)
    avail_d = spec.env.get_avail_actions(env_state)
    avail = jnp.stack([avail_d[a] for a in spec.agents]).astype(bool)
    return obs.astype(jnp.float32), world.astype(jnp.float32), avail


def reset_one(spec: SMAXSpec, key):
    import jax.numpy as jnp

    obs_dict, env_state = spec.env.reset(key)
    no_actions = jnp.full((spec.n_allies,), -1, dtype=jnp.int32)  # one_hot(-1) = all zeros
    return env_state, observe(spec, env_state, obs_dict, no_actions)


def step_one(spec: SMAXSpec, key, env_state, actions):
    """One env's step with auto-reset: (next state, final obs, next obs, reward, terminated,
    truncated, won, the state before any reset)."""
    import jax
    import jax.numpy as jnp

    k_step, k_reset = jax.random.split(key)
    act = {a: actions[i] for i, a in enumerate(spec.agents)}
    obs_dict, new_state, rewards, dones, _ = spec.env.step_env(k_step, env_state, act)
    alive = new_state.state.unit_alive
    allies_alive = alive[:spec.n_allies].any()
    enemies_alive = alive[spec.n_allies:].any()
    terminated = ~allies_alive | ~enemies_alive
    # JaxMARL tests its time limit before counting the step, so its own done comes one step late
    # (max_steps + 1 steps); episode_limit must bound an episode's length.
    truncated = (new_state.state.step >= spec.max_steps) & ~terminated
    won = ~enemies_alive & allies_alive
    final = observe(spec, new_state, obs_dict, actions)
    reset_state, start = reset_one(spec, k_reset)
    done = terminated | truncated
    next_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, new_state)
    nxt = jax.tree.map(lambda r, s: jnp.where(done, r, s), start, final)
    reward = rewards[spec.agents[0]] * spec.reward_scale
    return next_state, final, nxt, reward.astype(jnp.float32), terminated, truncated, won, new_state


def _batch_reset(spec: SMAXSpec, n_envs: int, key):
    import jax

    keys = jax.random.split(key, n_envs)
    states, start = jax.vmap(functools.partial(reset_one, spec))(keys)
    # Strip weak types so the states match step's outputs exactly: otherwise the second step call
    # would see a new input signature and compile the whole step again.
    states = jax.tree.map(lambda x: x.astype(x.dtype), states)
    return states, start


def _batch_step(spec: SMAXSpec, n_envs: int, key, env_states, actions, keep_stepped=False):
    """One step of every env; everything the host needs comes back packed in one float32
    [n_envs, F] array (see `SMAXEnv._unpack`): one device-to-host copy instead of ten.
    `keep_stepped` also returns the states before auto-reset (`step_with_states`)."""
    import jax
    import jax.numpy as jnp

    key, sub = jax.random.split(key)
    states, final, nxt, reward, term, trunc, won, stepped = jax.vmap(functools.partial(step_one, spec))(
        jax.random.split(sub, n_envs), env_states, actions)
    parts = [x.reshape(n_envs, -1).astype(jnp.float32) for x in (*final, *nxt)]
    parts += [x.astype(jnp.float32)[:, None] for x in (reward, term, trunc, won)]
    out = (key, states, jnp.concatenate(parts, axis=1))
    return out + (stepped,) if keep_stepped else out


# The jitted reset/step of each (map, n_envs, options) this process has built, most recent last.
# Tracing SMAX's step costs 2-3 CPU s per shape, more than a tiny run's training: a run whose test
# envs match its training envs, a resumed or re-evaluated run, and a test session's many runs of one
# shape trace it once per process, not once per env object.
_JITTED: "OrderedDict[tuple, tuple]" = OrderedDict()
_JITTED_KEPT = 16


def _jitted(jax: Any, spec: "SMAXSpec", map_name: str, n_envs: int, options: "SMAXConfig") -> tuple:
    key = (map_name, n_envs, repr(options))  # the options decide the spec: they key it
    if key in _JITTED:
        _JITTED.move_to_end(key)
        return _JITTED[key]
    batch_reset = functools.partial(_batch_reset, spec, n_envs)
    batch_step = functools.partial(_batch_step, spec, n_envs)
    fns = (jax.jit(batch_reset), jax.jit(batch_step, donate_argnums=(1,)),
           # compiled on first use: only `mafac render` asks for the pre-reset states
           jax.jit(lambda k, s, a: batch_step(k, s, a, keep_stepped=True)))
    _JITTED[key] = fns
    while len(_JITTED) > _JITTED_KEPT:
        _JITTED.popitem(last=False)
    return fns


class SMAXEnv(BatchedEnv):
    name = "smax"
    simulator = "jaxmarl"
    Config = SMAXConfig
    cheap_to_build = True  # nothing is compiled until the first reset

    def __init__(self, map_name: str, n_envs: int, seed: int, **options: Any) -> None:
        super().__init__(map_name, n_envs, seed)
        self.options = opt = build_options(SMAXConfig, options, "env.kwargs")
        reward_scale, max_steps = opt.reward_scale, opt.max_steps
        normalize_state, state_last_action = opt.normalize_state, opt.state_last_action
        jax = import_jax()
        smax = import_jaxmarl_module("jaxmarl.environments.smax")
        env = build_sim(
            smax.HeuristicEnemySMAX, smax.map_name_to_scenario(map_name),
            see_enemy_actions=opt.see_enemy_actions,
            walls_cause_death=opt.walls_cause_death,
            attack_mode=opt.attack_mode,
            max_steps=max_steps,
        )
        self._env = env
        self._spec = spec = SMAXSpec.of(env, reward_scale, max_steps, normalize_state, state_last_action)
        n_allies, n_actions = spec.n_allies, spec.n_actions
        self._layout = StateLayout(n_allies, env.num_enemies, spec.n_types, n_actions,
                                   state_last_action and normalize_state, normalize_state)
        self._batch_reset, self._batch_step, self._batch_step_kept = _jitted(jax, spec, map_name, n_envs, opt)
        a, o = n_allies, int(env.obs_size)
        s = self._layout.dim if normalize_state else int(env.state_size)
        # (name, width, shape per env, dtype) in the packed step output's column order
        fields = [("obs", a * o, (a, o), np.float32), ("state", s, (s,), np.float32),
                  ("avail", a * n_actions, (a, n_actions), bool)]
        fields = [(p + n, w, sh, dt) for p in ("final_", "next_") for n, w, sh, dt in fields]
        fields += [(n, 1, (), dt) for n, dt in (("reward", np.float32), ("terminated", bool),
                                                 ("truncated", bool), ("won", bool))]
        self._fields = fields
        self._jax = jax
        self._key = jax.random.PRNGKey(seed)
        self._states: Any = None
        state_dim = self._layout.dim if normalize_state else int(env.state_size)
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

    def state_feature_names(self) -> List[str]:
        """One name per state feature, e.g. 'enemy_2.weapon_cooldown' (the raw state: 'raw_k')."""
        if not self._layout.normalized:
            return [f"raw_{k}" for k in range(self._info.state_dim)]
        return self._layout.names()

    def obs_feature_names(self) -> List[str]:
        """One name per observation feature, e.g. 'enemy_0.last_targeted', 'own.health'."""
        env = self._env
        others = [f"ally_{i}" for i in range(1, env.num_allies)] + [f"enemy_{j}" for j in range(env.num_enemies)]
        names = [f"{u}.{f}" for u in others for f in env.unit_features]
        return names + [f"own.{f}" for f in env.own_features]

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
        self._key, self._states, packed = self._batch_step(self._key, self._states,
                                                           np.asarray(actions, dtype=np.int32))
        return self._transition(packed)

    def step_with_states(self, actions: np.ndarray):
        """`step`, plus every env's JaxMARL state right after it and before any auto-reset, which
        would otherwise replace a finished episode's last state: what `mafac render` draws."""
        if self._states is None:
            raise RuntimeError("reset() must be called before step()")
        self._key, self._states, packed, stepped = self._batch_step_kept(
            self._key, self._states, np.asarray(actions, dtype=np.int32))
        return self._transition(packed), stepped

    def scene(self):
        from mafac.envs.smax_scene import SMAXScene

        return SMAXScene(self)

    @property
    def jaxmarl_env(self):
        """The JaxMARL env underneath (its `init_render` draws a state; `mafac render` uses it)."""
        return self._env

    def current_states(self):
        """Every env's JaxMARL state now (a batched pytree; `mafac render` draws the first frame)."""
        return self._states

    def _transition(self, packed) -> Transition:
        f = self._unpack(np.array(packed))  # one writable host copy; the float fields are views of it
        return Transition(
            obs=f["final_obs"], state=f["final_state"], avail_actions=f["final_avail"],
            reward=f["reward"], terminated=f["terminated"], truncated=f["truncated"], battle_won=f["won"],
            next=Observation(f["next_obs"], f["next_state"], f["next_avail"]),
        )

    def _unpack(self, packed: np.ndarray) -> dict:
        out, col, n = {}, 0, packed.shape[0]
        for name, width, shape, dtype in self._fields:
            block = packed[:, col:col + width].reshape((n,) + shape)
            out[name] = block if dtype is np.float32 else block > 0.5
            col += width
        return out

    def snapshot(self) -> dict:
        """The PRNG key and the env states' leaves as numpy arrays: plain data, no JAX or flax
        objects, so a checkpoint loads without unpickling code (mafac/checkpoint.py)."""
        jax = self._jax
        return {"key": np.asarray(self._key), "leaves": [np.asarray(x) for x in jax.tree.leaves(jax.device_get(self._states))]}

    def restore(self, snapshot: dict) -> None:
        jax, jnp = self._jax, self._jax.numpy
        # The states' structure comes from this env's own reset (traced, not run).
        shapes = jax.eval_shape(self._batch_reset, self._key)[0]
        expect, treedef = jax.tree.flatten(shapes)
        leaves = snapshot["leaves"]
        if len(leaves) != len(expect):
            raise MafacError(f"smax snapshot holds {len(leaves)} state arrays, this env has {len(expect)}")
        for i, (x, e) in enumerate(zip(leaves, expect)):
            if tuple(x.shape) != tuple(e.shape) or np.dtype(x.dtype) != np.dtype(e.dtype):
                raise MafacError(f"smax snapshot state array {i}: {x.dtype}{list(x.shape)}, this env needs "
                                 f"{np.dtype(e.dtype)}{list(e.shape)}")
        self._key = jnp.asarray(snapshot["key"])
        self._states = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in leaves])
