"""The shared learner on hand-made episode batches: TD targets, masking, action masking, failures."""

from __future__ import annotations

import pytest
import torch

from mafac.agent import build_agent
from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.learner import Learner, NonFiniteLoss, lambda_returns, nstep_returns
from mafac.mixers import get_mixer
from mafac.replay import EpisodeBatch

INFO = EnvInfo(n_agents=3, n_actions=5, obs_dim=6, state_dim=7, episode_limit=8)


def make_learner(algo="vdn", seed=0, **overrides):
    sets = {"agent.hidden_dim": 16, "learner.target_update_episodes": 10**6, **overrides}
    cfg = build_config(algo=algo, preset="pymarl", overrides=[f"{k}={v}" for k, v in sets.items()])
    torch.manual_seed(seed)
    agent = build_agent(INFO, cfg.agent)
    mixer = get_mixer(algo)(INFO, cfg.mixer, cfg.agent.hidden_dim)
    return Learner(INFO, cfg, agent, mixer)


def make_batch(lengths=(5, 3, 8, 6), seed=0, terminated_last=True, T=None):
    """Episodes padded to the longest (or T); each either terminates or is truncated at its end."""
    gen = torch.Generator().manual_seed(seed)
    b = len(lengths)
    T = T or max(lengths)
    a, n = INFO.n_agents, INFO.n_actions
    lengths_t = torch.tensor(lengths)
    real = (torch.arange(T).unsqueeze(0) < lengths_t.unsqueeze(1)).float()  # [B, T]
    real_obs = (torch.arange(T + 1).unsqueeze(0) <= lengths_t.unsqueeze(1))  # [B, T+1]
    avail = torch.rand(b, T + 1, a, n, generator=gen) < 0.6
    avail[..., 0] = True  # the no-op is always available
    avail &= real_obs[:, :, None, None]
    avail[..., 0] = True
    # actions taken are available ones
    scores = torch.rand(b, T, a, n, generator=gen) * avail[:, :-1]
    actions = scores.argmax(-1) * real.long().unsqueeze(-1)
    terminated = torch.zeros(b, T)
    if terminated_last:
        terminated[torch.arange(b), lengths_t - 1] = 1.0
    return EpisodeBatch(
        obs=torch.randn(b, T + 1, a, INFO.obs_dim, generator=gen) * real_obs[:, :, None, None],
        state=torch.randn(b, T + 1, INFO.state_dim, generator=gen) * real_obs[:, :, None],
        avail=avail,
        actions=actions,
        reward=torch.rand(b, T, generator=gen) * real,
        terminated=terminated,
        mask=real,
    )


def _clone(batch: EpisodeBatch, **changes) -> EpisodeBatch:
    fields = {k: getattr(batch, k).clone() for k in ("obs", "state", "avail", "actions", "reward", "terminated", "mask")}
    fields.update(changes)
    return EpisodeBatch(**fields)


def _targets(learner, batch):
    q, _ = learner._unroll(learner.agent, batch)
    return learner.targets(batch, q.detach())


# -- the return recursions against hand computation --------------------------------------------
GAMMA, LAM = 0.9, 0.5


def _hand_lambda(r, term, nv, length, gamma, lam):
    """G_t = r_t + g (1 - d_t) [(1 - lam) V_{t+1} + lam G_{t+1}], bootstrapping fully at the end."""
    out = [0.0] * length
    for t in reversed(range(length)):
        if t == length - 1:
            boot = nv[t]
        else:
            boot = (1 - lam) * nv[t] + lam * out[t + 1]
        out[t] = r[t] + gamma * (1 - term[t]) * boot
    return out


def _hand_nstep(r, term, nv, length, gamma, n):
    out = []
    for t in range(length):
        m = min(n, length - t)
        g = sum(gamma ** j * r[t + j] for j in range(m))
        out.append(g + gamma ** m * (1 - term[t + m - 1]) * nv[t + m - 1])
    return out


