"""QTRAN-alt: the counterfactual joint network's structure and its losses against the paper's definitions."""

from __future__ import annotations

import itertools

import pytest
import torch

from mafac.mixers import get_mixer
from mafac.mixers.base import BatchView, MixInput
from tests.test_qtran import INFO, _hand_batch


def _make():
    torch.manual_seed(0)
    cls = get_mixer("qtran_alt")
    cfg = cls.Config()
    return cls(INFO, cfg, 8), cfg


def _losses(mixer, chosen, mask, targets, ext=None):
    """The constraints' losses as the learner computes them, through the mixer's extension."""
    ext = ext or mixer.Extension(mixer, INFO)
    return ext.losses(BatchView(None, None, mixer, chosen, mixer(chosen), targets, None, mask)), ext


def _q_jt(mixer, joint, state, hidden, head):
    """Q_jt(s, joint) as head `head` values it, through `forward` of that one joint action."""
    inp = MixInput(torch.zeros(1, 1, INFO.n_agents), torch.as_tensor(joint).view(1, 1, -1), state.view(1, 1, -1),
                   hidden.view(1, 1, INFO.n_agents, -1))
    return float(mixer(inp)[0, 0, head])


def test_head_i_is_counterfactual_in_agent_i_only():
    mixer, _ = _make()
    all_qs, avail, actions, hidden, state, mask = _hand_batch()
    inp = MixInput(all_qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1), actions, state, hidden)
    cf = mixer.counterfactual(inp)
    assert cf.shape == (2, 3, INFO.n_agents, INFO.n_actions) and mixer.out_dim() == INFO.n_agents
    torch.testing.assert_close(mixer(inp), cf.gather(-1, actions.unsqueeze(-1)).squeeze(-1))
    for i in range(INFO.n_agents):
        moved = actions.clone()
        moved[..., i] = (moved[..., i] + 1) % INFO.n_actions
        cf2 = mixer.counterfactual(MixInput(inp.agent_qs, moved, state, hidden))
        torch.testing.assert_close(cf2[..., i, :], cf[..., i, :])  # head i does not read u_i ...
        other = (i + 1) % INFO.n_agents
        assert not torch.allclose(cf2[..., other, :], cf[..., other, :])  # ... but every other head does


def test_losses_match_their_definitions():
    mixer, cfg = _make()
    all_qs, avail, actions, hidden, state, mask = _hand_batch()
    chosen_qs = all_qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    chosen = MixInput(chosen_qs, actions, state, hidden, all_qs, avail)
    losses, ext = _losses(mixer, chosen, mask, torch.randn(2, 3, INFO.n_agents))

    n, m = INFO.n_agents, INFO.n_actions
    opt_terms, nopt_terms = [], []
    for b, t in itertools.product(range(2), range(3)):  # (Q_jt and V read under no_grad in _q_jt / below)
        if mask[b, t] == 0:
            continue
        s, h, u = state[b, t], hidden[b, t], actions[b, t].tolist()
        q = all_qs[b, t]
        greedy = [max((a for a in range(m) if avail[b, t, k, a]), key=lambda a: float(q[k, a])) for k in range(n)]
        v = float(ext.value(s).detach())
        for i in range(n):
            # L_opt, from head i: sum_k max Q_k - Q_jt(s, u_greedy) + V
            opt_terms.append((sum(float(q[k, greedy[k]]) for k in range(n)) - _q_jt(mixer, greedy, s, h, i) + v) ** 2)
            # L_nopt-min: min over agent i's available actions of Q'(a, u_-i) - Q_jt(s, a, u_-i) + V
            gaps = []
            for a in range(m):
                if not avail[b, t, i, a]:
                    continue
                joint = list(u)
                joint[i] = a
                q_prime = sum(float(q[k, joint[k]]) for k in range(n))
                gaps.append(q_prime - _q_jt(mixer, joint, s, h, i) + v)
            nopt_terms.append(min(gaps) ** 2)
    assert float(losses["opt_loss"]) == pytest.approx(cfg.opt_weight * sum(opt_terms) / len(opt_terms), rel=1e-4)
    assert float(losses["nopt_min_loss"]) == pytest.approx(cfg.nopt_weight * sum(nopt_terms) / len(nopt_terms),
                                                            rel=1e-4)

    # Q_jt is a constant in both: their gradients reach V and the agents' Qs, never the joint network
    qs = all_qs.clone().requires_grad_(True)
    chosen = MixInput(qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1), actions, state, hidden, qs, avail)
    losses, _ = _losses(mixer, chosen, mask, torch.zeros(2, 3, n), ext)
    mixer.zero_grad()
    (losses["opt_loss"] + losses["nopt_min_loss"]).backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in mixer.q_joint.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in ext.value.parameters())
    assert float(qs.grad.abs().sum()) > 0


def test_padded_steps_with_nothing_available_are_finite():
    mixer, _ = _make()
    all_qs, avail, actions, hidden, state, mask = _hand_batch()
    avail[1, 2] = False  # the padded step of episode 1
    chosen = MixInput(all_qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1), actions, state, hidden, all_qs, avail)
    losses, _ = _losses(mixer, chosen, mask, torch.zeros(2, 3, 3))
    assert all(torch.isfinite(v) for v in losses.values())


def test_joint_value_is_the_heads_mean():
    mixer, _ = _make()
    q = torch.tensor([[1.0, 2.0, 6.0]])
    assert float(mixer.joint_value(q)) == pytest.approx(3.0)
