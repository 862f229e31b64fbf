"""QTRAN's losses against their definitions, and the matrix games where the mixers differ."""

from __future__ import annotations

import itertools

import pytest
import torch

from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.mixers import get_mixer
from mafac.mixers.base import BatchView, MixInput

INFO = EnvInfo(n_agents=3, n_actions=4, obs_dim=5, state_dim=6, episode_limit=5)


def _hand_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, t, a, n, h = 2, 3, INFO.n_agents, INFO.n_actions, 8
    all_qs = torch.randn(b, t, a, n, generator=g)
    avail = torch.rand(b, t, a, n, generator=g) > 0.4
    avail[..., 0] = True
    actions = torch.stack([torch.multinomial(avail[i, j, k].float(), 1, generator=g)[0]
                           for i, j, k in itertools.product(range(b), range(t), range(a))]).view(b, t, a)
    hidden = torch.randn(b, t, a, h, generator=g)
    state = torch.randn(b, t, INFO.state_dim, generator=g)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    return all_qs, avail, actions, hidden, state, mask


def test_qtran_losses_match_their_definitions():
    torch.manual_seed(0)
    cfg = get_mixer("qtran").Config()
    mixer = get_mixer("qtran")(INFO, cfg, 8)
    all_qs, avail, actions, hidden, state, mask = _hand_batch()
    chosen_qs = all_qs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    chosen = MixInput(chosen_qs, actions, state, hidden, all_qs, avail)
    q_tot = mixer(chosen)
    targets = torch.randn_like(q_tot)
    ext = mixer.Extension(mixer, INFO)  # QTRAN's constraints and V(s)
    losses = ext.losses(BatchView(None, None, mixer, chosen, q_tot, targets, None, mask))

    # The definitions, element by element.
    opt_terms, nopt_terms = [], []
    for i, j in itertools.product(range(2), range(3)):
        if mask[i, j] == 0:
            continue
        greedy = [max((a for a in range(INFO.n_actions) if avail[i, j, k, a]), key=lambda a: all_qs[i, j, k, a])
                  for k in range(INFO.n_agents)]
        max_sum = sum(float(all_qs[i, j, k, greedy[k]]) for k in range(INFO.n_agents))
        g = torch.tensor(greedy).view(1, 1, -1)
        with torch.no_grad():
            q_jt_greedy = float(mixer(MixInput(torch.zeros(1, 1, 3), g, state[i:i + 1, j:j + 1], hidden[i:i + 1, j:j + 1])))
        v = float(ext.value(state[i, j]))
        q_jt_taken = float(q_tot[i, j, 0])
        taken_sum = float(chosen_qs[i, j].sum())
        opt_terms.append((max_sum - q_jt_greedy + v) ** 2)
        nopt_terms.append(min(0.0, taken_sum - q_jt_taken + v) ** 2)
    assert float(losses["opt_loss"]) == pytest.approx(cfg.opt_weight * sum(opt_terms) / len(opt_terms), rel=1e-5)
    assert float(losses["nopt_loss"]) == pytest.approx(cfg.nopt_weight * sum(nopt_terms) / len(nopt_terms), rel=1e-5, abs=1e-7)

    # Q_jt is detached inside both constraints: their gradients reach V and the agents, not Q_jt.
    mixer.zero_grad()
    (losses["opt_loss"] + losses["nopt_loss"]).backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in mixer.q_joint.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in ext.value.parameters())


def test_qtran_td_loss_is_q_jt_against_target_mixer():
    """L_td through the shared learner equals the masked mean of (Q_jt(s,u) - y)^2."""
    from mafac.agent import build_agent
    from mafac.learner import Learner
    from mafac.replay import EpisodeBatch

    cfg = build_config(algo="qtran", map_name="qtran_game", preset="matrix")
    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=1, state_dim=1, episode_limit=1)
    torch.manual_seed(1)
    agent = build_agent(info, cfg.agent)
    mixer = get_mixer("qtran")(info, cfg.mixer, cfg.agent.hidden_dim)
    learner = Learner(info, cfg, agent, mixer)
    b = 4
    batch = EpisodeBatch(obs=torch.ones(b, 2, 2, 1), state=torch.ones(b, 2, 1), avail=torch.ones(b, 2, 2, 3, dtype=torch.bool),
                         actions=torch.tensor([[[0, 0]], [[1, 2]], [[2, 1]], [[0, 2]]]), reward=torch.tensor([[8.0], [0.0], [0.0], [-12.0]]),
                         terminated=torch.ones(b, 1), mask=torch.ones(b, 1))
    _, stats = learner.loss(batch)
    q, h = learner._unroll(agent, batch)
    q_jt = mixer(MixInput(q[:, :1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1), batch.actions, batch.state[:, :1], h[:, :1]))
    expected = ((q_jt[..., 0] - batch.reward) ** 2).mean()  # terminal: the target is the reward itself
    assert float(stats["td_loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_qtran_loss_terms_reach_metrics_csv_and_the_table(tmp_path):
    """opt_loss and nopt_loss (the LossExtension's named terms) sit beside td_loss in metrics.csv,
    in every row (empty before the first update), and `mafac table --metric` reads them; a resumed
    run writes the same file as an uninterrupted one."""
    import csv

    import pandas as pd

    from mafac.analysis import write_table
    from mafac.config import build_config
    from mafac.rundir import METRIC_COLUMNS
    from mafac.trainer import train_run

    def cfg(steps):
        return build_config(algo="qtran", map_name="climbing", backend="matrix", preset="matrix",
                            overrides=[f"run.t_max={steps}", "run.test_interval=100"])

    whole, resumed = tmp_path / "runs" / "qtran__climbing__s0", tmp_path / "resumed" / "qtran__climbing__s0"
    train_run(cfg(400), whole)
    train_run(cfg(200), resumed)
    train_run(cfg(400), resumed)
    with open(whole / "metrics.csv") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == METRIC_COLUMNS + ["opt_loss", "nopt_loss"]
    assert rows[0]["opt_loss"] == "" and float(rows[-1]["opt_loss"]) >= 0 and float(rows[-1]["nopt_loss"]) >= 0
    a = pd.read_csv(whole / "metrics.csv").drop(columns=["wall_s"])
    pd.testing.assert_frame_equal(a, pd.read_csv(resumed / "metrics.csv").drop(columns=["wall_s"]))
    table = write_table([tmp_path / "runs"], metric="opt_loss", out=tmp_path / "t.md", reps=100)
    assert "opt_loss" in table and "climbing" in table