def _example(terminal: bool):
    # one episode of 4 real steps padded to 6; junk in the padding must not leak in
    r = torch.tensor([[1.0, -2.0, 0.5, 3.0, 7.0, -9.0]])
    mask = torch.tensor([[1.0, 1, 1, 1, 0, 0]])
    term = torch.tensor([[0.0, 0, 0, 1.0 if terminal else 0.0, 1.0, 0]])
    nv = torch.tensor([[[2.0, -1.0], [4.0, 0.0], [-3.0, 1.0], [10.0, 5.0], [100.0, 100.0], [-50.0, 8.0]]])  # K = 2
    return r, term, mask, nv


@pytest.mark.parametrize("terminal", [True, False])
def test_lambda_returns_match_hand_computation(terminal):
    r, term, mask, nv = _example(terminal)
    for lam in (0.0, LAM, 1.0):
        got = lambda_returns(r, term, mask, nv, GAMMA, lam)
        assert got.shape == (1, 6, 2)
        for k in range(2):
            want = _hand_lambda(r[0].tolist(), term[0].tolist(), nv[0, :, k].tolist(), 4, GAMMA, lam)
            torch.testing.assert_close(got[0, :4, k], torch.tensor(want), msg=f"lam={lam} k={k}")
    # sanity of the hand formula itself: lambda = 0 is one-step TD
    one = _hand_lambda([1.0, 2.0], [0, 1], [5.0, 6.0], 2, GAMMA, 0.0)
    assert one == pytest.approx([1 + GAMMA * 5.0, 2.0])


@pytest.mark.parametrize("terminal", [True, False])
def test_nstep_returns_match_hand_computation(terminal):
    r, term, mask, nv = _example(terminal)
    for n in (1, 3, 5):
        got = nstep_returns(r, term, mask, nv, GAMMA, n)
        assert got.shape == (1, 6, 2)
        for k in range(2):
            want = _hand_nstep(r[0].tolist(), term[0].tolist(), nv[0, :, k].tolist(), 4, GAMMA, n)
            torch.testing.assert_close(got[0, :4, k], torch.tensor(want), msg=f"n={n} k={k}")
    # n = 3 written out for t = 0 (bootstrap from V(s_3) = nv[2]) and t = 2 (m = 2, the end)
    got = nstep_returns(r, term, mask, nv, GAMMA, 3)[0, :, 0]
    c = 0.0 if terminal else 1.0
    assert float(got[0]) == pytest.approx(1.0 + GAMMA * -2.0 + GAMMA**2 * 0.5 + GAMMA**3 * -3.0)
    assert float(got[2]) == pytest.approx(0.5 + GAMMA * 3.0 + c * GAMMA**2 * 10.0)


def test_returns_of_a_batch_do_not_mix_episodes():
    r, term, mask, nv = _example(True)
    r2, term2, mask2, nv2 = _example(False)
    mask2 = torch.tensor([[1.0, 1, 0, 0, 0, 0]])  # a shorter second episode
    R, TE, M, NV = torch.cat([r, r2]), torch.cat([term, term2]), torch.cat([mask, mask2]), torch.cat([nv, nv2])
    lam = lambda_returns(R, TE, M, NV, GAMMA, LAM)
    nst = nstep_returns(R, TE, M, NV, GAMMA, 3)
    torch.testing.assert_close(lam[0], lambda_returns(r, term, mask, nv, GAMMA, LAM)[0])
    torch.testing.assert_close(nst[0], nstep_returns(r, term, mask, nv, GAMMA, 3)[0])
    want_l = _hand_lambda(r2[0].tolist(), term2[0].tolist(), nv2[0, :, 0].tolist(), 2, GAMMA, LAM)
    want_n = _hand_nstep(r2[0].tolist(), term2[0].tolist(), nv2[0, :, 0].tolist(), 2, GAMMA, 3)
    torch.testing.assert_close(lam[1, :2, 0], torch.tensor(want_l))
    torch.testing.assert_close(nst[1, :2, 0], torch.tensor(want_n))


