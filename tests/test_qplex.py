"""QPLEX: its mixing structure (IGM by enumeration, positive weights) and a tiny real training run."""

from __future__ import annotations

import itertools

import pytest
import torch

from mafac.envs.base import EnvInfo
from mafac.mixers import MixInput
from mafac.mixers.qplex import QPLEXConfig, QPLEXMixer

N_AGENTS, N_ACTIONS, STATE = 3, 4, 5
INFO = EnvInfo(n_agents=N_AGENTS, n_actions=N_ACTIONS, obs_dim=2, state_dim=STATE, episode_limit=10)


def joint_table(mixer, q, state, avail):
    """Q_tot of every joint action (available ones) for one step: returns (joints [M, A], q_tot [M])."""
    choices = [torch.nonzero(avail[i]).flatten().tolist() for i in range(N_AGENTS)]
    joints = torch.tensor(list(itertools.product(*choices)))
    m = len(joints)
    qs = q[torch.arange(N_AGENTS), joints]
    inp = MixInput(qs.view(1, m, N_AGENTS), joints.view(1, m, N_AGENTS), state.expand(1, m, STATE),
                   torch.zeros(1, m, N_AGENTS, 8), q.expand(1, m, N_AGENTS, N_ACTIONS),
                   avail.expand(1, m, N_AGENTS, N_ACTIONS))
    return joints, inp, mixer(inp)[0, :, 0]


@pytest.mark.parametrize("seed", range(5))
def test_greedy_joint_action_maximises_q_tot_and_equals_sum_of_values(seed):
    torch.manual_seed(seed)
    mixer = QPLEXMixer(INFO, QPLEXConfig(num_kernel=2, adv_hypernet_layers=2), agent_hidden_dim=8)
    q = torch.randn(N_AGENTS, N_ACTIONS) * 3
    state = torch.randn(STATE)
    avail = torch.rand(N_AGENTS, N_ACTIONS) > 0.3
    avail[:, 0] = True
    joints, inp, q_tot = joint_table(mixer, q, state, avail)
    greedy = q.masked_fill(~avail, -1e9).argmax(-1)
    best = joints[q_tot.argmax()]
    assert torch.equal(best, greedy), "IGM: argmax of Q_tot must be the agents' own greedy actions"
    parts = mixer.decompose(inp)
    at_greedy = (joints == greedy).all(-1).nonzero().item()
    assert torch.allclose(q_tot[at_greedy], parts["v"][0, at_greedy].sum(), atol=1e-5)
    assert (parts["adv"] <= 1e-6).all(), "advantages A_i' are <= 0"
    assert (parts["lambda"] > 0).all(), "lambda_i(s, u) > 0"
    # the duplex-dueling sum, as written in the paper
    expected = parts["v"].sum(-1) + (parts["lambda"] * parts["adv"]).sum(-1)
    assert torch.allclose(q_tot, expected[0], atol=1e-4)


def test_shapes_positive_weights_and_padded_steps():
    torch.manual_seed(0)
    mixer = QPLEXMixer(INFO, QPLEXConfig(), agent_hidden_dim=8)
    b, t = 4, 6
    all_qs = torch.randn(b, t, N_AGENTS, N_ACTIONS, requires_grad=True)
    avail = torch.ones(b, t, N_AGENTS, N_ACTIONS, dtype=torch.bool)
    avail[:, -2:] = False  # padded steps: nothing available
    actions = torch.randint(0, N_ACTIONS, (b, t, N_AGENTS))
    qs = all_qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    inp = MixInput(qs, actions, torch.randn(b, t, STATE), torch.zeros(b, t, N_AGENTS, 8), all_qs, avail)
    out = mixer(inp)
    assert out.shape == (b, t, 1) and mixer.out_dim() == 1
    assert torch.isfinite(out).all()
    w, _ = mixer.transformation(torch.randn(50, STATE))
    assert (w > 0).all()
    out.sum().backward()
    assert all(p.grad is not None for p in mixer.parameters())
    assert torch.isfinite(all_qs.grad).all()


def test_registered_as_a_built_in():
    from mafac.mixers import MIXERS

    assert MIXERS.get("qplex") is QPLEXMixer
    assert MIXERS.source("qplex") == "built-in"
