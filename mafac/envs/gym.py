"""Python multi-agent envs as a batched mafac env: Gymnasium tuple-space envs (the form EPyMARL
reads: Level-Based Foraging, the Multi-Robot Warehouse) and PettingZoo ParallelEnvs.

Maps (`--map`), checked for their form by `GymEnv.check_map` before anything is imported:
  [module:]EnvName-vN            a gymnasium id; `module` is imported first (it registers its ids),
                                 as in gymnasium.make: lbforaging:Foraging-8x8-2p-2f-coop-v3,
                                 rware:rware-tiny-2ag-v2
  pettingzoo:module[:factory]    a PettingZoo ParallelEnv: `module.factory(**make_kwargs)`, by
                                 default `module.parallel_env` (PettingZoo's own convention), e.g.
                                 pettingzoo:meet:MeetEnv for a class MeetEnv in meet.py
A module that does not import from the installed packages is looked for in the current directory,
so a one-file env is trained from the folder that holds it (docs/environments.md).

Python envs cannot be vmapped: `step` calls each env's own step in turn, and everything around that
call (actions out, observations, masks, rewards in) is one array operation per env, not per agent,
wherever the env's API allows (a PettingZoo env speaks in per-agent dicts, so there it is one dict
look-up per agent).

What mafac makes of them, as EPyMARL does unless said otherwise:
  obs          each agent's observation flattened to float32; every agent's must have one shape
               (the agents share one network), or the env is refused naming the agents' shapes
  avail        PettingZoo's `action_mask` (in the observation dict or the info) or a gymnasium
               env's info["action_mask"]; all actions where the env gives none (LBF, RWARE). An
               agent that has left a PettingZoo episode early gets action 0 alone and zeros as
               its observation, as SMAC's dead agents do; so does an agent whose mask is empty
  state        the env's own `state()` where it has one, else the agents' observations
               concatenated in agent order (EPyMARL's and JaxMARL's default)
  reward       the team reward: the sum of the agents' rewards
  ends         `terminated` only where the env says so; the time limit is mafac's own and ends
               an episode as `truncated` (the learner bootstraps there). The limit is
               env.kwargs.time_limit, else the env's own: its constructor's `max_episode_steps`
               or `max_steps` (LBF 50, RWARE 500), its spec's `max_episode_steps`, a PettingZoo
               env's `max_cycles`. LBF and RWARE report their own limit as `done` (terminated,
               never truncated), which would make every time-out look terminal; so their own
               limit is set one step past mafac's and never fires (EPyMARL keeps their time-outs
               terminal). A gymnasium TimeLimit wrapper from the spec is dropped for the same
               reason: mafac counts the steps itself.
  battle_won   always False: nothing is won, so runs are judged by their test return (`metric`)

Snapshots: none (`snapshot()` is None, so a resumed run restarts its episodes). A Python env's
state is arbitrary objects; a checkpoint holds only plain data and never unpickles code, and an
env pickled into it would make loading a checkpoint run code.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.errors import MafacError, first_line
from mafac.options import build_options

PETTINGZOO = "pettingzoo:"
EXTRA_PACKAGES = ("gymnasium", "pettingzoo", "lbforaging", "rware")
INSTALL = "pip install -e .[gym]"
# The EPyMARL benchmark's tasks (Papoudakis et al. 2021), at the versions on PyPI today
EXAMPLE_MAPS = (
    "lbforaging:Foraging-8x8-2p-2f-coop-v3", "lbforaging:Foraging-2s-8x8-2p-2f-coop-v3",
    "lbforaging:Foraging-10x10-3p-3f-v3", "lbforaging:Foraging-2s-10x10-3p-3f-v3",
    "lbforaging:Foraging-15x15-3p-5f-v3", "lbforaging:Foraging-15x15-4p-3f-v3",
    "lbforaging:Foraging-15x15-4p-5f-v3",
    "rware:rware-tiny-2ag-v2", "rware:rware-tiny-4ag-v2", "rware:rware-small-4ag-v2",
)
# A gymnasium env constructor's own step limit, by the names LBF (max_episode_steps) and RWARE
# (max_steps) give it
OWN_LIMIT_KWARGS = ("max_episode_steps", "max_steps")

_MODULE = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_GYM_MAP = re.compile(rf"^(?:(?P<module>{_MODULE}):)?(?P<id>[A-Za-z0-9_][\w.-]*)$")
_PZ_MAP = re.compile(rf"^{PETTINGZOO}(?P<module>{_MODULE})(?::(?P<factory>[A-Za-z_]\w*))?$")
HOW_MAPS_ARE_WRITTEN = ("gym maps are '[module:]EnvName-vN', a gymnasium id whose module is imported first "
                        "(e.g. lbforaging:Foraging-8x8-2p-2f-coop-v3, rware:rware-tiny-2ag-v2), or "
                        "'pettingzoo:module[:factory]' for a PettingZoo ParallelEnv made by module.factory() "
                        "(default module.parallel_env())")


@dataclass
class GymConfig:
    """The `env.kwargs.*` options of the gym backend (all recorded in a run's config.yaml)."""

    # keyword arguments of the env's constructor (gymnasium: on top of its registered ones), e.g.
    # --set 'env.kwargs.make_kwargs={sight: 2}'
    make_kwargs: Dict[str, Any] = field(default_factory=dict)
    time_limit: int = 0  # the episode limit (a truncation); 0: the env's own (module doc)

    def check(self) -> None:
        if not isinstance(self.make_kwargs, dict) or not all(isinstance(k, str) for k in self.make_kwargs):
            raise MafacError(f"bad value {self.make_kwargs!r} for env.kwargs.make_kwargs; expected a mapping of "
                             f"keyword arguments, e.g. --set 'env.kwargs.make_kwargs={{sight: 2}}'")
        if isinstance(self.time_limit, bool) or self.time_limit < 0:
            raise MafacError(f"bad value {self.time_limit!r} for env.kwargs.time_limit; it must be >= 0 "
                             f"(0: the env's own limit)")


def parse_map(map_name: str) -> Tuple[str, Optional[str], str]:
    """('gym', module or None, gymnasium id) or ('pettingzoo', module, factory name)."""
    pz = _PZ_MAP.match(map_name)
    if pz:
        return "pettingzoo", pz["module"], pz["factory"] or "parallel_env"
    gym = _GYM_MAP.match(map_name) if not map_name.startswith(PETTINGZOO) else None
    if gym is None:
        raise MafacError(f"bad gym map {map_name!r}; {HOW_MAPS_ARE_WRITTEN}")
    return "gym", gym["module"], gym["id"]


def _missing_extra(e: ModuleNotFoundError, map_name: str) -> Optional[MafacError]:
    top = (e.name or "").split(".")[0]
    if top in EXTRA_PACKAGES:
        return MafacError(f"the gym backend's map {map_name!r} needs the package '{top}', which is not installed: "
                          f"{INSTALL}")
    return None


def import_module(module: str, map_name: str):
    """The module a map names; one not found among the installed packages is looked for in the
    current directory too (a console script's sys.path leaves it out, `python -m` would not)."""
    here = os.getcwd()
    for retry_here in (True, False):
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as e:
            missing = _missing_extra(e, map_name)
            if missing is not None:
                raise missing from None
            if retry_here and e.name == module.split(".")[0] and here not in sys.path:
                sys.path.append(here)
                continue
            if retry_here:
                raise MafacError(f"gym map {map_name!r}: importing '{module}' failed: {first_line(e)}") from None
            raise MafacError(f"gym map {map_name!r}: no module '{module}' (installed, on PYTHONPATH or in the current "
                             f"directory {here}): {first_line(e)}") from None


def _require(package: str, map_name: str):
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as e:
        raise _missing_extra(e, map_name) or MafacError(f"gym map {map_name!r}: {first_line(e)}") from None


_LBF_ID = re.compile(r"^Foraging(?P<partial>-2s)?-(?P<size>\d+)x(?P=size)-(?P<players>\d+)p-(?P<foods>\d+)f(?P<coop>-coop)?-v3$")


def register_lbf_foods(gymnasium, env_id: str) -> None:
    """lbforaging 2.0.0 registers 1 to 4 foods, but EPyMARL's benchmark names two 5-food tasks
    (Foraging-15x15-3p-5f-v3, Foraging-15x15-4p-5f-v3; the old gym releases registered up to 9):
    an id of that pattern missing from the registry is registered as lbforaging's own loop
    registers the others, with only the number of foods beyond its range."""
    found = _LBF_ID.match(env_id)
    if found is None or env_id in gymnasium.registry or not 5 <= int(found["foods"]) <= 9:
        return
    size = int(found["size"])
    gymnasium.register(id=env_id, entry_point="lbforaging.foraging:ForagingEnv", kwargs={
        "players": int(found["players"]), "min_player_level": 1, "max_player_level": 2, "field_size": (size, size),
        "min_food_level": 1, "max_food_level": None, "max_num_food": int(found["foods"]),
        "sight": 2 if found["partial"] else size, "max_episode_steps": 50, "force_coop": bool(found["coop"]),
        "grid_observation": False, "penalty": 0.0})


@dataclass(frozen=True)
class _Reader:
    """How one agent's observations become a float32 row, and their declared range."""

    kind: str  # "box": a Box, flattened; "masked": PettingZoo's {observation, action_mask}; "flatten": any other
    space: Any
    low: np.ndarray
    high: np.ndarray

    def __call__(self, gspaces, obs) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        if self.kind == "box":
            return np.asarray(obs, dtype=np.float32).reshape(-1), None
        if self.kind == "masked":
            return np.asarray(obs["observation"], dtype=np.float32).reshape(-1), np.asarray(obs["action_mask"]) != 0
        return np.asarray(gspaces.flatten(self.space, obs), dtype=np.float32), None


def _reader(gspaces, space) -> _Reader:
    if isinstance(space, gspaces.Box):
        return _Reader("box", space, np.broadcast_to(space.low, space.shape).reshape(-1).astype(np.float64),
                       np.broadcast_to(space.high, space.shape).reshape(-1).astype(np.float64))
    if isinstance(space, gspaces.Dict) and {"observation", "action_mask"} <= set(space.spaces):
        inner = _reader(gspaces, space.spaces["observation"])
        return _Reader("masked", space, inner.low, inner.high)
    flat = gspaces.flatten_space(space)
    return _Reader("flatten", space, np.asarray(flat.low, np.float64).reshape(-1), np.asarray(flat.high, np.float64).reshape(-1))


def _check_agents(map_name: str, names: Sequence[str], readers: List[_Reader], actions: List[Any], gspaces) -> Tuple[int, int, int]:
    """(obs_dim, n_actions, first action's index): one of each for every agent, or a one-line refusal."""
    dims = [len(r.low) for r in readers]
    shapes = [getattr(r.space.spaces["observation"] if r.kind == "masked" else r.space, "shape", None) for r in readers]
    if len(set(dims)) > 1:
        listed = ", ".join(f"{n} {s if s is not None else (d,)}" for n, s, d in zip(names, shapes, dims))
        raise MafacError(f"gym map {map_name!r}: its agents' observation spaces differ in shape ({listed}); the "
                         f"gym backend needs one shape for every agent (they share one network)")
    bad = [(n, a) for n, a in zip(names, actions) if not isinstance(a, gspaces.Discrete)]
    if bad:
        raise MafacError(f"gym map {map_name!r}: agent {bad[0][0]} has the action space {bad[0][1]}; the gym backend "
                         f"needs Discrete action spaces")
    counts = [int(a.n) for a in actions]
    if len(set(counts)) > 1:
        listed = ", ".join(f"{n} Discrete({c})" for n, c in zip(names, counts))
        raise MafacError(f"gym map {map_name!r}: its agents' action spaces differ in shape ({listed}); the gym "
                         f"backend needs one action space for every agent")
    starts = {int(a.start) for a in actions}
    if len(starts) > 1:
        raise MafacError(f"gym map {map_name!r}: its agents' Discrete action spaces start at different actions {sorted(starts)}")
    return dims[0], counts[0], starts.pop()


class GymEnv(BatchedEnv):
    name = "gym"
    Config = GymConfig
    cheap_to_build = True  # Python objects, built in milliseconds
    metric = "test_return"  # nothing is won: tables and plots default to the test return
    # EPyMARL's standardise_rewards: LBF and RWARE pay rarely and little (docs/environments.md)
    default_overrides = {"learner.standardise_rewards": True}

    def __init__(self, map_name: str, n_envs: int, seed: int, **options: Any) -> None:
        super().__init__(map_name, n_envs, seed)
        self.options = opt = build_options(GymConfig, options, "env.kwargs")
        self.kind, module, target = parse_map(map_name)
        gymnasium = _require("gymnasium", map_name)
        self._spaces = gymnasium.spaces
        self._envs: List[Any] = []
        if self.kind == "gym":
            make, limit = self._gym_maker(gymnasium, module, target, opt)
        else:
            make, limit = self._pettingzoo_maker(module, target, opt)
        self._make = make
        self._envs = [make() for _ in range(n_envs)]
        env = self._envs[0]
        if self.kind == "gym":
            obs_spaces, act_spaces = self._tuple_spaces(env)
            self.agents: Tuple[str, ...] = tuple(f"agent_{i}" for i in range(len(obs_spaces)))
        else:
            self.agents = tuple(env.possible_agents)
            obs_spaces = [env.observation_space(a) for a in self.agents]
            act_spaces = [env.action_space(a) for a in self.agents]
        self._readers = [_reader(self._spaces, s) for s in obs_spaces]
        obs_dim, n_actions, self._action_start = _check_agents(map_name, self.agents, self._readers, act_spaces, self._spaces)
        # every agent's observation a 1-D Box: a step's tuple of rows is stacked by one numpy call
        self._flat = all(r.kind == "box" and len(r.space.shape) == 1 for r in self._readers)
        self._limit = int(limit if opt.time_limit == 0 else opt.time_limit)
        self._only_first = np.arange(n_actions) == 0  # a finished agent's (or an empty mask's) one action
        self._own_state, state_dim, self._state_bounds = self._probe_state(env, len(self.agents) * obs_dim)
        self._info = EnvInfo(n_agents=len(self.agents), n_actions=n_actions, obs_dim=obs_dim, state_dim=state_dim,
                             episode_limit=self._limit)
        self._t = np.zeros(n_envs, dtype=np.int64)
        self._seeded = False
        self._closed = False

    # -- building ------------------------------------------------------------------------------
    def _gym_maker(self, gymnasium, module: Optional[str], env_id: str, opt: GymConfig):
        if module is not None:
            import_module(module, self.map_name)
        if module == "lbforaging":
            register_lbf_foods(gymnasium, env_id)
        try:
            spec = gymnasium.spec(env_id)
        except gymnasium.error.Error as e:
            raise MafacError(f"unknown gym map {self.map_name!r}: {first_line(e)} ({HOW_MAPS_ARE_WRITTEN})") from None
        kwargs = {**spec.kwargs, **opt.make_kwargs}
        own = [k for k in OWN_LIMIT_KWARGS if isinstance(kwargs.get(k), int) and not isinstance(kwargs[k], bool)]
        limits = [int(kwargs[k]) for k in own] + ([int(spec.max_episode_steps)] if spec.max_episode_steps else [])
        if opt.time_limit == 0 and not limits:
            raise MafacError(f"gym map {self.map_name!r} declares no episode limit; set one with "
                             f"--set env.kwargs.time_limit=STEPS")
        limit = opt.time_limit or min(limits)
        for k in own:  # the env's own limit as a termination would hide every time-out (module doc)
            kwargs[k] = limit + 1
        spec = dataclasses.replace(spec, kwargs=kwargs, max_episode_steps=None)
        name = self.map_name

        def make():
            try:
                return gymnasium.make(spec, disable_env_checker=True)
            except (TypeError, ValueError, AssertionError) as e:
                raise MafacError(f"gym map {name!r} could not be built with env.kwargs.make_kwargs "
                                 f"{opt.make_kwargs}: {type(e).__name__}: {first_line(e)}") from None

        return make, limit

    def _pettingzoo_maker(self, module: str, factory_name: str, opt: GymConfig):
        pettingzoo = _require("pettingzoo", self.map_name)
        mod = import_module(module, self.map_name)
        factory = getattr(mod, factory_name, None)
        if not callable(factory):
            raise MafacError(f"gym map {self.map_name!r}: module '{module}' has no callable '{factory_name}' "
                             f"({HOW_MAPS_ARE_WRITTEN})")
        name = self.map_name

        def make():
            try:
                env = factory(**opt.make_kwargs)
            except TypeError as e:
                raise MafacError(f"gym map {name!r} could not be built with env.kwargs.make_kwargs "
                                 f"{opt.make_kwargs}: {first_line(e)}") from None
            if isinstance(env, pettingzoo.AECEnv):
                raise MafacError(f"gym map {name!r} is a PettingZoo AEC env; the gym backend steps ParallelEnvs "
                                 f"(pettingzoo.utils.conversions.aec_to_parallel converts one)")
            if not all(hasattr(env, k) for k in ("possible_agents", "observation_space", "action_space", "step", "reset")):
                raise MafacError(f"gym map {name!r}: {factory_name}() returned a {type(env).__name__}, not a PettingZoo "
                                 f"ParallelEnv")
            return env

        limit = opt.time_limit
        if not limit:
            probe = make()
            found = opt.make_kwargs.get("max_cycles", getattr(getattr(probe, "unwrapped", probe), "max_cycles", None))
            probe.close()
            if not isinstance(found, int) or isinstance(found, bool) or found < 1:
                raise MafacError(f"gym map {self.map_name!r} declares no episode limit (no max_cycles); set one with "
                                 f"--set env.kwargs.time_limit=STEPS")
            limit = found
        return make, limit

    def _tuple_spaces(self, env):
        obs, act = env.observation_space, env.action_space
        tuple_ = self._spaces.Tuple
        if not (isinstance(obs, tuple_) and isinstance(act, tuple_) and len(obs.spaces) == len(act.spaces)):
            raise MafacError(f"gym map {self.map_name!r} is not a multi-agent env: its observation space is {obs} and "
                             f"its action space {act}, not Tuples of per-agent spaces")
        return list(obs.spaces), list(act.spaces)

    def _probe_state(self, env, concat_dim: int):
        """(whether the env has its own state(), state_dim, (low, high)), found by calling state()
        on a fresh episode: PettingZoo's base class has one that raises NotImplementedError."""
        owner = env if self.kind == "pettingzoo" else env.unwrapped
        if callable(getattr(owner, "state", None)):
            env.reset(seed=int(self.seed))
            try:
                state = np.asarray(owner.state(), dtype=np.float32).reshape(-1)
            except NotImplementedError:
                pass
            else:
                space = getattr(owner, "state_space", None)
                bounds = (np.full(state.shape, -np.inf), np.full(state.shape, np.inf))
                if isinstance(space, self._spaces.Box) and int(np.prod(space.shape)) == state.size:
                    bounds = (np.broadcast_to(space.low, space.shape).reshape(-1).astype(np.float64),
                              np.broadcast_to(space.high, space.shape).reshape(-1).astype(np.float64))
                return True, state.size, bounds
        low = np.concatenate([r.low for r in self._readers])
        high = np.concatenate([r.high for r in self._readers])
        return False, concat_dim, (low, high)

    # -- the interface -------------------------------------------------------------------------
    @classmethod
    def maps(cls) -> Sequence[str]:
        return EXAMPLE_MAPS

    @classmethod
    def check_map(cls, map_name: str) -> None:
        """Any map of the right form (module doc); whether it exists is known once it is built."""
        parse_map(map_name)

    @property
    def info(self) -> EnvInfo:
        return self._info

    def feature_bounds(self) -> Dict[str, np.ndarray]:
        """{'obs_low', 'obs_high': [A, obs_dim], 'state_low', 'state_high': [state_dim]}: the ranges
        the env declares (its spaces' Box low/high; +-inf where it declares none)."""
        return {"obs_low": np.stack([r.low for r in self._readers]), "obs_high": np.stack([r.high for r in self._readers]),
                "state_low": self._state_bounds[0], "state_high": self._state_bounds[1]}

    @property
    def envs(self) -> List[Any]:
        """The envs themselves (gymnasium or PettingZoo objects), e.g. to read their state in tests."""
        return self._envs

    def _read(self, obs, info) -> Tuple[np.ndarray, np.ndarray]:
        """One env's (obs [A, obs_dim], avail [A, n_actions]) from what its reset or step returned."""
        a, u = self._info.n_agents, self._info.n_actions
        if self.kind == "gym":
            avail = np.ones((a, u), dtype=bool)
            if self._flat:
                rows = np.asarray(obs, dtype=np.float32).reshape(a, -1)
            else:
                read = [r(self._spaces, o) for r, o in zip(self._readers, obs)]
                rows = np.stack([x for x, _ in read])
                if read[0][1] is not None:
                    avail = np.stack([m for _, m in read])
            mask = info.get("action_mask") if info else None
            if mask is not None:
                avail = np.asarray(mask).reshape(a, u) != 0
        else:
            rows = np.zeros((a, self._info.obs_dim), dtype=np.float32)
            avail = np.tile(self._only_first, (a, 1))
            for i, (agent, reader) in enumerate(zip(self.agents, self._readers)):
                o = obs.get(agent)
                if o is None:
                    continue  # left the episode: zeros, action 0 alone
                rows[i], m = reader(self._spaces, o)
                extra = info.get(agent, {}).get("action_mask") if info else None
                if extra is not None:
                    m = np.asarray(extra).reshape(-1) != 0
                avail[i] = True if m is None else m
        avail[~avail.any(-1)] = self._only_first
        return rows, avail

    def _reset_one(self, i: int, seed: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
        obs, info = self._envs[i].reset(seed=seed)
        return self._read(obs, info)

    def _state(self, obs: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        if not self._own_state:
            return obs.reshape(len(obs), -1)
        owners = [self._envs[i] if self.kind == "pettingzoo" else self._envs[i].unwrapped for i in rows]
        return np.stack([np.asarray(o.state(), dtype=np.float32).reshape(-1) for o in owners])

    def reset(self, seed: int | None = None) -> Observation:
        if self._closed:
            raise RuntimeError("the gym env is closed")
        seeds: List[Optional[int]] = [None] * self.n_envs
        if seed is not None or not self._seeded:
            # Fresh envs: a seed alone does not fix an episode where the env's reset depends on the
            # last one (LBF's spawn avoids the cells its players were left on), and evaluation needs
            # its episodes to depend on (run seed, evaluation index) alone.
            for env in self._envs:
                env.close()
            self._envs = [self._make() for _ in range(self.n_envs)]
            seq = np.random.SeedSequence(self.seed if seed is None else seed)
            seeds = [int(s) for s in seq.generate_state(self.n_envs)]
            self._seeded = True
        parts = [self._reset_one(i, s) for i, s in enumerate(seeds)]
        obs = np.stack([o for o, _ in parts])
        avail = np.stack([m for _, m in parts])
        self._t[:] = 0
        return Observation(obs, self._state(obs, range(self.n_envs)), avail)

    def step(self, actions: np.ndarray) -> Transition:
        if not self._seeded:
            raise RuntimeError("reset() must be called before step()")
        n, a, u = self.n_envs, self._info.n_agents, self._info.n_actions
        acts = (np.asarray(actions, dtype=np.int64) + self._action_start).tolist()
        obs = np.empty((n, a, self._info.obs_dim), dtype=np.float32)
        avail = np.empty((n, a, u), dtype=bool)
        reward = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        if self.kind == "gym" and self._flat:  # the common case (LBF, RWARE), kept lean: per env, not per agent
            avail[:] = True
            many = (list, tuple, np.ndarray)
            for i, env in enumerate(self._envs):
                o, r, term, trunc, info = env.step(acts[i])
                obs[i] = o  # the agents' 1-D rows, stacked by numpy
                reward[i] = sum(r) if isinstance(r, many) else r
                terminated[i] = all(term) if isinstance(term, many) else term
                truncated[i] = all(trunc) if isinstance(trunc, many) else trunc
                if info and info.get("action_mask") is not None:
                    avail[i] = np.asarray(info["action_mask"]).reshape(a, u) != 0
            empty = ~avail.any(-1)
            if empty.any():
                avail[empty] = self._only_first
        elif self.kind == "gym":
            many = (list, tuple, np.ndarray)
            for i, env in enumerate(self._envs):
                o, r, term, trunc, info = env.step(acts[i])
                obs[i], avail[i] = self._read(o, info)
                reward[i] = sum(r) if isinstance(r, many) else r
                terminated[i] = all(term) if isinstance(term, many) else term
                truncated[i] = all(trunc) if isinstance(trunc, many) else trunc
        else:
            for i, env in enumerate(self._envs):
                live = set(env.agents)
                o, r, term, trunc, info = env.step({ag: acts[i][k] for k, ag in enumerate(self.agents) if ag in live})
                obs[i], avail[i] = self._read(o, info)
                reward[i] = sum(r.values())
                ended = [term.get(ag, False) or trunc.get(ag, False) for ag in live]
                if not env.agents or all(ended):  # the episode is over once every agent has left it
                    truncated[i] = any(trunc.get(ag, False) for ag in live)
                    terminated[i] = not truncated[i]
        self._t += 1
        truncated = (truncated | (self._t >= self._limit)) & ~terminated
        state = self._state(obs, range(n))
        done = np.flatnonzero(terminated | truncated)
        nxt = Observation(obs, state, avail)
        if len(done):
            nxt = Observation(obs.copy(), state.copy(), avail.copy())
            for i in done:
                nxt.obs[i], nxt.avail_actions[i] = self._reset_one(int(i), None)
            nxt.state[done] = self._state(nxt.obs[done], done)
            self._t[done] = 0
        return Transition(obs, state, avail, reward, terminated, truncated, np.zeros(n, dtype=bool), nxt)

    def snapshot(self) -> None:
        return None  # no exact resume: see the module doc (a checkpoint never holds pickled envs)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for env in self._envs:
                env.close()
