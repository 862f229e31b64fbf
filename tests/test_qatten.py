"""Qatten: Q_tot is the paper's attention formula, monotonic in every Q_i, so IGM holds."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers import get_mixer
from mafac.mixers.base import BatchView, MixInput
from mafac.mixers.qatten import QattenConfig, QattenMixer

INFO = EnvInfo(n_agents=3, n_actions=4, obs_dim=2, state_dim=5, episode_limit=10)
H = 8


def _inputs(gen, b=2, t=3, scale=1.0):
    return MixInput(torch.randn(b, t, INFO.n_agents, generator=gen) * scale, torch.zeros(b, t, INFO.n_agents, dtype=torch.long),
                    torch.randn(b, t, INFO.state_dim, generator=gen) * scale, torch.randn(b, t, INFO.n_agents, H, generator=gen))


def _reinit(module, gen, scale):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


@torch.no_grad()
def test_q_tot_is_the_attention_formula():
    torch.manual_seed(0)
    cfg = QattenConfig(n_head=3, embed_dim=4)
    mixer = QattenMixer(INFO, cfg, H)
    inp = _inputs(torch.Generator().manual_seed(1))
    out = mixer(inp)
    assert out.shape == (2, 3, 1) and mixer.out_dim() == 1
    wq = mixer.queries.weight.view(cfg.n_head, cfg.embed_dim, INFO.state_dim)
    wk = mixer.keys.weight.view(cfg.n_head, cfg.embed_dim, H)
    for b, t in itertools.product(range(2), range(3)):
        s = inp.state[b, t]
        total = float(mixer.constant(s))  # c(s)
        w = torch.abs(mixer.head_weights(s))
        for h in range(cfg.n_head):
            query = wq[h] @ s
            logits = [float(query @ (wk[h] @ inp.hidden[b, t, i])) / math.sqrt(cfg.embed_dim) for i in range(INFO.n_agents)]
            z = sum(math.exp(x) for x in logits)
            lam = [math.exp(x) / z for x in logits]  # softmax over agents
            total += float(w[h]) * sum(lam[i] * float(inp.agent_qs[b, t, i]) for i in range(INFO.n_agents))
        assert float(out[b, t, 0]) == pytest.approx(total, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("weighted", [True, False])
def test_monotonic_in_every_agent_q(weighted):
    gen = torch.Generator().manual_seed(int(weighted))
    mixer = QattenMixer(INFO, QattenConfig(n_head=2, embed_dim=6, weighted_head=weighted), H)
    n_positive = 0
    for draw in range(30):
        _reinit(mixer, gen, scale=[0.1, 1.0, 3.0][draw % 3])
        inp = _inputs(gen, b=4, t=5, scale=[0.5, 2.0, 10.0][draw % 3])
        qs = inp.agent_qs.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(mixer(MixInput(qs, inp.actions, inp.state, inp.hidden)).sum(), qs)
        assert (grad >= 0).all(), f"negative dQ_tot/dQ_i {grad.min().item()} (draw {draw})"
        n_positive += int((grad > 0).sum())
    assert n_positive > 0


@pytest.mark.parametrize("seed", range(5))
def test_greedy_joint_action_maximises_q_tot(seed):
    """IGM by enumeration: over every joint action, Q_tot is largest at the agents' own argmaxes."""
    gen = torch.Generator().manual_seed(seed)
    mixer = QattenMixer(INFO, QattenConfig(), H)
    _reinit(mixer, gen, scale=1.0)
    q = torch.randn(INFO.n_agents, INFO.n_actions, generator=gen) * 3
    state, hidden = torch.randn(INFO.state_dim, generator=gen), torch.randn(INFO.n_agents, H, generator=gen)
    joints = torch.tensor(list(itertools.product(range(INFO.n_actions), repeat=INFO.n_agents)))
    m = len(joints)
    qs = q[torch.arange(INFO.n_agents), joints]
    q_tot = mixer(MixInput(qs.view(1, m, -1), joints.view(1, m, -1), state.expand(1, m, -1), hidden.expand(1, m, -1, -1)))
    assert torch.equal(joints[q_tot[0, :, 0].argmax()], q.argmax(-1))


def test_keys_do_not_train_the_agents_and_the_regulariser_is_the_mean_squared_logit():
    torch.manual_seed(0)
    cfg = QattenConfig(attend_reg_coef=0.5)
    mixer = QattenMixer(INFO, cfg, H)
    inp = _inputs(torch.Generator().manual_seed(2))
    hidden = inp.hidden.clone().requires_grad_(True)
    chosen = MixInput(inp.agent_qs, inp.actions, inp.state, hidden)
    q_tot = mixer(chosen)
    (g,) = torch.autograd.grad(mixer(chosen).sum(), hidden, allow_unused=True)
    assert g is None or float(g.abs().sum()) == 0.0
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    view = BatchView(None, None, mixer, chosen, q_tot, torch.zeros_like(q_tot), None, mask)
    reg = mixer.Extension(mixer, INFO).losses(view)["attend_reg"]
    _, logits = mixer.attention(chosen)  # [B, T, heads, A]
    terms = [float((logits[b, t].detach() ** 2).mean(-1).sum()) for b, t in itertools.product(range(2), range(3)) if mask[b, t]]
    assert float(reg) == pytest.approx(cfg.attend_reg_coef * sum(terms) / len(terms), rel=1e-5)
    off = QattenMixer(INFO, QattenConfig(attend_reg_coef=0.0), H)
    assert off.Extension(off, INFO).losses(view) == {}


@pytest.mark.parametrize("key,value", [("mixer.n_head", 0), ("mixer.embed_dim", -1)])
def test_bad_settings_are_one_line_errors(key, value):
    cfg = build_config(algo="qatten", overrides=[f"{key}={value}"])
    with pytest.raises(MafacError) as exc:
        get_mixer("qatten")(INFO, cfg.mixer, H)
    assert key in str(exc.value) and repr(value) in str(exc.value) and "\n" not in str(exc.value)
