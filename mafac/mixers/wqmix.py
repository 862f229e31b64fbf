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
agent of `central_rnn_hidden_dim`, owned by the `WeightedProjection` extension with Q*'s mixer) so
that QMIX's restricted utilities do not limit it; the targets and CW's Q*(s, u^) come from the target
networks; u' and u^ are the online QMIX agents' greedy actions (double Q). Acting is QMIX's.

Defaults: the authors' SMAC configs `ow_qmix.yaml` / `cw_qmix.yaml`: alpha (`w`) 0.1, Q* mixer of
three 256-wide ReLU layers plus V(s) (`central_mixing_embed_dim`), Q* agent GRU 64, both losses
weighted 1; QMIX's own network as in `qmix.yaml` (embed 32, two-layer hypernets of 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
from torch import nn

from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers.base import BatchView, LossExtension, Mixer, TargetView, mask_unavailable, masked_mean, require_positive
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


class WeightedProjection(LossExtension):
    """Q* (its own agents and feed-forward mixer), the bootstrap from Q*, QMIX's weights and Q*'s loss."""

    def __init__(self, mixer: Mixer, info: EnvInfo, new_agent) -> None:
        super().__init__(mixer, info, new_agent)
        self.optimistic = mixer.optimistic
        self.agent = new_agent(self.config.central_agent_dim)  # Q*'s own recurrent agents
        self.central = CentralQ(info.n_agents, info.state_dim, self.config.central_embed_dim)

    def central_value(self, inputs: torch.Tensor, actions: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Q*(s, u) [B, T, 1] for `actions` [B, T, A] at the first T stored steps of `inputs`."""
        b, t, a = actions.shape
        q, _ = self.agent.unroll(inputs)  # [B*A, T+1, n]
        q = q.view(b, a, -1, q.shape[-1]).permute(0, 2, 1, 3)[:, :t]  # [B, T, A, n]
        utilities = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return self.central(utilities, state)

    def bootstrap(self, view: TargetView) -> torch.Tensor:
        return self.central_value(view.inputs, view.greedy.actions, view.greedy.state)

    def weights(self, view: BatchView) -> torch.Tensor:
        if self.optimistic:
            full = view.q_tot.detach() < view.targets
        else:
            chosen = view.chosen
            greedy = mask_unavailable(chosen.all_qs.detach(), chosen.avail).argmax(dim=-1)
            is_greedy = (chosen.actions == greedy).all(dim=-1, keepdim=True)
            full = is_greedy | (view.targets > view.greedy_target)
        return torch.where(full, torch.ones_like(view.targets), torch.full_like(view.targets, self.config.alpha))

    def losses(self, view: BatchView) -> Dict[str, torch.Tensor]:
        central = self.central_value(view.inputs, view.chosen.actions, view.chosen.state)
        return {"central_loss": self.config.central_loss_weight * masked_mean((central - view.targets) ** 2, view.mask)}


class WQMixer(QMixer):
    """QMIX's Q_tot (what `forward` returns and the agents act on); Q* lives in its extension."""

    Config = WQMixConfig
    Extension = WeightedProjection
    optimistic: bool = True

    def __init__(self, info: EnvInfo, config: WQMixConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        if not 0.0 < config.alpha <= 1.0:
            raise MafacError(f"bad value {config.alpha!r} for mixer.alpha; it must be in (0, 1] (1 is plain QMIX "
                             f"trained towards Q*)")
        require_positive(config, "central_embed_dim", "central_agent_dim")


class OWQMixer(WQMixer):
    description = "Optimistically-Weighted QMIX: QMIX projected from an unrestricted Q*, w=1 where Q_tot < y"
    optimistic = True


class CWQMixer(WQMixer):
    description = "Centrally-Weighted QMIX: QMIX projected from an unrestricted Q*, w=1 at u^ or where y > Q*(s,u^)"
    optimistic = False