# -- the learner's targets -----------------------------------------------------------------------
@torch.no_grad()
def _hand_vdn_next_value(learner, batch, b, t):
    """V(s_{t+1}) for VDN with double Q: sum over agents of the target Q of the online argmax
    among available actions, from independent unrolls."""
    from mafac.agent import build_inputs

    last = torch.full(batch.obs.shape[:3], -1, dtype=torch.long)
    last[:, 1:] = batch.actions
    inp = build_inputs(batch.obs, last, INFO, learner.cfg.agent)[b]  # [T+1, A, in]
    total = 0.0
    for i in range(INFO.n_agents):
        q_on, _ = learner.agent.unroll(inp[:, i].unsqueeze(0))
        q_tg, _ = learner.target_agent.unroll(inp[:, i].unsqueeze(0))
        q_on, q_tg = q_on[0, t + 1], q_tg[0, t + 1]
        av = batch.avail[b, t + 1, i]
        best = max((j for j in range(INFO.n_actions) if av[j]), key=lambda j: float(q_on[j]))
        total += float(q_tg[best])
    return total


@pytest.mark.parametrize("td", [{}, {"learner.td_lambda": 0.6}, {"learner.n_step": 3}])
def test_truncation_bootstraps_and_termination_does_not(td):
    learner = make_learner("vdn", **td, **{"learner.gamma": GAMMA})
    # make the target network differ from the online one, so double Q matters
    with torch.no_grad():
        for p in learner.target_agent.parameters():
            p.add_(0.3 * torch.randn_like(p))
    lengths = (5, 3, 8, 6)
    term = make_batch(lengths, terminated_last=True)
    trunc = _clone(term, terminated=torch.zeros_like(term.terminated))
    t_term, t_trunc = _targets(learner, term), _targets(learner, trunc)
    assert t_term.shape == (4, 8, 1)
    for b, length in enumerate(lengths):
        last = length - 1
        v = _hand_vdn_next_value(learner, term, b, last)
        assert abs(v) > 1e-3
        # at the last real step the only difference is gamma * V(s_final)
        assert float(t_trunc[b, last, 0] - t_term[b, last, 0]) == pytest.approx(GAMMA * v, rel=1e-4, abs=1e-5)
        assert float(t_term[b, last, 0]) == pytest.approx(float(term.reward[b, last]), abs=1e-6)
        if not td:  # one-step TD: earlier targets do not look at the last step at all
            torch.testing.assert_close(t_term[b, :last], t_trunc[b, :last])
            for t in range(last):
                want = float(term.reward[b, t]) + GAMMA * _hand_vdn_next_value(learner, term, b, t)
                assert float(t_term[b, t, 0]) == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_unavailable_actions_are_never_greedy_targets():
    learner = make_learner("vdn", **{"learner.gamma": GAMMA})
    bad = 3
    with torch.no_grad():  # action `bad` is worth 1000 to every agent, online and target
        learner.agent.fc_out.bias[bad] = 1000.0
    learner.update_targets()
    batch = make_batch(terminated_last=False)
    batch.avail[:, 1:, :, bad] = False
    targets = _targets(learner, batch)
    assert targets[batch.mask.bool()].abs().max() < 100.0
    # positive control: the same batch with `bad` available does pick it
    batch.avail[:, 1:, :, bad] = True
    assert _targets(learner, batch)[batch.mask.bool()].min() > 1000.0


@pytest.mark.parametrize("algo,td", [("vdn", {}), ("qmix", {}), ("qmix", {"learner.td_lambda": 0.6}),
                                     ("iql", {"learner.n_step": 3})])
