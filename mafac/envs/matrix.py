"""Cooperative matrix games: the small, exactly solvable games of the factorisation papers.

Two agents, fully observed. One-step games pay payoff[u1, u2] and end; `two_step` is the QMIX
paper's game where agent 1's first action picks the second stage. They run through the same
batched interface as SMAX, so every algorithm and command works on them, and they show in seconds
what the SMAC runs take hours to hint at: which joint values a mixer can represent.
`battle_won` means "the optimal return was reached", so win rates mean something here too.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.errors import MafacError, unknown

ONE_STEP = {
    "qtran_game": [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]],  # Son et al. 2019, Table 1
    "climbing": [[11, -30, 0], [-30, 7, 0], [0, 6, 5]],  # Claus & Boutilier 1998
}
TWO_STEP_2A = [[7, 7], [7, 7]]  # Rashid et al. 2018, Fig. 3
TWO_STEP_2B = [[0, 1], [1, 8]]
GAMES = ("qtran_game", "climbing", "penalty", "custom", "two_step")


def payoff_matrix(map_name: str, penalty_k: float = 100.0, payoff=None, **_) -> np.ndarray:
    """The published payoff of a one-step game, to print next to a learned joint-Q table.

    Takes the env's kwargs as they are (others such as reward_scale are ignored), so callers can
    pass `**cfg.env.kwargs`. For two_step this is the interesting stage-2B payoff; both stages
    come from `two_step_payoffs`.
    """
    if map_name in ONE_STEP:
        return np.asarray(ONE_STEP[map_name], dtype=np.float32)
    if map_name == "penalty":
        k = -_number("penalty_k", penalty_k)
        return np.asarray([[k, 0, 10], [0, 2, 0], [10, 0, k]], dtype=np.float32)
    if map_name == "custom":
        return _check_payoff(payoff)
    if map_name == "two_step":
        return np.asarray(TWO_STEP_2B, dtype=np.float32)
    raise unknown("matrix game", map_name, GAMES)


def two_step_payoffs() -> Tuple[np.ndarray, np.ndarray]:
    """two_step's stage payoffs (2A, 2B): 2A pays 7 whatever the agents do, 2B pays 8 only to
    a coordinated (1, 1), which is what makes the optimal first move hard for VDN."""
    return np.asarray(TWO_STEP_2A, dtype=np.float32), np.asarray(TWO_STEP_2B, dtype=np.float32)


def optimal_return(map_name: str, **kwargs) -> float:
    """The best episode return (unscaled by reward_scale): what `battle_won` compares against."""
    if map_name == "two_step":
        return 8.0
    return float(payoff_matrix(map_name, **kwargs).max())


def _number(name: str, value: object) -> float:
    """A kwarg from YAML may be any type; a string or None must fail as a user error, not deep inside."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise MafacError(f"bad {name} {value!r} for the matrix env; expected a finite number")
    return float(value)


def _check_payoff(payoff) -> np.ndarray:
    """Strict on purpose: numpy would quietly turn "3" into 3.0 or a ragged list into objects."""
    rows = payoff.tolist() if isinstance(payoff, np.ndarray) else payoff
    ok = (isinstance(rows, (list, tuple)) and len(rows) > 0
          and all(isinstance(r, (list, tuple)) and len(r) == len(rows[0]) > 0 for r in rows)
          and all(isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(float(x))
                  for r in rows for x in r))
    if not ok:
        shown = " ".join(repr(payoff).split())  # one line, even for a numpy array
        raise MafacError(f"bad payoff {shown} for the custom matrix game; expected a rectangular 2-D list "
                         f"of finite numbers, e.g. --set env.kwargs.payoff=[[8,-12],[-12,0]]")
    return np.asarray(rows, dtype=np.float32)


@dataclass
class MatrixConfig:
    """The `env.kwargs.*` options of the matrix backend."""

    penalty_k: float = 100.0  # the penalty game's miscoordination cost k (payoff -k)
    payoff: Optional[List[List[float]]] = None  # the custom game's payoff matrix, rows = agent 0
    reward_scale: float = 1.0


