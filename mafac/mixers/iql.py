"""IQL: no mixer. Each agent is its own Q-learner on the shared team reward."""

from __future__ import annotations

import torch

from mafac.mixers.base import MixInput, Mixer


class IQLMixer(Mixer):
    description = "independent Q-learners on the team reward (no mixing)"

    def forward(self, inp: MixInput) -> torch.Tensor:
        return inp.agent_qs

    def out_dim(self) -> int:
        return self.info.n_agents