def test_padded_steps_do_not_affect_the_loss(algo, td):
    learner = make_learner(algo, **td)
    batch = make_batch(lengths=(5, 3, 8, 6), terminated_last=False)
    pad = batch.mask == 0
    loss, stats = (x.detach() if torch.is_tensor(x) else x for x in learner.loss(batch))
    junk = _clone(batch)
    junk.reward[pad] = 1e4
    junk.terminated[pad] = 1.0
    junk.actions[pad] = INFO.n_actions - 1
    loss2, stats2 = (x.detach() if torch.is_tensor(x) else x for x in learner.loss(junk))
    assert float(loss2) == pytest.approx(float(loss), rel=1e-6)
    assert float(stats2["target"]) == pytest.approx(float(stats["target"]), rel=1e-6)
    # positive control: the same change on a real step does change it
    real = _clone(batch)
    real.reward[0, 0] += 100.0
    assert float(learner.loss(real)[0].detach()) != pytest.approx(float(loss), rel=1e-3)


@pytest.mark.parametrize("algo", ["vdn", "qmix"])
def test_training_on_a_fixed_batch_lowers_the_td_loss(algo):
    learner = make_learner(algo, **{"learner.lr": 3e-3, "learner.optimizer": "adam"})
    batch = make_batch(lengths=(5, 3, 8, 6, 8, 2), seed=1)
    before = float(learner.loss(batch)[1]["td_loss"])
    stats = [learner.train(batch, episodes=0) for _ in range(40)]
    after = float(learner.loss(batch)[1]["td_loss"])
    assert learner.updates == 40
    assert after < 0.5 * before, f"{algo}: td_loss {before:.4f} -> {after:.4f}"
    assert stats[-1]["td_loss"] < stats[0]["td_loss"]
    for s in stats:
        assert set(s) >= {"loss", "td_loss", "grad_norm", "q_taken", "target"}


def test_target_networks_update_on_schedule():
    learner = make_learner("vdn", **{"learner.target_update_episodes": 10, "learner.lr": 1e-2})
    batch = make_batch()
    w0 = learner.target_agent.fc_out.weight.clone()
    learner.train(batch, episodes=5)
    assert torch.equal(learner.target_agent.fc_out.weight, w0)  # not yet
    assert not torch.equal(learner.agent.fc_out.weight, w0)
    learner.train(batch, episodes=10)
    assert torch.equal(learner.target_agent.fc_out.weight, learner.agent.fc_out.weight)


def test_nan_loss_raises_nonfinite_loss_without_updating():
    learner = make_learner("qmix")
    batch = make_batch()
    batch.reward[0, 0] = float("nan")
    before = [p.clone() for p in learner.params]
    with pytest.raises(NonFiniteLoss) as exc:
        learner.train(batch, episodes=0)
    assert isinstance(exc.value, MafacError)
    assert "non-finite" in str(exc.value) and "\n" not in str(exc.value)
    assert learner.updates == 0
    for p, q in zip(learner.params, before):
        assert torch.equal(p, q)


def test_a_mixer_that_breaks_its_out_dim_is_named():
    """A plugin returning [B, T, A] while declaring one joint value would broadcast silently in the
    TD loss; the learner refuses it by name instead."""
    learner = make_learner("vdn")

    class PerAgent(type(learner.mixer)):
        def forward(self, inp):
            return inp.agent_qs

    learner.mixer = PerAgent(INFO, learner.mixer.config, 16)
    with pytest.raises(MafacError, match="PerAgent returned 3 values per step but its out_dim\\(\\) says 1"):
        learner.loss(make_batch())


@pytest.mark.parametrize("last_action,agent_id", [(True, True), (False, True), (True, False), (False, False)])
def test_acting_inputs_equal_the_learners(last_action, agent_id):
    """The runner's preallocated step inputs must be exactly what the learner rebuilds from replay,
    or the agents would act on one input and be trained on another."""
    from mafac.agent import StepInputs, build_inputs
    from mafac.config import AgentConfig

    cfg = AgentConfig(obs_last_action=last_action, obs_agent_id=agent_id)
    step = StepInputs(4, INFO, cfg)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):  # the buffer is reused: stale one-hots must not survive
        obs = torch.randn(4, INFO.n_agents, INFO.obs_dim, generator=gen)
        last = torch.randint(-1, INFO.n_actions, (4, INFO.n_agents), generator=gen)
        assert torch.equal(step(obs, last), build_inputs(obs, last, INFO, cfg))


