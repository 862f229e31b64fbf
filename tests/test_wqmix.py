"""Weighted QMIX: its two losses against the paper's definitions, step by step, and qtran_game."""

from __future__ import annotations

import pytest
import torch

from mafac.agent import DRQN, agent_input_dim, build_inputs
from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.learner import Learner
from mafac.mixers import MixInput, get_mixer
from mafac.replay import EpisodeBatch

INFO = EnvInfo(n_agents=2, n_actions=3, obs_dim=2, state_dim=3, episode_limit=4)
GAMMA, ALPHA = 0.9, 0.3


def make_learner(algo: str) -> Learner:
    sets = {"agent.hidden_dim": 8, "mixer.central_agent_dim": 6, "mixer.central_embed_dim": 16,
            "mixer.alpha": ALPHA, "learner.gamma": GAMMA, "learner.target_update_episodes": 10 ** 6}
    cfg = build_config(algo=algo, preset="pymarl", overrides=[f"{k}={v}" for k, v in sets.items()])
    torch.manual_seed(3)
    agent = DRQN(agent_input_dim(INFO, cfg.agent), cfg.agent.hidden_dim, INFO.n_actions)
    learner = Learner(INFO, cfg, agent, get_mixer(algo)(INFO, cfg.mixer, cfg.agent.hidden_dim))
    with torch.no_grad():  # targets that differ from the online networks, so it matters which is used
        for net in (learner.target_agent, learner.target_mixer, learner.target_extension):
            for p in net.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return learner


def make_batch() -> EpisodeBatch:
    g = torch.Generator().manual_seed(7)
    lengths, T = torch.tensor([4, 2, 3]), 4
    b, a, n = 3, INFO.n_agents, INFO.n_actions
    real = (torch.arange(T) < lengths[:, None]).float()
    avail = torch.rand(b, T + 1, a, n, generator=g) < 0.7
    avail[..., 0] = True
    scores = torch.rand(b, T, a, n, generator=g) * avail[:, :-1]
    terminated = torch.zeros(b, T)
    terminated[0, 3] = 1.0  # episode 0 terminates; 1 and 2 are truncated (bootstrapped)
    return EpisodeBatch(obs=torch.randn(b, T + 1, a, INFO.obs_dim, generator=g),
                        state=torch.randn(b, T + 1, INFO.state_dim, generator=g), avail=avail,
                        actions=scores.argmax(-1), reward=(torch.rand(b, T, generator=g) * 4 - 2) * real,
                        terminated=terminated, mask=real)


@torch.no_grad()
def by_definition(learner: Learner, batch: EpisodeBatch, optimistic: bool):
    """(weighted QMIX loss, Q* loss, weights): each agent's network run on its own, then the paper's
    formulas one real step at a time."""
    last = torch.full(batch.obs.shape[:3], -1, dtype=torch.long)
    last[:, 1:] = batch.actions
    inputs = build_inputs(batch.obs, last, INFO, learner.cfg.agent)  # [B, T+1, A, in]

    def qs(net, b):  # [T+1, A, n_actions] for episode b, one agent at a time
        return torch.stack([net.unroll(inputs[b, :, i].unsqueeze(0))[0][0] for i in range(INFO.n_agents)], dim=1)

    def greedy(q, avail):
        return torch.tensor([max((u for u in range(INFO.n_actions) if avail[i, u]), key=lambda u: float(q[i, u]))
                             for i in range(INFO.n_agents)])

    def q_star(ext, second_q, actions, state):  # Q*(s, u) from the Q* agents' utilities of u
        utilities = second_q[torch.arange(INFO.n_agents), actions]
        return float(ext.central(utilities, state))

    mixer, ext, target_ext = learner.mixer, learner.extension, learner.target_extension
    qmix_terms, central_terms, weights = [], [], []
    for b in range(batch.obs.shape[0]):
        on = qs(learner.agent, b)
        star_on, star_tg = qs(ext.agent, b), qs(target_ext.agent, b)
        for t in range(int(batch.mask[b].sum())):
            u = batch.actions[b, t]
            u_next = greedy(on[t + 1], batch.avail[b, t + 1])  # QMIX's greedy joint action in s' (double Q)
            y = float(batch.reward[b, t]) + GAMMA * (1 - float(batch.terminated[b, t])) * q_star(
                target_ext, star_tg[t + 1], u_next, batch.state[b, t + 1])
            chosen = on[t][torch.arange(INFO.n_agents), u]
            q_tot = float(mixer(MixInput(chosen.view(1, 1, -1), u.view(1, 1, -1), batch.state[b, t].view(1, 1, -1),
                                         torch.zeros(1, 1, INFO.n_agents, 8))))
            if optimistic:
                w = 1.0 if q_tot < y else ALPHA
            else:
                u_hat = greedy(on[t], batch.avail[b, t])
                best = q_star(target_ext, star_tg[t], u_hat, batch.state[b, t])
                w = 1.0 if bool((u == u_hat).all()) or y > best else ALPHA
            weights.append(w)
            qmix_terms.append(w * (q_tot - y) ** 2)
            central_terms.append((q_star(ext, star_on[t], u, batch.state[b, t]) - y) ** 2)
    return sum(qmix_terms) / len(qmix_terms), sum(central_terms) / len(central_terms), weights


