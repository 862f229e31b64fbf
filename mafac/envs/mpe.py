"""MPE (JaxMARL's Multi-Agent Particle Environments) as a batched mafac env: the cooperative tasks
with discrete actions.

Like the smax backend, every env of a runner is stepped by ONE jitted, vmapped call that also
auto-resets finished episodes. The maps (JaxMARL 0.2.0's classes, their default sizes):

  simple_spread_v3            3 agents cover 3 landmarks without colliding; 5 actions
  simple_reference_v3         2 agents, 3 coloured landmarks; each must reach the goal landmark
                              that only the other one sees, so both move and talk: 50 actions
                              (5 moves x 10 words)
  simple_speaker_listener_v4  a speaker that sees the goal colour and says one of 3 words, a
                              listener that moves (5 actions) and hears it

Actions: 0 no-op, 1 / 2 push -x / +x, 3 / 4 push -y / +y (simple_reference: move = a % 5, word =
a // 5; the speaker: word = a). Agents with fewer actions than the map's widest agent (the speaker,
3 of 5) have the rest unavailable; every other action is always available.

Episodes end at `max_steps` (25, PettingZoo's max_cycles) as a time limit: `truncated`, never
`terminated`, so the learner bootstraps there. JaxMARL's own done comes one step later (it tests
the step count before counting the step), so it never fires here. There is no win: `battle_won` is
always False and the env's metric is the test return (`metric`).

Team reward: the sum of the agents' rewards (JaxMARL's Q-learning baselines, CTRolloutManager; EPyMARL's
PettingZoo wrapper), times `reward_scale`. Per step, with JaxMARL's local_ratio 0.5:
  spread    0.5 * -(colliding pairs counted from both sides) + 3 * 0.5 * -(sum over landmarks of
            the nearest agent's distance)
  reference -(agent 0's distance to its goal landmark + agent 1's to its own)
  speaker   2 * -(squared distance of the listener to the goal landmark)

Observations: JaxMARL's, kept as they are (names: `obs_feature_names()`; bounds: `feature_bounds()`,
derived from the physics in `_physics_bounds`; tests/test_mpe_env.py plays episodes to their end and
holds every feature to its bounds and its definition):
  velocity_x/_y        the agent's own velocity                                 |v| <= V
  position_x/_y        its absolute position (spread only)                      |p| <= 1 + P
  landmark_j.rel_x/_y  landmark j's position minus the agent's                  |.| <= 2 + P
  other_k.rel_x/_y     the k-th other agent's (in index order) minus the agent's  |.| <= 2 + 2P
  other_k.comm_c       spread: the other agents' messages; they are silent, so always 0
  goal_colour_j        reference: the colour the OTHER agent's goal landmark is drawn in, 0.75 on
                       it and 0.25 elsewhere; speaker: 0.65 on the goal landmark, 0.15 elsewhere
  comm_c               the word the other agent (reference) or the speaker (listener) said on this
                       step: one-hot {0, 1}, all 0 before the first step
  pad_k                zeros: the speaker's 3 features are padded to the listener's 11 (at the end)
Positions start uniform in [-1, 1]^2 and landmarks never move. Velocities follow
v' = (1 - damping) v + dt F / m (damping 0.25, dt 0.1, m 1) with no speed limit, F = a push of
accel 5 along one axis plus, in spread only (the one map whose agents collide), a soft contact
force of at most contact_force (100) x (2 radii + margin ln 2) per other agent. So per axis
|v| <= V = dt F_max / damping and positions move at most P = dt x (sum of that bound over the
episode's steps) from their start: V = 2.0, P = 4.2 without collisions (reference, speaker), and
V = 26.1, P = 54.7 in spread, a hard but loose bound (random play, 8 envs x 20 episodes, reaches
|v| 4.2 and |p| 3.3; pushing +x all episode, |p| 5.4).

State: the concatenation of every agent's unpadded observation, in agent order (JaxMARL's default
global state for MPE; `state_feature_names()` prefixes each name with its agent), so it holds every
position, velocity, goal and word, and its features have the bounds above. MPE's own env state
(absolute positions and goal indices) is not given: the observations already determine it up to
the landmarks' absolute positions.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.envs.jax_setup import import_jax
from mafac.errors import MafacError
from mafac.options import build_options

# map -> (JaxMARL module, class)
MPE_TASKS = {
    "simple_spread_v3": ("simple_spread", "SimpleSpreadMPE"),
    "simple_reference_v3": ("simple_reference", "SimpleReferenceMPE"),
    "simple_speaker_listener_v4": ("simple_speaker_listener", "SimpleSpeakerListenerMPE"),
}
MPE_MAPS = tuple(MPE_TASKS)
EPISODE_STEPS = 25  # PettingZoo's max_cycles for MPE, JaxMARL's MAX_STEPS


@dataclass
class MPEConfig:
    """The `env.kwargs.*` options of the mpe backend (all recorded in a run's config.yaml)."""

    max_steps: int = EPISODE_STEPS  # the episode length; reaching it is a truncation
    reward_scale: float = 1.0  # times the team reward (the sum of the agents' rewards)

    def check(self) -> None:
        if self.max_steps < 1:
            raise MafacError(f"bad value {self.max_steps!r} for env.kwargs.max_steps; it must be >= 1")
        if not (math.isfinite(self.reward_scale) and self.reward_scale > 0):
            raise MafacError(f"bad value {self.reward_scale!r} for env.kwargs.reward_scale; it must be a finite number > 0")


def _import_task(map_name: str):
    from mafac.envs.smax import import_jaxmarl_module

    module, cls = MPE_TASKS[map_name]
    mod = import_jaxmarl_module(f"jaxmarl.environments.mpe.{module}")
    return getattr(mod, cls)


def _agent_features(map_name: str, n_agents: int, n_landmarks: int, dim_c: int) -> List[List[Tuple[str, str]]]:
    """Per agent, its observation's (feature name, kind) in JaxMARL's order (see the module doc)."""
    landmarks = [(f"landmark_{j}.rel_{x}", "landmark_rel") for j in range(n_landmarks) for x in "xy"]
    velocity = [("velocity_x", "velocity"), ("velocity_y", "velocity")]
    if map_name == "simple_spread_v3":
        others = range(n_agents - 1)
        own = velocity + [("position_x", "position"), ("position_y", "position")] + landmarks
        return [own + [(f"other_{k}.rel_{x}", "agent_rel") for k in others for x in "xy"]
                + [(f"other_{k}.comm_{c}", "silent") for k in others for c in range(dim_c)]] * n_agents
    if map_name == "simple_reference_v3":
        return [velocity + landmarks + [(f"goal_colour_{j}", "other_goal_colour") for j in range(n_landmarks)]
                + [(f"comm_{c}", "word") for c in range(dim_c)]] * n_agents
    return [[(f"goal_colour_{j}", "goal_colour") for j in range(n_landmarks)],
            velocity + landmarks + [(f"comm_{c}", "word") for c in range(dim_c)]]


def _physics_bounds(env, steps: int) -> Tuple[float, float]:
    """(V, P): a per-axis bound on any agent's velocity, and on how far it can move from its start,
    over `steps` steps of JaxMARL's integrator (SimpleMPE._integrate_state; see the module doc)."""
    rad, collide = np.asarray(env.rad, dtype=float), np.asarray(env.collide, dtype=bool)
    force = float(np.max(np.asarray(env.accel, dtype=float)))
    if collide[:env.num_agents].any():  # the soft contact force: contact_force x penetration per pair
        penetration = 2 * rad[collide].max() + env.contact_margin * math.log(2)
        force += (int(collide.sum()) - 1) * env.contact_force * penetration
    force /= float(np.min(np.asarray(env.mass, dtype=float)))
    keep = 1.0 - env.damping
    v_max = env.dt * force / env.damping  # the limit of |v_t| <= dt F (1 - keep^t) / damping
    moved = env.dt * v_max * (steps - (1 - keep ** steps) / env.damping)  # dt x the sum of those over t < steps
    return v_max, moved


def feature_range(kind: str, v_max: float, moved: float) -> Tuple[float, float]:
    """The [low, high] of one kind of feature (see the module doc)."""
    bound = {"velocity": v_max, "position": 1 + moved, "landmark_rel": 2 + moved, "agent_rel": 2 + 2 * moved}
    if kind in bound:
        return -bound[kind], bound[kind]
    return {"silent": (0.0, 0.0), "pad": (0.0, 0.0), "word": (0.0, 1.0), "other_goal_colour": (0.25, 0.75),
            "goal_colour": (0.15, 0.65)}[kind]


@dataclass(frozen=True, eq=False)
class MPESpec:
    """The static facts the pure step and reset functions read (jitted with it bound)."""

    env: Any
    agents: tuple
    obs_dim: int
    reward_scale: float
    max_steps: int


def observe(spec: MPESpec, obs_dict):
    """(obs [A, obs_dim] zero-padded at the end, state [sum of the agents' obs sizes]) of one env."""
    import jax.numpy as jnp

    raw = [obs_dict[a].astype(jnp.float32) for a in spec.agents]
    obs = jnp.stack([jnp.pad(o, (0, spec.obs_dim - o.shape[0])) for o in raw])
    return obs, jnp.concatenate(raw)


def reset_one(spec: MPESpec, key):
    obs_dict, env_state = spec.env.reset(key)
    return env_state, observe(spec, obs_dict)


def step_one(spec: MPESpec, key, env_state, actions):
    """One env's step with auto-reset at the time limit: (next state, final obs, next obs, team
    reward, truncated)."""
    import jax
    import jax.numpy as jnp

    k_step, k_reset = jax.random.split(key)
    act = {a: actions[i] for i, a in enumerate(spec.agents)}
    obs_dict, new_state, rewards, _, _ = spec.env.step_env(k_step, env_state, act)
    truncated = new_state.step >= spec.max_steps
    final = observe(spec, obs_dict)
    reset_state, start = reset_one(spec, k_reset)
    next_state = jax.tree.map(lambda r, s: jnp.where(truncated, r, s), reset_state, new_state)
    nxt = jax.tree.map(lambda r, s: jnp.where(truncated, r, s), start, final)
    reward = sum(rewards[a] for a in spec.agents) * spec.reward_scale
    return next_state, final, nxt, reward.astype(jnp.float32), truncated


def _batch_reset(spec: MPESpec, n_envs: int, key):
    import jax

    states, start = jax.vmap(functools.partial(reset_one, spec))(jax.random.split(key, n_envs))
    # weak types stripped so that step's input signature never changes (see smax._batch_reset)
    return jax.tree.map(lambda x: x.astype(x.dtype), states), start


def _batch_step(spec: MPESpec, n_envs: int, key, env_states, actions):
    """Every env's step; what the host needs comes back packed in one float32 [n_envs, F] array
    (final obs, final state, next obs, next state, reward, truncated): one device-to-host copy."""
    import jax
    import jax.numpy as jnp

    key, sub = jax.random.split(key)
    states, final, nxt, reward, trunc = jax.vmap(functools.partial(step_one, spec))(
        jax.random.split(sub, n_envs), env_states, actions)
    parts = [x.reshape(n_envs, -1) for x in (*final, *nxt)]
    parts += [x.astype(jnp.float32)[:, None] for x in (reward, trunc)]
    return key, states, jnp.concatenate(parts, axis=1)


class MPEEnv(BatchedEnv):
    name = "mpe"
    Config = MPEConfig
    cheap_to_build = True  # nothing is compiled until the first reset
    metric = "test_return"  # no win in MPE: tables and plots default to the test return
    simulator = "jaxmarl"

    def __init__(self, map_name: str, n_envs: int, seed: int, **options: Any) -> None:
        super().__init__(map_name, n_envs, seed)
        if map_name not in MPE_TASKS:
            from mafac.errors import unknown

            raise unknown("mpe map", map_name, MPE_MAPS)
        self.options = opt = build_options(MPEConfig, options, "env.kwargs")
        jax = import_jax()
        env = _import_task(map_name)(action_type="Discrete", max_steps=opt.max_steps)
        self._env = env
        agents = tuple(env.agents)
        sizes = [int(env.observation_spaces[a].shape[0]) for a in agents]
        n_actions = [int(env.action_spaces[a].n) for a in agents]
        a, o, s, u = len(agents), max(sizes), sum(sizes), max(n_actions)
        self._spec = spec = MPESpec(env, agents, o, float(opt.reward_scale), int(opt.max_steps))
        self._features = _agent_features(map_name, env.num_agents, env.num_landmarks, env.dim_c)
        if [len(f) for f in self._features] != sizes:
            from mafac.envs.smax import JAXMARL_TESTED

            raise MafacError(f"jaxmarl {self.simulator_version()}'s {map_name} observations have {sizes} features per agent, "
                             f"not those mafac's mpe backend was written for (pip install jaxmarl=={JAXMARL_TESTED})")
        self._avail = np.arange(u)[None, :] < np.asarray(n_actions)[:, None]  # [A, u]
        self._batch_reset = jax.jit(functools.partial(_batch_reset, spec, n_envs))
        self._batch_step = jax.jit(functools.partial(_batch_step, spec, n_envs), donate_argnums=(1,))
        self._widths = [a * o, s, a * o, s, 1, 1]  # the packed step output's column blocks
        self._jax = jax
        self._key = jax.random.PRNGKey(seed)
        self._states: Any = None
        self._info = EnvInfo(n_agents=a, n_actions=u, obs_dim=o, state_dim=s, episode_limit=int(opt.max_steps))

    @classmethod
    def maps(cls) -> Sequence[str]:
        return MPE_MAPS

    @property
    def info(self) -> EnvInfo:
        return self._info

    @property
    def agents(self) -> Tuple[str, ...]:
        return self._spec.agents

    def obs_feature_names(self) -> List[List[str]]:
        """Per agent, one name per (padded) observation feature, e.g. 'landmark_2.rel_y', 'pad_0'."""
        return [[n for n, _ in f] + [f"pad_{k}" for k in range(self._info.obs_dim - len(f))] for f in self._features]

    def state_feature_names(self) -> List[str]:
        """One name per state feature: '<agent>.<its observation feature>'."""
        return [f"{a}.{n}" for a, f in zip(self.agents, self._features) for n, _ in f]

    def feature_bounds(self) -> Dict[str, np.ndarray]:
        """{'obs_low', 'obs_high': [A, obs_dim], 'state_low', 'state_high': [state_dim]}: the range
        every feature stays in over an episode of `max_steps` steps (see the module doc)."""
        v_max, moved = _physics_bounds(self._env, self._spec.max_steps)
        per_agent = [[feature_range(k, v_max, moved) for _, k in f] for f in self._features]
        pad = feature_range("pad", v_max, moved)
        obs = np.array([r + [pad] * (self._info.obs_dim - len(r)) for r in per_agent], dtype=np.float64)
        state = np.array([x for r in per_agent for x in r], dtype=np.float64)
        return {"obs_low": obs[..., 0], "obs_high": obs[..., 1], "state_low": state[:, 0], "state_high": state[:, 1]}

    def _available(self) -> np.ndarray:
        return np.repeat(self._avail[None], self.n_envs, axis=0)

    def reset(self, seed: int | None = None) -> Observation:
        jax = self._jax
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        self._key, sub = jax.random.split(self._key)
        self._states, (obs, state) = self._batch_reset(sub)
        return Observation(np.asarray(obs), np.asarray(state), self._available())

    def step(self, actions: np.ndarray) -> Transition:
        if self._states is None:
            raise RuntimeError("reset() must be called before step()")
        self._key, self._states, packed = self._batch_step(self._key, self._states, np.asarray(actions, dtype=np.int32))
        return self._transition(packed)

    def _transition(self, packed) -> Transition:
        p = np.array(packed)  # one writable host copy; the blocks below are views of it
        n, info = self.n_envs, self._info
        blocks = np.split(p, np.cumsum(self._widths)[:-1], axis=1)
        final_obs, final_state, next_obs, next_state, reward, trunc = blocks
        shape = (n, info.n_agents, info.obs_dim)
        truncated = trunc[:, 0] > 0.5
        no = np.zeros(n, dtype=bool)
        return Transition(final_obs.reshape(shape), final_state, self._available(), reward[:, 0], no.copy(),
                          truncated, no, Observation(next_obs.reshape(shape), next_state, self._available()))

    def snapshot(self) -> dict:
        """The PRNG key and the env states' leaves as plain numpy arrays (see SMAXEnv.snapshot)."""
        jax = self._jax
        return {"key": np.asarray(self._key), "leaves": [np.asarray(x) for x in jax.tree.leaves(jax.device_get(self._states))]}

    def restore(self, snapshot: dict) -> None:
        jax, jnp = self._jax, self._jax.numpy
        expect, treedef = jax.tree.flatten(jax.eval_shape(self._batch_reset, self._key)[0])
        leaves = snapshot["leaves"]
        if len(leaves) != len(expect) or any(tuple(x.shape) != tuple(e.shape) or np.dtype(x.dtype) != np.dtype(e.dtype)
                                             for x, e in zip(leaves, expect)):
            got = ", ".join(f"{np.dtype(x.dtype)}{list(x.shape)}" for x in leaves)
            need = ", ".join(f"{np.dtype(e.dtype)}{list(e.shape)}" for e in expect)
            raise MafacError(f"mpe snapshot holds state arrays [{got}], this env needs [{need}]")
        self._key = jnp.asarray(snapshot["key"])
        self._states = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in leaves])
