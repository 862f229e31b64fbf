"""The DRQN every agent runs, with parameters shared across agents (PyMARL's RNNAgent).

Agents are told apart by a one-hot id in their input, and see their own last action, because with
partial observability the GRU needs both to act differently from its teammates. One call evaluates
every (env, agent) pair; training runs the GRU over whole episodes with `nn.GRU`'s fused loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from mafac.envs.base import EnvInfo

if TYPE_CHECKING:  # annotations only: the agent sits below the config layer
    from mafac.config import AgentConfig


def agent_input_dim(info: EnvInfo, cfg: AgentConfig) -> int:
    return info.obs_dim + (info.n_agents if cfg.obs_agent_id else 0) + (info.n_actions if cfg.obs_last_action else 0)


def build_inputs(obs: torch.Tensor, last_actions: torch.Tensor, info: EnvInfo, cfg: AgentConfig) -> torch.Tensor:
    """obs [..., A, obs_dim], last_actions [..., A] long (-1 = none yet) -> [..., A, input_dim]."""
    parts = [obs.float()]
    if cfg.obs_last_action:
        parts.append(F.one_hot(last_actions.clamp(min=0), info.n_actions).float() * (last_actions >= 0).unsqueeze(-1).float())
    if cfg.obs_agent_id:
        eye = torch.eye(info.n_agents, dtype=torch.float32, device=obs.device)
        parts.append(eye.expand(*obs.shape[:-2], info.n_agents, info.n_agents))
    return torch.cat(parts, dim=-1)


class StepInputs:
    """`build_inputs` for acting, into one preallocated [E, A, in] buffer: the agent ids are written
    once, and each step only copies the observations and sets the last-action one-hots, so acting
    allocates nothing per step. Same layout and values as `build_inputs` (a test holds them equal)."""

    def __init__(self, n_envs: int, info: EnvInfo, cfg: AgentConfig) -> None:
        self.buf = torch.zeros(n_envs, info.n_agents, agent_input_dim(info, cfg))
        o, n = info.obs_dim, info.n_actions
        self.obs = self.buf[..., :o]
        self.last = self.buf[..., o:o + n] if cfg.obs_last_action else None
        if cfg.obs_agent_id:
            start = o + (n if cfg.obs_last_action else 0)
            self.buf[..., start:start + info.n_agents] = torch.eye(info.n_agents)

    def __call__(self, obs: torch.Tensor, last_actions: torch.Tensor) -> torch.Tensor:
        self.obs.copy_(obs)
        if self.last is not None:
            self.last.zero_()
            self.last.scatter_(-1, last_actions.clamp(min=0).unsqueeze(-1), (last_actions >= 0).unsqueeze(-1).float())
        return self.buf


class DRQN(nn.Module):
    """input layer -> ReLU -> GRU -> Q head; with `layer_norm`, LayerNorm before the ReLU and on the
    GRU output (PQN's way of keeping Q-learning stable without a target network)."""

    def __init__(self, input_dim: int, hidden_dim: int, n_actions: int, layer_norm: bool = False) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc_in = nn.Linear(input_dim, hidden_dim)
        self.gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc_out = nn.Linear(hidden_dim, n_actions)
        # Identity holds no parameters, so an agent without LayerNorm keeps its state_dict keys
        self.norm_in = nn.LayerNorm(hidden_dim) if layer_norm else nn.Identity()
        self.norm_out = nn.LayerNorm(hidden_dim) if layer_norm else nn.Identity()

    def step(self, inputs: torch.Tensor, hidden: torch.Tensor):
        """One step for a flat batch: inputs [N, in], hidden [N, H] -> (q [N, n_actions], hidden)."""
        x = F.relu(self.norm_in(self.fc_in(inputs))).unsqueeze(1)
        out, h = self.gru(x, hidden.unsqueeze(0))
        h = h.squeeze(0)
        return self.fc_out(self.norm_out(h)), h

    def unroll(self, inputs: torch.Tensor):
        """Whole sequences from a zero state: inputs [N, T, in] -> (q [N, T, n_actions], hiddens [N, T, H])."""
        x = F.relu(self.norm_in(self.fc_in(inputs)))
        out, _ = self.gru(x)
        return self.fc_out(self.norm_out(out)), out


def build_agent(info: EnvInfo, cfg: AgentConfig) -> DRQN:
    """The agent network a config describes for an env: training, evaluation and tests all build it
    here, so a checkpoint's weights always fit the network they are loaded into."""
    return DRQN(agent_input_dim(info, cfg), cfg.hidden_dim, info.n_actions, cfg.layer_norm)


@dataclass
class EpsilonSchedule:
    """Linear annealing over env steps (PyMARL: 1.0 -> 0.05 over 50k steps)."""

    start: float
    finish: float
    anneal_steps: int

    def __call__(self, env_steps: int) -> float:
        frac = min(1.0, env_steps / max(1, self.anneal_steps))
        return self.start + frac * (self.finish - self.start)


def select_actions(q: torch.Tensor, avail: torch.Tensor, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """Epsilon-greedy over available actions only, vectorised over every leading axis.

    q, avail: [..., n_actions] -> long [...]. With probability epsilon an action is drawn uniformly
    from the *available* ones (random scores on the mask), otherwise the best available one.
    """
    masked = q.masked_fill(~avail, -float("inf"))
    greedy = masked.argmax(dim=-1)
    if epsilon <= 0.0:
        return greedy
    scores = torch.rand(avail.shape, generator=generator) * avail
    random = scores.argmax(dim=-1)
    explore = torch.rand(greedy.shape, generator=generator) < epsilon
    return torch.where(explore, random, greedy)
