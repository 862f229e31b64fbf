"""VDN (Sunehag et al. 2017): Q_tot is the sum of the agents' Qs."""

from __future__ import annotations

import torch

from mafac.mixers.base import MixInput, Mixer


class VDNMixer(Mixer):
    description = "value decomposition: Q_tot = sum_i Q_i"

    def forward(self, inp: MixInput) -> torch.Tensor:
        return inp.agent_qs.sum(dim=-1, keepdim=True)
