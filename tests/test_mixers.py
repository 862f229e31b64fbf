"""Mixers: VDN sums, QMIX is monotonic in every agent's Q, IQL keeps per-agent values; the registry."""

from __future__ import annotations

import math

import pytest
import torch

from mafac.builtin_plugins import ENTRY_POINTS
from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers import MIXERS, MixInput, get_mixer
from mafac.mixers.qmix import QMixConfig, QMixer

INFO = EnvInfo(n_agents=5, n_actions=11, obs_dim=7, state_dim=13, episode_limit=10)
HIDDEN = 8


def _inputs(b=3, t=4, info=INFO, gen=None, scale=1.0):
    gen = gen or torch.Generator().manual_seed(0)
    a = info.n_agents
    return MixInput(
        agent_qs=torch.randn(b, t, a, generator=gen) * scale,
        actions=torch.randint(info.n_actions, (b, t, a), generator=gen),
        state=torch.randn(b, t, info.state_dim, generator=gen) * scale,
        hidden=torch.randn(b, t, a, HIDDEN, generator=gen),
    )


def _make(name, **cfg):
    cls = get_mixer(name)
    return cls(INFO, cls.Config(**cfg), HIDDEN)


def test_registry_lists_builtin_algorithms():
    names = MIXERS.names()
    for name in ("iql", "vdn", "qmix", "qtran", "qtran_alt", "qplex", "ow_qmix", "cw_qmix", "qatten"):
        assert name in names
        assert MIXERS.source(name) == "built-in"


def test_unknown_algo_names_it_and_the_choices():
    with pytest.raises(MafacError) as exc:
        get_mixer("qmixx")
    msg = str(exc.value)
    assert "'qmixx'" in msg and "\n" not in msg
    for name in ("iql", "vdn", "qmix"):
        assert name in msg
    with pytest.raises(MafacError) as exc:  # the same through config resolution
        build_config(algo="coma")
    assert "'coma'" in str(exc.value) and "vdn" in str(exc.value)


def test_vdn_is_the_sum_of_agent_qs():
    mixer = _make("vdn")
    inp = _inputs()
    out = mixer(inp)
    assert out.shape == (3, 4, 1) and mixer.out_dim() == 1
    torch.testing.assert_close(out[..., 0], inp.agent_qs.sum(-1))
    # no dependence on the state
    inp2 = MixInput(inp.agent_qs, inp.actions, inp.state * 0 + 5.0, inp.hidden)
    torch.testing.assert_close(mixer(inp2), out)


def test_iql_returns_per_agent_values():
    mixer = _make("iql")
    inp = _inputs()
    out = mixer(inp)
    assert mixer.out_dim() == INFO.n_agents
    assert out.shape == (3, 4, INFO.n_agents)
    torch.testing.assert_close(out, inp.agent_qs)


def _reinit(module: torch.nn.Module, gen: torch.Generator, scale: float) -> None:
    """Random weights of both signs and varied sizes: monotonicity must not depend on initialisation."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


@pytest.mark.parametrize("layers", [1, 2])
def test_qmix_is_monotonic_in_every_agent_q(layers):
    gen = torch.Generator().manual_seed(layers)
    mixer = QMixer(INFO, QMixConfig(embed_dim=8, hypernet_layers=layers, hypernet_embed=16), HIDDEN)
    assert mixer.out_dim() == 1
    n_grads = 0
    for draw in range(40):
        _reinit(mixer, gen, scale=[0.1, 1.0, 3.0][draw % 3])
        inp = _inputs(b=4, t=5, gen=gen, scale=[0.5, 2.0, 10.0][draw % 3])
        qs = inp.agent_qs.clone().requires_grad_(True)
        q_tot = mixer(MixInput(qs, inp.actions, inp.state, inp.hidden))
        assert q_tot.shape == (4, 5, 1)
        (grad,) = torch.autograd.grad(q_tot.sum(), qs)
        # each Q_tot[b, t] depends only on its own step's Qs, so the summed gradient is per-step
        assert (grad >= 0).all(), f"negative dQ_tot/dQ_a {grad.min().item()} (layers={layers}, draw={draw})"
        n_grads += int((grad > 0).sum())
    assert n_grads > 0  # not trivially zero


def test_qmix_is_not_just_a_sum_and_uses_the_state():
    mixer = _make("qmix")
    inp = _inputs()
    out = mixer(inp)
    assert out.shape == (3, 4, 1)
    other = MixInput(inp.agent_qs, inp.actions, inp.state + 1.0, inp.hidden)
    assert not torch.allclose(mixer(other), out)
    # a step's Q_tot depends on that step only
    changed = inp.agent_qs.clone()
    changed[0, 0] += 1.0
    out2 = mixer(MixInput(changed, inp.actions, inp.state, inp.hidden))
    assert not torch.allclose(out2[0, 0], out[0, 0])
    torch.testing.assert_close(out2[1:], out[1:])
    torch.testing.assert_close(out2[0, 1:], out[0, 1:])


def test_qmix_bad_hypernet_layers_is_a_user_error():
    cfg = build_config(algo="qmix", overrides=["mixer.hypernet_layers=3"])
    with pytest.raises(MafacError) as exc:
        QMixer(INFO, cfg.mixer, HIDDEN)
    assert "3" in str(exc.value) and "hypernet_layers" in str(exc.value)


@pytest.mark.parametrize("algo", sorted(ENTRY_POINTS["mafac.mixers"]))
def test_every_built_in_trains_end_to_end(algo, tmp_path):
    """Each built-in algorithm through the real Trainer on a matrix game: updates happen, the
    losses stay finite, and metrics and a checkpoint are written."""
    from mafac.config import build_config
    from mafac.trainer import train_run

    cfg = build_config(algo=algo, map_name="qtran_game", preset="matrix", overrides=[
        "run.t_max=96", "run.test_interval=48", "env.n_envs=4", "env.test_n_envs=4", "replay.capacity=64",
        "learner.batch_size=8", "learner.start_episodes=8", "agent.hidden_dim=16"])
    rows = train_run(cfg, tmp_path / "run")
    assert rows[-1]["env_steps"] == 96 and rows[0]["updates"] == 0 and rows[1]["updates"] > 0
    # the first row is the evaluation before any update (no loss yet); every later one averages
    # real updates, so a NaN there is a broken loss, not a missing one
    assert math.isnan(rows[0]["loss"]) and all(math.isfinite(r["loss"]) for r in rows[1:]), rows
    assert (tmp_path / "run" / "checkpoint.pt").exists()
