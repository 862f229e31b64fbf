"""Qatten (Yang et al. 2020, "Qatten: A General Framework for Cooperative Multiagent Reinforcement
Learning"): Q_tot as multi-head attention over the agents' Qs.

  Q_tot(s, u) = c(s) + sum_h w_h(s) sum_i lambda_{i,h} Q_i(u_i),
  lambda_{., h} = softmax_i(q_h(s) . k_h(e_i) / sqrt(d)),   w_h(s) = |f(s)| >= 0.

The paper derives this form from a Taylor expansion of Q_tot in the Q_i; the attention weights
say how much each agent's Q matters in state s, per head. Every lambda and w_h is >= 0 and none
depends on the Q_i, so dQ_tot/dQ_i >= 0: the agents' greedy actions maximise Q_tot (as in QMIX).

Keys: the paper's e_i are agent i's own unit features, sliced from the SMAC state (`unit_dim`).
mafac's env interface has no per-unit state layout (and the matrix games have no units), so the
key reads agent i's GRU output instead, detached: the same per-agent information (its observation
history), learned rather than given, and it never feeds gradients back into the agents.

Defaults: the Qatten configuration in the QPLEX authors' pymarl (wjh720/QPLEX
`qplex_qatten_sc2.yaml`, from Qatten's authors): 4 heads, embedding 32, c(s) as a 2-layer net,
attention-logit regulariser 0.001; the head weights w_h as in the paper's formula and pymarl2's
`qatten.yaml` (`type: weighted`), from a one-layer net of the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch
from torch import nn

from mafac.envs.base import EnvInfo
from mafac.mixers.base import BatchView, LossExtension, MixInput, Mixer, masked_mean, require_positive


@dataclass
class QattenConfig:
    n_head: int = 4  # attention heads
    embed_dim: int = 32  # query/key width (QPLEX repo mixing_embed_dim)
    weighted_head: bool = True  # w_h(s) = |f(s)|; False: every head weighs 1
    attend_reg_coef: float = 0.001  # weight of the mean squared attention logit (keeps softmaxes soft)


class AttentionRegulariser(LossExtension):
    """attend_reg_coef x the mean squared attention logit (keeps the softmaxes soft); no networks."""

    def losses(self, view: BatchView) -> Dict[str, torch.Tensor]:
        if self.config.attend_reg_coef == 0:
            return {}
        _, logits = view.mixer.attention(view.chosen)
        reg = (logits ** 2).mean(-1).sum(-1)  # sum over heads of each head's mean squared logit
        return {"attend_reg": self.config.attend_reg_coef * masked_mean(reg, view.mask)}


class QattenMixer(Mixer):
    Config = QattenConfig
    Extension = AttentionRegulariser
    description = "Qatten: c(s) + sum_h w_h(s) sum_i lambda_ih(s, agent i) Q_i, multi-head attention"

    def __init__(self, info: EnvInfo, config: QattenConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        require_positive(config, "n_head", "embed_dim")
        s, e, h = info.state_dim, config.embed_dim, config.n_head
        self.queries = nn.Linear(s, h * e, bias=False)  # every head's q_h(s), one matmul
        self.keys = nn.Linear(agent_hidden_dim, h * e, bias=False)
        self.head_weights = nn.Linear(s, h)
        self.constant = nn.Sequential(nn.Linear(s, e), nn.ReLU(), nn.Linear(e, 1))  # c(s)

    def attention(self, inp: MixInput):
        """(lambda [B, T, heads, A] (softmax over agents), logits [B, T, heads, A])."""
        b, t, a = inp.agent_qs.shape
        h, e = self.config.n_head, self.config.embed_dim
        q = self.queries(inp.state).view(b, t, h, 1, e)
        k = self.keys(inp.hidden.detach()).view(b, t, a, h, e).transpose(2, 3)  # [B, T, h, A, e]
        logits = (q * k).sum(-1) / math.sqrt(e)
        return torch.softmax(logits, dim=-1), logits

    def head_weight(self, state: torch.Tensor) -> torch.Tensor:
        if not self.config.weighted_head:
            return state.new_ones(state.shape[:-1] + (self.config.n_head,))
        return torch.abs(self.head_weights(state))

    def forward(self, inp: MixInput) -> torch.Tensor:
        lam, _ = self.attention(inp)
        per_head = (lam * inp.agent_qs.unsqueeze(2)).sum(-1)  # [B, T, heads]
        return (self.head_weight(inp.state) * per_head).sum(-1, keepdim=True) + self.constant(inp.state)
