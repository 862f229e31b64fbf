"""Weighted VDN: Q_tot = sum_i w_i(s) Q_i + b(s), w_i(s) > 0 (monotonic, so IGM holds)."""
from dataclasses import dataclass

import torch
from torch import nn

from mafac.mixers import MixInput, Mixer


@dataclass
class WVDNConfig:  # becomes the `mixer.*` config section: --set mixer.hidden=64
    hidden: int = 32


class WVDNMixer(Mixer):
    Config = WVDNConfig
    description = "state-weighted VDN: sum_i w_i(s) Q_i + b(s)"  # shown by `mafac list`
    default_overrides = {"learner.lr": 0.0005}  # anything else in the config this algorithm wants

    def __init__(self, info, config: WVDNConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        s, n = info.state_dim, info.n_agents
        self.w = nn.Sequential(nn.Linear(s, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n))
        self.b = nn.Sequential(nn.Linear(s, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))

    def forward(self, inp: MixInput) -> torch.Tensor:  # -> [B, T, 1]
        w = torch.abs(self.w(inp.state)) + 1e-6  # [B, T, A]
        return (w * inp.agent_qs).sum(-1, keepdim=True) + self.b(inp.state)
