"""The one batched environment interface every backend implements.

Every array has the env batch as its leading axis, so the runner never loops over envs or agents.
Episodes auto-reset: `step` returns the *final* observation of an episode that just ended
(needed to bootstrap a truncated episode) and, separately, the first observation of the episode
that replaces it, which is what the agents act on next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class EnvInfo:
    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    episode_limit: int


@dataclass
class Observation:
    """What agents (obs, avail_actions) and the mixer (state) see at one step."""

    obs: np.ndarray  # float32 [n_envs, n_agents, obs_dim]
    state: np.ndarray  # float32 [n_envs, state_dim]
    avail_actions: np.ndarray  # bool [n_envs, n_agents, n_actions]


@dataclass
class Transition:
    """The outcome of one batched step.

    `obs/state/avail_actions` are after the step; for an env whose episode just ended
    (terminated | truncated) they are that episode's final observation, and `next` holds the first
    observation of its new episode. For the other envs `next` equals the post-step observation.
    `terminated` means a true terminal state (no bootstrap); `truncated` means the time limit
    (the learner bootstraps there). `battle_won` is only meaningful where the episode ended.
    `aborted` marks an episode that ended with no outcome because the simulator restarted itself
    (real SC2 after a lost connection); it is also `truncated`, so the learner bootstraps there,
    and it has no place in a win rate: neither won nor lost. None from a backend that never aborts.
    """

    obs: np.ndarray
    state: np.ndarray
    avail_actions: np.ndarray
    reward: np.ndarray  # float32 [n_envs]
    terminated: np.ndarray  # bool [n_envs]
    truncated: np.ndarray  # bool [n_envs]
    battle_won: np.ndarray  # bool [n_envs]
    next: Observation
    aborted: Optional[np.ndarray] = None  # bool [n_envs]; None: all False

    def __post_init__(self) -> None:
        if self.aborted is None:
            self.aborted = np.zeros(np.shape(self.terminated), dtype=bool)

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class BatchedEnv(ABC):
    """`n_envs` copies of one scenario stepped together.

    A backend registers itself under a name (entry point group `mafac.envs`); its class gives
    `maps()` so that `mafac list` and map validation need no instance.
    """

    name: ClassVar[str] = ""
    # The backend's options (`env.kwargs.*`) as a dataclass: its fields are the valid keys, its
    # defaults the backend's defaults, and every run's config.yaml records all of them. None: an
    # untyped backend (a plugin may be one) whose kwargs are passed as they are.
    Config: ClassVar[Optional[type]] = None
    # The metrics.csv column that `mafac table`, `mafac plot` and a bench's summary show by default
    # for this backend's runs (`--metric` overrides): the win rate where an episode can be won,
    # another column (MPE: test_return) where none can.
    metric: ClassVar[str] = "test_win_rate"
    # The installed distribution that simulates this backend ("" : mafac's own code): a run records
    # its name and version, and reloading the run under another version warns.
    simulator: ClassVar[str] = ""
    # {"section.key": value} the backend's tasks need elsewhere in the config, applied after the
    # preset and the mixer's, before a --config file and --set (the gym backend: reward
    # standardisation, without which LBF's sparse rewards teach nothing; docs/environments.md)
    default_overrides: ClassVar[Dict[str, object]] = {}

    def __init__(self, map_name: str, n_envs: int, seed: int, **kwargs) -> None:
        self.map_name = map_name
        self.n_envs = n_envs
        self.seed = seed

    @classmethod
    def simulator_version(cls) -> str:
        """The installed version of `simulator` ('' for none, or when it is not installed)."""
        from importlib import metadata

        try:
            return metadata.version(cls.simulator) if cls.simulator else ""
        except metadata.PackageNotFoundError:
            return ""

    def scene(self):
        """What `mafac render` draws env 0 with: an object with `figsize`, `dpi`, `margins`,
        `start()`, `step(actions) -> Transition`, `n_frames` and `draw(ax, frame)`."""
        from mafac.errors import MafacError

        raise MafacError(f"mafac render cannot draw the {self.name} backend: it has no scene")

    @classmethod
    @abstractmethod
    def maps(cls) -> Sequence[str]:
        """Names of the scenarios this backend can run."""

    @property
    @abstractmethod
    def info(self) -> EnvInfo: ...

    @abstractmethod
    def reset(self, seed: int | None = None) -> Observation:
        """Start a fresh episode in every env; a seed re-seeds first (evaluation uses this so
        that its episodes depend only on (run seed, evaluation index), not on training)."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> Transition:
        """actions: int [n_envs, n_agents], each available in the last observation."""

    def snapshot(self) -> object | None:
        """Everything needed to continue exactly from here (env states, RNG), picklable.

        A checkpoint stores it so that a resumed run equals an uninterrupted one. A backend that
        cannot (a real StarCraft II process) returns None; the runner then restarts its episodes.
        """
        return None

    def restore(self, snapshot: object) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot restore a snapshot")

    def close(self) -> None:  # noqa: B027 (optional: most backends hold nothing to release)
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
