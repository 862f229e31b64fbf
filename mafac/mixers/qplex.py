"""QPLEX: duplex dueling multi-agent Q-learning (Wang et al. 2021, ICLR).

Each agent's Q is split into a value and an advantage over its *available* actions,

    V_i = max_{a avail} Q_i(a),          A_i = Q_i(u_i) - V_i  (<= 0),

both are moved by a state-conditioned positive scale and a bias,

    V_i' = w_i(s) V_i + b_i(s),          A_i' = w_i(s) A_i,      w_i(s) = |f(s)| + 1e-10 > 0,

and the joint value is the duplex-dueling sum

    Q_tot(s, u) = sum_i V_i' + sum_i lambda_i(s, u) A_i',        lambda_i(s, u) > 0.

Because every A_i' <= 0 with equality exactly at agent i's greedy action and every lambda_i > 0,
the greedy joint action maximises Q_tot (IGM) and there Q_tot = sum_i V_i'; unlike QMIX, lambda
depends on the joint action, so Q_tot is not restricted to monotonic functions of the Q_i.

lambda follows the authors' SMAC code (pymarl `dmaq_si_weight.py`): for each of `num_kernel` heads,
a positive scalar key |k(s)| + 1e-10 times per-agent sigmoid gates from s and from (s, one-hot u),
summed over heads. As there, Q_tot is computed in the equivalent form

    Q_tot = sum_i (w_i Q_i(u_i) + b_i) + sum_i (lambda_i - 1) A_i',

with V_i taken from detached Qs and, by default (`stop_adv_gradient`), A_i' detached in the
second sum: the agents learn through the weighted-sum path, lambda through the advantage path.

Simplified with respect to the paper: w_i and b_i see the state only (the paper allows the joint
history; the authors' SMAC code does the same); lambda uses the code's gated-key attention rather
than the Qatten-style softmax attention variant (`dmaq_qatten`), with no attention regulariser and
no burn-in period. Training is mafac's shared learner: the TD target mixes the target network's Qs
at the double-Q greedy action with V_i = the target network's max over available actions, which is
the authors' target too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers.base import MixInput, Mixer, mask_unavailable, require_positive

EPS = 1e-10


@dataclass
class QPLEXConfig:
    """Defaults: the authors' SMAC config (wjh720/QPLEX, pymarl-master/src/config/algs/qplex_sc2.yaml).

    Their matrix-game runs use `qplex.yaml` instead: adv_hypernet_layers=3, num_kernel=10. With
    these SMAC defaults lambda is too weak to fit qtran_game's payoff in 10k steps; with those it
    does (results/matrix_games)."""

    hypernet_embed: int = 64  # hidden width of the transformation nets w(s), b(s)
    num_kernel: int = 4  # attention heads of lambda(s, u)
    adv_hypernet_layers: int = 1  # depth (1-3) of lambda's key / agent / action extractors
    adv_hypernet_embed: int = 64  # their hidden width when depth > 1
    weighted_head: bool = True  # False: no transformation (w = 1, b = 0)
    stop_adv_gradient: bool = True  # A_i' enters the lambda-weighted sum detached, as in the paper's code


def _mlp(layers: int, in_dim: int, hidden: int, out_dim: int) -> nn.Module:
    if layers not in (1, 2, 3):
        raise MafacError(f"bad value {layers!r} for mixer.adv_hypernet_layers; valid choices: 1, 2, 3")
    mods, d = [], in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class QPLEXMixer(Mixer):
    Config = QPLEXConfig
    description = "QPLEX duplex dueling: sum_i V_i' + sum_i lambda_i(s,u) A_i'"

    def __init__(self, info: EnvInfo, config: QPLEXConfig, agent_hidden_dim: int) -> None:
        super().__init__(info, config, agent_hidden_dim)
        require_positive(config, "num_kernel")
        n, s, m = info.n_agents, info.state_dim, info.n_actions
        self.n_agents, self.n_actions = n, m
        he, ae, layers = config.hypernet_embed, config.adv_hypernet_embed, config.adv_hypernet_layers
        self.hyper_w = nn.Sequential(nn.Linear(s, he), nn.ReLU(), nn.Linear(he, n))
        self.hyper_b = nn.Sequential(nn.Linear(s, he), nn.ReLU(), nn.Linear(he, n))
        heads = range(config.num_kernel)
        self.key_extractors = nn.ModuleList(_mlp(layers, s, ae, 1) for _ in heads)
        self.agent_extractors = nn.ModuleList(_mlp(layers, s, ae, n) for _ in heads)
        self.action_extractors = nn.ModuleList(_mlp(layers, s + n * m, ae, n) for _ in heads)

    # -- the pieces, each [N, n_agents] for N = B*T flattened steps -----------------------------
    def transformation(self, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """w_i(s) > 0 and b_i(s)."""
        if not self.config.weighted_head:
            ones = state.new_ones(state.shape[0], self.n_agents)
            return ones, torch.zeros_like(ones)
        return torch.abs(self.hyper_w(state)) + EPS, self.hyper_b(state)

    def lambdas(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """lambda_i(s, u) > 0 from multi-head gated attention over (state, joint action one-hot)."""
        onehot = F.one_hot(actions.clamp(min=0), self.n_actions).to(state.dtype).flatten(1)
        sa = torch.cat([state, onehot], dim=1)
        lam = 0.0
        for key, agents, act in zip(self.key_extractors, self.agent_extractors, self.action_extractors):
            lam = lam + (torch.abs(key(state)) + EPS) * torch.sigmoid(agents(state)) * torch.sigmoid(act(sa))
        return lam

    def decompose(self, inp: MixInput) -> Dict[str, torch.Tensor]:
        """V_i', A_i' and lambda_i, each [B, T, A]; Q_tot = sum V' + sum lambda * A'."""
        if inp.all_qs is None:
            raise MafacError("qplex needs every action's Q (MixInput.all_qs) to form V_i = max_a Q_i")
        b, t, n = inp.agent_qs.shape
        all_qs = inp.all_qs.detach()  # V_i from detached Qs, as in the authors' learner
        if inp.avail is not None:
            has_any = inp.avail.any(dim=-1)
            best = mask_unavailable(all_qs, inp.avail).max(dim=-1).values
            v = torch.where(has_any, best, inp.agent_qs.detach())  # padded steps: nothing available, A = 0
        else:
            v = all_qs.max(dim=-1).values
        state = inp.state.reshape(b * t, -1)
        w, bias = self.transformation(state)
        w, bias = w.view(b, t, n), bias.view(b, t, n)
        lam = self.lambdas(state, inp.actions.reshape(b * t, n)).view(b, t, n)
        return {"v": w * v + bias, "adv": w * (inp.agent_qs - v), "lambda": lam}

    def forward(self, inp: MixInput) -> torch.Tensor:
        parts = self.decompose(inp)
        adv = parts["adv"].detach() if self.config.stop_adv_gradient else parts["adv"]
        q_tot = (parts["v"] + parts["adv"]).sum(-1) + ((parts["lambda"] - 1.0) * adv).sum(-1)
        return q_tot.unsqueeze(-1)
