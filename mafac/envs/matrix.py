"""Cooperative matrix games: the small, exactly solvable games of the factorisation papers.

Two agents, fully observed. One-step games pay payoff[u1, u2] and end; `two_step` is the QMIX
paper's game where agent 1's first action picks the second stage. They run through the same
batched interface as SMAX, so every algorithm and command works on them, and they show in seconds
what the SMAC runs take hours to hint at: which joint values a mixer can represent.
`battle_won` means "the optimal return was reached", so win rates mean something here too.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

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
    """The payoff of a one-step game (for two_step: its stage-2B payoff; see `two_step_payoffs`)."""
    if map_name in ONE_STEP:
        return np.asarray(ONE_STEP[map_name], dtype=np.float32)
    if map_name == "penalty":
        k = -float(penalty_k)
        return np.asarray([[k, 0, 10], [0, 2, 0], [10, 0, k]], dtype=np.float32)
    if map_name == "custom":
        return _check_payoff(payoff)
    if map_name == "two_step":
        return np.asarray(TWO_STEP_2B, dtype=np.float32)
    raise unknown("matrix game", map_name, GAMES)


def two_step_payoffs() -> Tuple[np.ndarray, np.ndarray]:
    return np.asarray(TWO_STEP_2A, dtype=np.float32), np.asarray(TWO_STEP_2B, dtype=np.float32)


def optimal_return(map_name: str, **kwargs) -> float:
    if map_name == "two_step":
        return 8.0
    return float(payoff_matrix(map_name, **kwargs).max())


def _check_payoff(payoff) -> np.ndarray:
    try:
        arr = np.asarray(payoff, dtype=np.float32)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1 or not np.isfinite(arr).all():
        raise MafacError(f"bad payoff {payoff!r} for the custom matrix game; expected a 2-D list of numbers, "
                         f"e.g. --set env.kwargs.payoff=[[8,-12],[-12,0]]")
    return arr


class MatrixEnv(BatchedEnv):
    name = "matrix"

    def __init__(self, map_name: str, n_envs: int, seed: int, penalty_k: float = 100.0, payoff=None,
                 reward_scale: float = 1.0) -> None:
        if map_name not in GAMES:
            raise unknown("matrix game", map_name, GAMES)
        super().__init__(map_name, n_envs, seed)
        self.two_step = map_name == "two_step"
        self.reward_scale = float(reward_scale)
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
        return {"t": self.t.copy(), "stage": self.stage.copy(), "returns": self.returns.copy(),
                "rng": self.rng.bit_generator.state}

    def restore(self, snapshot: Dict[str, object]) -> None:
        self.t, self.stage = snapshot["t"].copy(), snapshot["stage"].copy()
        self.returns = snapshot["returns"].copy()
        self.rng.bit_generator.state = snapshot["rng"]
