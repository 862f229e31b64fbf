"""QTRAN-base (Son et al. 2019): factorise by transformation, without QMIX's monotonicity.

A joint action-value network Q_jt(s, u) is learned by plain TD; the agents' utilities are then tied
to it by two constraints, with a state value V(s) closing the gap:
  L_opt  = (sum_i max_a Q_i - Q_jt(s, u_greedy) + V(s))^2      (equality at the greedy joint action)
  L_nopt = min(0, sum_i Q_i(u_i) - Q_jt(s, u) + V(s))^2         (>= everywhere else; taken actions)
Q_jt is detached inside both, so they shape the agents and V but not Q_jt. Q_jt follows PyMARL's
"qtran_paper" network: each agent's [GRU output, one-hot action] is encoded, the encodings are
summed over agents, and the sum goes with the state through an MLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from mafac.envs.base import EnvInfo
from mafac.mixers.base import BatchView, LossExtension, MixInput, Mixer, mask_unavailable, masked_mean

@dataclass
class QTranConfig:
    embed_dim: int = 64  # PyMARL qtran.yaml mixing_embed_dim
    opt_weight: float = 1.0  # w_opt
    nopt_weight: float = 0.1  # w_nopt


def _mlp(in_dim: int, hidden: int, out_dim: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def action_encoder(agent_hidden_dim: int, n_actions: int) -> nn.Sequential:
    """PyMARL's "qtran_paper" encoding of one agent's [GRU output, one-hot action]."""
    enc = agent_hidden_dim + n_actions
    return nn.Sequential(nn.Linear(enc, enc), nn.ReLU(), nn.Linear(enc, enc))


class QTranConstraints(LossExtension):
    """L_opt and L_nopt, with the state value V(s) they need (trained by them alone)."""

    def __init__(self, mixer: Mixer, info: EnvInfo, new_agent=None) -> None:
        super().__init__(mixer, info, new_agent)
        self.value = _mlp(info.state_dim, self.config.embed_dim)

    def losses(self, view: BatchView) -> Dict[str, torch.Tensor]:
        chosen = view.chosen
        qs = mask_unavailable(chosen.all_qs, chosen.avail)
        max_qs, greedy = qs.max(dim=-1)  # [B, T, A]
        at_greedy = MixInput(max_qs, greedy, chosen.state, chosen.hidden, chosen.all_qs, chosen.avail)
        q_jt_greedy = view.mixer(at_greedy).detach()
        v = self.value(chosen.state)
        opt = max_qs.sum(dim=-1, keepdim=True) - q_jt_greedy + v
        nopt = chosen.agent_qs.sum(dim=-1, keepdim=True) - view.q_tot.detach() + v
        return {
            "opt_loss": self.config.opt_weight * masked_mean(opt ** 2, view.mask),
            "nopt_loss": self.config.nopt_weight * masked_mean(nopt.clamp(max=0.0) ** 2, view.mask),
        }


class QTranMixer(Mixer):
    Config = QTranConfig
    Extension = QTranConstraints
    description = "QTRAN-base: joint Q_jt(s,u) and V(s) with optimal / non-optimal action constraints"
    # results/reference (online) against results/reference_replay, 3 seeds each (docs/results.md)
    learner_notes = {"online": "qtran collapses on 8m under the online learner (median win rate 0.00 against "
                               "0.48 with replay; docs/results.md): --preset fast for it beyond 3m"}

    def __init__(self, info: EnvInfo, config: QTranConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        enc = agent_hidden_dim + info.n_actions
        self.action_encoder = action_encoder(agent_hidden_dim, info.n_actions)
        self.q_joint = _mlp(info.state_dim + enc, config.embed_dim)

    def forward(self, inp: MixInput) -> torch.Tensor:
        """Q_jt(s, u) [B, T, 1] for the joint action in `inp`."""
        onehot = F.one_hot(inp.actions, self.info.n_actions).float()
        encoded = self.action_encoder(torch.cat([inp.hidden, onehot], dim=-1)).sum(dim=2)
        return self.q_joint(torch.cat([inp.state, encoded], dim=-1))
