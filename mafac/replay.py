"""Episode replay: preallocated tensors, padded to the episode limit, sampled as whole episodes.

Memory is fixed by capacity at construction. The storage is `torch.empty`, so the OS hands out
pages as episodes arrive (zero-filling 1.8 GiB for 8m took 7.7 s of every run's start); that is
safe because `insert` writes whole padded rows and only inserted slots are ever sampled.
Observations and states are stored as float16 by default: SMAX features lie in [-1, 1] (held there
by tests/test_smax_features.py, which also checks the round trip on real episodes), where float16's
relative error is 2^-11 (the feature test measures the worst case on real episodes).
Layout per episode slot, with T = episode_limit:
  obs [T+1, A, obs_dim], state [T+1, S], avail [T+1, A, n_actions]: slot t = before step t; slot
      `length` holds the final observation, needed to bootstrap a truncated episode;
  actions [T, A], reward [T], terminated [T], filled [T]: one per transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch

from mafac.envs.base import EnvInfo

_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def episode_fields(info: EnvInfo, obs_dtype: torch.dtype) -> Dict[str, tuple]:
    """name -> (per-episode shape, dtype): the one definition used by buffer and runner."""
    t, a = info.episode_limit, info.n_agents
    act_dtype = torch.uint8 if info.n_actions <= 255 else torch.int16
    return {
        "obs": ((t + 1, a, info.obs_dim), obs_dtype),
        "state": ((t + 1, info.state_dim), obs_dtype),
        "avail": ((t + 1, a, info.n_actions), torch.bool),
        "actions": ((t, a), act_dtype),
        "reward": ((t,), torch.float32),
        "terminated": ((t,), torch.bool),
        "filled": ((t,), torch.bool),
    }


def allocate(fields: Dict[str, tuple], n: int, zero: bool = True, device=None) -> Dict[str, torch.Tensor]:
    make = torch.zeros if zero else torch.empty
    return {k: make((n,) + shape, dtype=dtype, device=device) for k, (shape, dtype) in fields.items()}


@dataclass
class EpisodeBatch:
    """A sampled batch, trimmed to its longest episode and converted for the learner."""

    obs: torch.Tensor  # float32 [B, L+1, A, obs_dim]
    state: torch.Tensor  # float32 [B, L+1, S]
    avail: torch.Tensor  # bool [B, L+1, A, n_actions]
    actions: torch.Tensor  # long [B, L, A]
    reward: torch.Tensor  # float32 [B, L]
    terminated: torch.Tensor  # float32 [B, L]
    mask: torch.Tensor  # float32 [B, L]

    def select(self, idx: torch.Tensor) -> "EpisodeBatch":
        """The episodes at `idx`, trimmed to the longest of them (a minibatch of an online update)."""
        length = max(1, int(self.mask[idx].sum(1).max()))
        return EpisodeBatch(self.obs[idx, : length + 1], self.state[idx, : length + 1], self.avail[idx, : length + 1],
                            self.actions[idx, :length], self.reward[idx, :length], self.terminated[idx, :length],
                            self.mask[idx, :length])


class EpisodeBuffer:
    def __init__(self, info: EnvInfo, capacity: int, obs_dtype: str = "float16", seed: int = 0,
                 device=None) -> None:
        """`device`: where the episodes are stored and batches are cut (the learner's), so a GPU
        learner's batches never cross the bus. Lengths, slots and the sampling RNG stay on the CPU:
        they are tiny, and the same draws are made on every device."""
        self.info = info
        self.capacity = capacity
        self.device = torch.device(device or "cpu")
        self.fields = episode_fields(info, _DTYPES[obs_dtype])
        self.data = allocate(self.fields, capacity, zero=False, device=self.device)
        self.lengths = torch.zeros(capacity, dtype=torch.int64)
        self.position = 0  # next slot to write
        self.size = 0
        self.inserted = 0  # episodes ever inserted
        self.generator = torch.Generator().manual_seed(seed)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.data.values()) + self.lengths.numel() * 8

    def insert(self, episodes: Dict[str, torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        """Write a batch of episodes (same field layout) in one indexed copy per field; returns slots."""
        n = lengths.shape[0]
        slots = (self.position + torch.arange(n)) % self.capacity
        for key, tensor in self.data.items():
            tensor[slots.to(self.device)] = episodes[key].to(self.device, tensor.dtype)
        self.lengths[slots] = lengths
        self.position = int((self.position + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)
        self.inserted += n
        return slots

    def sample(self, batch_size: int) -> EpisodeBatch:
        idx = torch.randint(self.size, (batch_size,), generator=self.generator)
        return self.gather(idx)

    def latest(self, n: int) -> EpisodeBatch:
        """The last `n` episodes inserted, oldest first (what an online update trains on)."""
        n = min(n, self.size)
        return self.gather((self.position - n + torch.arange(n)) % self.capacity)

    def gather(self, idx: torch.Tensor, length: Optional[int] = None) -> EpisodeBatch:
        """The episodes at `idx`, trimmed to the longest of them, or cut at `length` (the episode
        limit at most: the bench's probe times an update at the limit, the cost of late batches)."""
        # Trimming to the longest sampled episode is the big saving: SMAX episodes are often far
        # shorter than the limit, and the GRU unroll costs per step.
        if length is None:
            length = int(self.lengths[idx].max())
        length = min(int(length), self.info.episode_limit)
        d = self.data
        idx = idx.to(self.device)
        return EpisodeBatch(
            obs=d["obs"][idx, : length + 1].float(),
            state=d["state"][idx, : length + 1].float(),
            avail=d["avail"][idx, : length + 1],
            actions=d["actions"][idx, :length].long(),
            reward=d["reward"][idx, :length],
            terminated=d["terminated"][idx, :length].float(),
            mask=d["filled"][idx, :length].float(),
        )

    # -- persistence: checkpoints store only the episodes inserted since the previous one ------
    def export_since(self, inserted_before: int) -> Dict[str, torch.Tensor]:
        """The episodes inserted after the first `inserted_before` that are still stored, trimmed
        to their longest length (padding beyond an episode's end never reaches a loss)."""
        n = min(self.inserted - inserted_before, self.size)
        slots = (self.position - n + torch.arange(n)) % self.capacity
        longest = int(self.lengths[slots].max()) if n else 0
        on = slots.to(self.device)
        out = {k: v[on, : longest + 1].to("cpu", copy=True) for k, v in self.data.items()}
        out["lengths"] = self.lengths[slots].clone()
        out["slots"] = slots
        return out

    def import_shard(self, shard: Dict[str, torch.Tensor]) -> None:
        slots = shard["slots"]
        on = slots.to(self.device)
        for key, tensor in self.data.items():
            part = shard[key].to(self.device)
            tensor[on] = 0
            tensor[on, : part.shape[1]] = part
        self.lengths[slots] = shard["lengths"]

    def position_state(self) -> Dict[str, object]:
        return {"position": self.position, "size": self.size, "inserted": self.inserted,
                "generator": self.generator.get_state()}

    def load_position_state(self, state: Dict[str, object]) -> None:
        self.position = int(state["position"])
        self.size = int(state["size"])
        self.inserted = int(state["inserted"])
        self.generator.set_state(state["generator"])
