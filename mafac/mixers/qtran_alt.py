"""QTRAN-alt (Son et al. 2019, Sec. 3.3): QTRAN with a counterfactual joint network and the
stronger, min-form non-optimal constraint.

QTRAN-base's L_nopt only asks sum_i Q_i - Q_jt + V >= 0 at the joint actions that were taken, a
weak signal that makes it slow in practice. QTRAN-alt's Theorem 2 replaces it by: for every agent
i and every u_{-i}, the minimum over agent i's own actions of that gap is exactly 0,

  L_nopt-min = mean_i ( min_{u_i} [ Q_i(u_i) + sum_{j!=i} Q_j(u_j) - Q_jt(s, u_i, u_{-i}) + V(s) ] )^2,

taken at the other agents' actions u_{-i} in the batch. That needs Q_jt for every u_i at once,
hence the counterfactual joint network: head i reads the state, agent i's own GRU output and the
summed [GRU output, action] encodings of the *other* agents (QTRAN-base's encoder, shared), and
returns Q_jt(s, ., u_{-i}) over agent i's actions. `forward` gives every head's value of the
given joint action (K = n_agents), so the shared learner trains each head by TD towards the target
network's value of the greedy joint action from that head. L_opt is QTRAN-base's, per head. Q_jt is
detached inside both constraints, as in QTRAN-base.

Defaults: PyMARL's `qtran.yaml` (the QTRAN authors did not publish SMAC settings; pymarl ships
them for both variants): joint-network width 64, opt weight 1, `nopt_min_loss` 0.1.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from mafac.envs.base import EnvInfo
from mafac.mixers.base import BatchView, LossExtension, MixInput, Mixer, mask_unavailable, masked_mean
from mafac.mixers.qtran import QTranConfig, _mlp, action_encoder


class QTranAltConstraints(LossExtension):
    """L_opt per head and the counterfactual L_nopt-min, with the state value V(s) they need."""

    def __init__(self, mixer: Mixer, info: EnvInfo, new_agent=None) -> None:
        super().__init__(mixer, info, new_agent)
        self.value = _mlp(info.state_dim, self.config.embed_dim)

    def losses(self, view: BatchView) -> Dict[str, torch.Tensor]:
        chosen, mixer = view.chosen, view.mixer
        max_qs, greedy = mask_unavailable(chosen.all_qs, chosen.avail).max(dim=-1)  # [B, T, A]
        v = self.value(chosen.state)  # [B, T, 1]
        at_greedy = MixInput(max_qs, greedy, chosen.state, chosen.hidden, chosen.all_qs, chosen.avail)
        q_jt_greedy = mixer(at_greedy).detach()  # [B, T, A] per head
        opt = max_qs.sum(dim=-1, keepdim=True) - q_jt_greedy + v
        # Q'(u_i, u_{-i}) = Q_i(u_i) + sum_{j != i} Q_j(u_j), for every u_i
        rest = chosen.agent_qs.sum(dim=-1, keepdim=True) - chosen.agent_qs  # [B, T, A]
        gap = chosen.all_qs + rest.unsqueeze(-1) - mixer.counterfactual(chosen).detach() + v.unsqueeze(-1)
        smallest = gap.masked_fill(~chosen.avail, float("inf")).min(dim=-1).values
        smallest = torch.where(chosen.avail.any(dim=-1), smallest, torch.zeros_like(smallest))  # padded steps
        return {
            "opt_loss": self.config.opt_weight * masked_mean(opt ** 2, view.mask),
            "nopt_min_loss": self.config.nopt_weight * masked_mean(smallest ** 2, view.mask),
        }


class QTranAltMixer(Mixer):
    Config = QTranConfig
    Extension = QTranAltConstraints
    description = "QTRAN-alt: counterfactual joint network Q_jt(s,.,u_-i) with the L_nopt-min constraint"

    def __init__(self, info: EnvInfo, config: QTranConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        n = info.n_agents
        enc = agent_hidden_dim + info.n_actions
        self.action_encoder = action_encoder(agent_hidden_dim, info.n_actions)
        self.q_joint = _mlp(info.state_dim + agent_hidden_dim + enc + n, config.embed_dim, info.n_actions)
        self.register_buffer("agent_ids", torch.eye(n), persistent=False)

    def out_dim(self) -> int:
        return self.info.n_agents

    def counterfactual(self, inp: MixInput) -> torch.Tensor:
        """[B, T, A, n_actions]: head i's Q_jt(s, u_i, u_{-i}) for every u_i, u_{-i} from `inp`."""
        b, t, a = inp.actions.shape
        onehot = F.one_hot(inp.actions, self.info.n_actions).to(inp.hidden.dtype)
        encoded = self.action_encoder(torch.cat([inp.hidden, onehot], dim=-1))  # [B, T, A, enc]
        others = encoded.sum(dim=2, keepdim=True) - encoded
        state = inp.state.unsqueeze(2).expand(b, t, a, -1)
        return self.q_joint(torch.cat([state, inp.hidden, others, self.agent_ids.expand(b, t, a, a)], dim=-1))

    def forward(self, inp: MixInput) -> torch.Tensor:
        return self.counterfactual(inp).gather(-1, inp.actions.unsqueeze(-1)).squeeze(-1)

    def joint_value(self, q_tot: torch.Tensor) -> torch.Tensor:
        return q_tot.mean(-1)  # every head estimates the same Q_jt(s, u)