@pytest.mark.parametrize("algo,optimistic", [("ow_qmix", True), ("cw_qmix", False)])
def test_losses_match_the_paper_definitions(algo, optimistic):
    learner = make_learner(algo)
    batch = make_batch()
    total, stats = learner.loss(batch)
    qmix_loss, central_loss, weights = by_definition(learner, batch, optimistic)
    assert {1.0, ALPHA} <= set(weights), f"the batch should exercise both weights, got {weights}"
    assert float(stats["td_loss"]) == pytest.approx(qmix_loss, rel=1e-4)
    assert float(stats["central_loss"]) == pytest.approx(central_loss, rel=1e-4)
    assert float(stats["td_weight"]) == pytest.approx(sum(weights) / len(weights), rel=1e-6)
    assert float(total.detach()) == pytest.approx(qmix_loss + central_loss, rel=1e-4)


def test_each_loss_trains_its_own_networks():
    """The weights are constants, the QMIX loss reaches QMIX's agents and mixer but not Q*, and the
    Q* loss reaches Q*'s agents and mixer but not QMIX's (y is a constant to both)."""
    learner = make_learner("ow_qmix")
    batch = make_batch()
    nets = {"agent": learner.agent, "hyper": learner.mixer.hyper_w1, "second": learner.extension.agent,
            "central": learner.extension.central}

    def grads(loss):
        learner.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return {k: sum(float(p.grad.abs().sum()) for p in m.parameters() if p.grad is not None) for k, m in nets.items()}

    learner.mixer.config.central_loss_weight = 0.0  # the learner's total is then the weighted QMIX loss
    g = grads(learner.loss(batch)[0])
    assert g["agent"] > 0 and g["hyper"] > 0 and g["second"] == 0 and g["central"] == 0
    learner.mixer.config.central_loss_weight = 1.0
    view = learner.batch_view(batch)
    assert not learner.extension.weights(view).requires_grad
    g = grads(learner.extension.losses(view)["central_loss"])
    assert g["second"] > 0 and g["central"] > 0 and g["agent"] == 0 and g["hyper"] == 0


def test_q_star_is_checkpointed_and_target_updated():
    learner = make_learner("cw_qmix")
    assert learner.extension.agent.hidden_dim == 6
    assert not torch.equal(learner.extension.agent.fc_out.weight, learner.target_extension.agent.fc_out.weight)
    learner.update_targets()
    assert torch.equal(learner.extension.agent.fc_out.weight, learner.target_extension.agent.fc_out.weight)
    state = learner.state_dict()
    other = make_learner("cw_qmix")
    other.load_state_dict(state)
    batch = make_batch()
    assert float(other.loss(batch)[0]) == pytest.approx(float(learner.loss(batch)[0]), rel=1e-6)
    # the plain algorithms' checkpoints do not change shape
    assert "extension" not in Learner(INFO, build_config(algo="qmix"), DRQN(agent_input_dim(INFO, build_config().agent), 64, 3),
                                         get_mixer("qmix")(INFO, build_config().mixer, 64)).state_dict()


@pytest.mark.parametrize("key,value", [("mixer.alpha", 0), ("mixer.alpha", 1.5), ("mixer.central_embed_dim", 0)])
def test_bad_settings_are_one_line_errors(key, value):
    cfg = build_config(algo="ow_qmix", overrides=[f"{key}={value}"])
    with pytest.raises(MafacError) as exc:
        get_mixer("ow_qmix")(INFO, cfg.mixer, 8)
    assert key in str(exc.value) and repr(value) in str(exc.value) and "\n" not in str(exc.value)
