"""Weighted QMIX (Rashid et al. 2020, "Weighted QMIX: Expanding Monotonic Value Function
Factorisation", NeurIPS): OW-QMIX and CW-QMIX.

QMIX's projection onto monotonic functions weights every joint action equally, so a rarely good
joint action (the optimum of `qtran_game`, surrounded by -12s) is averaged away. WQMIX learns an
unrestricted centralised Q* beside QMIX and projects it with a weighting w(s, u) that keeps the
joint actions that matter:

  y      = r + gamma * Q*_target(s', u'),  u' = QMIX's greedy joint action in s'
  L_*    = (Q*(s, u) - y)^2                 (Q*: a feed-forward net of the state and the Qs of its
                                             own agent network, unconstrained in sign)
  L_qmix = w(s, u) (Q_tot(s, u) - y)^2,     w = 1 or alpha
  OW (optimistic): w = 1 where Q_tot(s, u) < y, i.e. where QMIX underestimates;
  CW (central):    w = 1 where u is QMIX's greedy joint action u^ or y > Q*(s, u^).

As in the authors' code (oxwhirl/wqmix `max_q_learner.py`): Q* has its own agent network (a GRU
agent of `central_rnn_hidden_dim`, run by the shared learner as its second agent network) so that
QMIX's restricted utilities do not limit it; the targets and CW's Q*(s, u^) come from the target
networks; u' and u^ are the online QMIX agents' greedy actions (double Q). Acting is QMIX's.

Defaults: the authors' SMAC configs `ow_qmix.yaml` / `cw_qmix.yaml`: alpha (`w`) 0.1, Q* mixer of
three 256-wide ReLU layers plus V(s) (`central_mixing_embed_dim`), Q* agent GRU 64, both losses
weighted 1; QMIX's own network as in `qmix.yaml` (embed 32, two-layer hypernets of 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
from torch import nn

from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers.base import LossContext, MixInput, mask_unavailable, masked_mean, require_positive
from mafac.mixers.qmix import QMixConfig, QMixer


@dataclass
class WQMixConfig(QMixConfig):
    alpha: float = 0.1  # the weight of the joint actions w does not single out (wqmix `w`)
    central_embed_dim: int = 256  # width of Q*'s feed-forward mixer (wqmix central_mixing_embed_dim)
    central_agent_dim: int = 64  # GRU width of Q*'s own agent network (wqmix central_rnn_hidden_dim)
    central_loss_weight: float = 1.0  # wqmix central_loss


class CentralQ(nn.Module):
    """Q*(s, u) from the state and the Q* agents' utilities of u: no monotonicity, V(s) as the bias."""

    def __init__(self, n_agents: int, state_dim: int, embed: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_agents + state_dim, embed), nn.ReLU(), nn.Linear(embed, embed), nn.ReLU(),
                                 nn.Linear(embed, embed), nn.ReLU(), nn.Linear(embed, 1))
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, utilities: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([state, utilities], dim=-1)) + self.value(state)


class WQMixer(QMixer):
    """QMIX's Q_tot (what `forward` returns and the agents act on) plus Q*; subclasses pick w."""

    Config = WQMixConfig
    optimistic: bool = True

    def __init__(self, info: EnvInfo, config: WQMixConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        if not 0.0 < config.alpha <= 1.0:
            raise MafacError(f"bad value {config.alpha!r} for mixer.alpha; it must be in (0, 1] (1 is plain QMIX "
                             f"trained towards Q*)")
        require_positive(config, "central_embed_dim", "central_agent_dim")
        self.central = CentralQ(info.n_agents, info.state_dim, config.central_embed_dim)

    def second_agent_dim(self) -> Optional[int]:
        return self.config.central_agent_dim

    def central_value(self, inp: MixInput) -> torch.Tensor:
        """Q*(s, u) [B, T, 1] for the joint action in `inp`, from the second agent network's Qs."""
        if inp.second_qs is None:
            raise MafacError(f"{type(self).__name__} needs its Q* agents' Qs (MixInput.second_qs); "
                             f"train it through mafac's Learner")
        utilities = inp.second_qs.gather(-1, inp.actions.unsqueeze(-1)).squeeze(-1)
        return self.central(utilities, inp.state)

    def target_value(self, inp: MixInput) -> torch.Tensor:
        return self.central_value(inp)

    def td_weights(self, ctx: LossContext) -> torch.Tensor:
        if self.optimistic:
            full = ctx.q_tot.detach() < ctx.targets
        else:
            greedy = mask_unavailable(ctx.all_qs.detach(), ctx.avail).argmax(dim=-1)
            is_greedy = (ctx.chosen.actions == greedy).all(dim=-1, keepdim=True)
            full = is_greedy | (ctx.targets > ctx.greedy_target)
        return torch.where(full, torch.ones_like(ctx.targets), torch.full_like(ctx.targets, self.config.alpha))

    def extra_losses(self, ctx: LossContext) -> Dict[str, torch.Tensor]:
        central = self.central_value(ctx.chosen)
        return {"central_loss": self.config.central_loss_weight * masked_mean((central - ctx.targets) ** 2, ctx.mask)}


class OWQMixer(WQMixer):
    description = "Optimistically-Weighted QMIX: QMIX projected from an unrestricted Q*, w=1 where Q_tot < y"
    optimistic = True


class CWQMixer(WQMixer):
    description = "Centrally-Weighted QMIX: QMIX projected from an unrestricted Q*, w=1 at u^ or where y > Q*(s,u^)"
    optimistic = False