class MatrixEnv(BatchedEnv):
    """Two agents on one of `GAMES`; obs = state for both (a constant 1.0 for one-step games,
    a one-hot of {1, 2A, 2B} for two_step), so any recurrent agent network has an input."""

    name = "matrix"
    Config = MatrixConfig
    cheap_to_build = True

    def __init__(self, map_name: str, n_envs: int, seed: int, penalty_k: float = MatrixConfig.penalty_k,
                 payoff=MatrixConfig.payoff, reward_scale: float = MatrixConfig.reward_scale) -> None:
        super().__init__(map_name, n_envs, seed)
        self.two_step = map_name == "two_step"
        self.reward_scale = _number("reward_scale", reward_scale)
        self.optimum = optimal_return(map_name, penalty_k=penalty_k, payoff=payoff) * self.reward_scale
        if self.two_step:
            self.payoff = None
            n_actions, limit, dim = 2, 2, 3  # state one-hot over {1, 2A, 2B}
        else:
            self.payoff = payoff_matrix(map_name, penalty_k=penalty_k, payoff=payoff)
            n_actions, limit, dim = max(self.payoff.shape), 1, 1
        self._info = EnvInfo(n_agents=2, n_actions=n_actions, obs_dim=dim, state_dim=dim, episode_limit=limit)
        avail = np.zeros((2, n_actions), dtype=bool)
        if self.payoff is not None:  # a rectangular custom payoff: the shorter side has fewer actions
            avail[0, : self.payoff.shape[0]] = True
            avail[1, : self.payoff.shape[1]] = True
        else:
            avail[:] = True
        self._avail = avail
        self.rng = np.random.default_rng(seed)  # the games are deterministic; kept for the interface
        self.t = np.zeros(n_envs, dtype=np.int64)
        self.stage = np.zeros(n_envs, dtype=np.int64)  # two_step: 0 = state 1, 1 = 2A, 2 = 2B
        self.returns = np.zeros(n_envs, dtype=np.float64)

    stage_payoffs = staticmethod(two_step_payoffs)  # the two-step game's stage 2A and 2B tables

    def scene(self):
        from mafac.envs.matrix_scene import MatrixScene

        return MatrixScene(self)

    @classmethod
    def maps(cls) -> Sequence[str]:
        return GAMES

    @property
    def info(self) -> EnvInfo:
        return self._info

    def _observe(self, stage: np.ndarray) -> Observation:
        n = len(stage)
        if self.two_step:
            state = np.eye(3, dtype=np.float32)[stage]
        else:
            state = np.ones((n, 1), dtype=np.float32)
        obs = np.repeat(state[:, None, :], 2, axis=1)
        avail = np.broadcast_to(self._avail, (n,) + self._avail.shape).copy()
        return Observation(obs, state, avail)

    def reset(self, seed: int | None = None) -> Observation:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t[:] = 0
        self.stage[:] = 0
        self.returns[:] = 0
        return self._observe(self.stage)

    def step(self, actions: np.ndarray) -> Transition:
        """Ends are always `terminated`, never `truncated`: episode_limit is the game's own length,
        so there is nothing past it to bootstrap from."""
        actions = np.asarray(actions, dtype=np.int64)
        a1, a2 = actions[:, 0], actions[:, 1]
        if self.two_step:
            first = self.t == 0
            stage_2a = self.stage == 1
            payoff_2a, payoff_2b = two_step_payoffs()
            reward = np.where(first, 0.0, np.where(stage_2a, payoff_2a[a1, a2], payoff_2b[a1, a2]))
            next_stage = np.where(first, np.where(a1 == 0, 1, 2), self.stage)
            terminated = ~first
        else:
            reward = self.payoff[a1, a2].astype(np.float64)
            next_stage = self.stage
            terminated = np.ones(self.n_envs, dtype=bool)
        reward = (reward * self.reward_scale).astype(np.float32)
        self.returns += reward
        self.t += 1
        final = self._observe(next_stage)
        won = terminated & np.isclose(self.returns, self.optimum)
        # auto-reset the finished envs
        self.stage = np.where(terminated, 0, next_stage)
        self.t = np.where(terminated, 0, self.t)
        self.returns = np.where(terminated, 0.0, self.returns)
        return Transition(final.obs, final.state, final.avail_actions, reward, terminated,
                          np.zeros(self.n_envs, dtype=bool), won, self._observe(self.stage))

    def snapshot(self) -> Dict[str, object]:
        """Plain arrays and the generator's state dict: picklable and independent of this env."""
        return {"t": self.t.copy(), "stage": self.stage.copy(), "returns": self.returns.copy(),
                "rng": self.rng.bit_generator.state}

    def restore(self, snapshot: Dict[str, object]) -> None:
        if len(snapshot["t"]) != self.n_envs:
            raise MafacError(f"matrix env snapshot holds {len(snapshot['t'])} envs, this env has {self.n_envs}")
        self.t, self.stage = snapshot["t"].copy(), snapshot["stage"].copy()
        self.returns = snapshot["returns"].copy()
        self.rng.bit_generator.state = snapshot["rng"]