def test_linear_lr_schedule_reaches_lr_final_at_t_max():
    from mafac.envs import make_env
    from mafac.replay import EpisodeBuffer

    cfg = build_config(algo="vdn", map_name="two_step", preset="matrix",
                       overrides=["learner.lr_schedule=linear", "learner.lr=0.002", "learner.lr_final=0.0005",
                                  "run.t_max=1000"])
    info = make_env("matrix", "two_step", 1, 0, cfg.env.kwargs).info
    learner = Learner(info, cfg, build_agent(info, cfg.agent), get_mixer("vdn")(info, cfg.mixer, cfg.agent.hidden_dim))
    assert [learner.lr_at(s) for s in (0, 500, 1000, 5000)] == pytest.approx([0.002, 0.00125, 0.0005, 0.0005])
    buffer = EpisodeBuffer(info, 8, "float32")
    for v in buffer.data.values():
        v.zero_()
    buffer.lengths[:4], buffer.size = 2, 4
    stats = learner.train(buffer.sample(4), episodes=0, env_steps=500)
    assert stats["lr"] == pytest.approx(0.00125)
    assert all(g["lr"] == pytest.approx(0.00125) for g in learner.optimizer.param_groups)
    constant = build_config(algo="vdn", map_name="two_step", preset="matrix", overrides=["learner.lr=0.002"])
    assert constant.learner.lr_schedule == "constant"
    with pytest.raises(MafacError, match="learner.lr_final"):
        build_config(overrides=["learner.lr=0.001", "learner.lr_final=0.01"])


# -- reward standardisation (learner.standardise_rewards) ----------------------------------------
def test_standardised_targets_use_the_running_statistics_of_every_valid_reward_seen():
    """Two updates' batches: the statistics are the mean and std of every valid step's reward in
    both (padding left out), and the second update's targets are the plain targets of its rewards
    standardised by them; a learner without the setting has no statistics and keeps its
    checkpoint keys."""
    import numpy as np

    from mafac.online import OnlineLearner

    first, second = make_batch(seed=1), make_batch((7, 2, 4, 8), seed=2)
    learner = make_learner(**{"learner.standardise_rewards": True, "learner.td_lambda": 0.6})
    plain = make_learner(**{"learner.td_lambda": 0.6})
    assert plain.reward_stats is None and "reward_stats" not in plain.state_dict()
    _targets(learner, first)
    got = _targets(learner, second)
    seen = np.concatenate([b.reward[b.mask > 0].numpy() for b in (first, second)]).astype(np.float64)
    stats = learner.reward_stats
    assert stats.mean == pytest.approx(seen.mean(), rel=1e-3) and stats.var == pytest.approx(seen.var(), rel=1e-3)
    scaled = _clone(second, reward=(second.reward - stats.mean) / stats.var ** 0.5)
    assert torch.allclose(got, _targets(plain, scaled), atol=1e-5)
    # the statistics are the checkpoint's, under both learners
    for cls in (Learner, OnlineLearner):
        a = cls(INFO, learner.cfg, build_agent(INFO, learner.cfg.agent), get_mixer("vdn")(INFO, learner.cfg.mixer, 16))
        a.reward_stats.update(first.reward, first.mask)
        b = cls(INFO, learner.cfg, build_agent(INFO, learner.cfg.agent), get_mixer("vdn")(INFO, learner.cfg.mixer, 16))
        b.load_state_dict(a.state_dict())
        assert b.reward_stats.state_dict() == a.reward_stats.state_dict() != {"mean": 0.0, "var": 1.0, "count": 1e-4}
