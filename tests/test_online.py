"""The online learner (mafac/online.py) and the learner's precision setting (mafac/precision.py).

The online learner's targets are held to lambda-returns written out by hand on a batch that holds
a terminated, a truncated and a padded episode; its loss and gradients to the replay learner's
when the replay learner's target networks are the online ones (the one thing that differs by
design); its runs to exact resume like the replay learner's.
"""

from __future__ import annotations

import pytest
import torch

from golden_losses import _batch, _fill
from mafac.agent import build_agent
from mafac.config import build_config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.learner import Learner
from mafac.mixers import get_mixer
from mafac.online import OnlineLearner
from mafac import precision

INFO = EnvInfo(n_agents=3, n_actions=5, obs_dim=6, state_dim=7, episode_limit=5)


def _learners(algo, kind_overrides=(), seed=0):
    over = ["agent.hidden_dim=8", "learner.td_lambda=0.6", "learner.gamma=0.9", *kind_overrides]
    cfg = build_config(algo=algo, preset="pymarl", overrides=over + ["learner.kind=online"])
    rcfg = build_config(algo=algo, preset="pymarl", overrides=over)
    online = OnlineLearner(INFO, cfg, build_agent(INFO, cfg.agent), get_mixer(algo)(INFO, cfg.mixer, 8), seed=seed)
    replay = Learner(INFO, rcfg, build_agent(INFO, rcfg.agent), get_mixer(algo)(INFO, rcfg.mixer, 8))
    for learner in (online, replay):
        for module in (learner.agent, learner.mixer, learner.extension, learner.target_agent,
                       learner.target_mixer, learner.target_extension):
            if module is not None:
                _fill(module, 0.0)  # every copy the same: the replay learner's targets are the online nets
    return online, replay


def hand_lambda_returns(reward, terminated, mask, v_next, gamma, lam):
    """G_t = r_t + gamma (1 - term_t) [(1 - lam) V(s_t+1) + lam G_t+1], and at an episode's last
    step G_t = r_t + gamma (1 - term_t) V(s_t+1): written per episode and step, no tensors."""
    b, t = len(reward), len(reward[0])
    out = [[0.0] * t for _ in range(b)]
    for e in range(b):
        length = int(sum(mask[e]))
        for i in reversed(range(length)):
            if i == length - 1:
                ret_next = v_next[e][i]
            else:
                ret_next = (1 - lam) * v_next[e][i] + lam * out[e][i + 1]
            out[e][i] = reward[e][i] + gamma * (1 - terminated[e][i]) * ret_next
    return out


def test_online_targets_are_lambda_returns_of_the_online_greedy_joint_value():
    """VDN: the bootstrap value of state s_t+1 is the sum over agents of the online agents' max
    Q over available actions there; the batch ends episodes at 5 (truncated: not terminated, so it
    bootstraps), 3 (terminated), 4 (terminated) and 2 (truncated), padded to 5."""
    online, _ = _learners("vdn")
    batch = _batch(INFO)
    assert batch.terminated.sum() == 2 and batch.mask.sum(1).tolist() == [5, 3, 4, 2]
    with torch.no_grad():
        q, _ = online.agent.unroll(online._inputs(batch))  # [B*A, T+1, n]
        q = q.view(4, 3, 6, 5).permute(0, 2, 1, 3).masked_fill(~batch.avail, -1e9)
        v = q.max(-1).values.sum(-1)  # [B, T+1]
    want = hand_lambda_returns(batch.reward.tolist(), batch.terminated.tolist(), batch.mask.tolist(),
                               v[:, 1:].tolist(), 0.9, 0.6)
    got = online.targets(batch)[..., 0]
    mask = batch.mask.bool()
    torch.testing.assert_close(got[mask], torch.tensor(want)[mask], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algo", ["vdn", "qmix", "qplex", "qtran", "ow_qmix"])
def test_online_loss_and_gradients_equal_the_replay_learners_with_targets_equal_to_online(algo):
    online, replay = _learners(algo)
    batch = _batch(INFO)
    totals, grads = [], []
    for learner in (online, replay):
        total, stats = learner.loss(batch)
        total.backward()
        totals.append((float(total), {k: float(v) for k, v in stats.items()}))
        grads.append([p.grad.clone() if p.grad is not None else None for p in learner.params])
    assert totals[0][0] == pytest.approx(totals[1][0], rel=1e-6)
    assert totals[0][1] == pytest.approx(totals[1][1], rel=1e-6)
    for g_online, g_replay in zip(*grads):
        if g_replay is None:
            assert g_online is None
        else:
            torch.testing.assert_close(g_online, g_replay)


def test_an_update_takes_epochs_times_minibatches_steps_towards_targets_formed_once():
    online, _ = _learners("qmix", ["online.epochs=3", "online.minibatches=2"])
    batch = _batch(INFO)
    before = online.targets(batch).clone()
    start = [p.detach().clone() for p in online.params]
    stats = online.train_episodes(batch, env_steps=0)
    assert len(stats) == 6 and online.updates == 6
    assert all(torch.isfinite(torch.tensor(s["loss"])) for s in stats)
    assert any(not torch.equal(a, p) for a, p in zip(start, online.params))
    assert not torch.equal(before, online.targets(batch))  # the network moved, so later targets differ


def test_minibatch_order_is_the_learners_own_seeded_stream():
    a, _ = _learners("vdn", seed=3)
    b, _ = _learners("vdn", seed=3)
    c, _ = _learners("vdn", seed=4)
    batch = _batch(INFO)
    la = [s["loss"] for s in a.train_episodes(batch, 0)]
    assert la == [s["loss"] for s in b.train_episodes(batch, 0)]
    assert la != [s["loss"] for s in c.train_episodes(batch, 0)]


def test_online_config_is_checked():
    with pytest.raises(MafacError, match="learner.kind"):
        build_config(algo="vdn", overrides=["learner.kind=offline"])
    with pytest.raises(MafacError, match="online.epochs"):
        build_config(algo="vdn", overrides=["online.epochs=0"])
    with pytest.raises(MafacError, match="learner.precision"):
        build_config(algo="vdn", overrides=["learner.precision=float16"])


# -- precision ---------------------------------------------------------------------------------
def test_auto_precision_follows_the_hardware():
    cpu = torch.device("cpu")
    assert precision.resolve("float32", cpu) is None
    assert precision.resolve("bfloat16", cpu) is torch.bfloat16
    assert precision.resolve("auto", cpu) == (torch.bfloat16 if precision.cpu_has_native_bf16() else None)
    line = precision.describe("auto", cpu)
    assert ("bfloat16 autocast" in line) == precision.cpu_has_native_bf16() and "\n" not in line


@pytest.mark.parametrize("kind", ["replay", "online"])
def test_bfloat16_keeps_parameters_and_targets_float32_and_the_loss_close(kind):
    over = ["agent.hidden_dim=8", "learner.td_lambda=0.6", "learner.gamma=0.9", f"learner.kind={kind}"]
    losses = {}
    for prec in ("float32", "bfloat16"):
        cfg = build_config(algo="qmix", preset="pymarl", overrides=over + [f"learner.precision={prec}"])
        cls = OnlineLearner if kind == "online" else Learner
        learner = cls(INFO, cfg, build_agent(INFO, cfg.agent), get_mixer("qmix")(INFO, cfg.mixer, 8))
        for m in (learner.agent, learner.mixer, learner.target_agent, learner.target_mixer):
            _fill(m, 0.0)
        batch = _batch(INFO)
        assert learner.targets(batch).dtype == torch.float32
        total, _ = learner.loss(batch)
        assert total.dtype == torch.float32
        total.backward()
        assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in learner.params if p.grad is not None)
        losses[prec] = float(total)
    assert losses["bfloat16"] != losses["float32"]  # it really ran in the lower precision
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)


# -- whole runs --------------------------------------------------------------------------------
def test_an_online_run_resumes_exactly(tmp_path, tiny_overrides):
    """A run interrupted after its 400-step checkpoint and resumed equals one that never stopped:
    the checkpoint holds the online learner's shuffle stream, optimiser and the episodes finished
    since its last update (the lr decays with env steps towards the same t_max in both)."""
    from test_train import diff_rows, read_metrics

    from mafac.trainer import train_run

    def cfg(t_max):
        over = tiny_overrides(**{"run.t_max": t_max, "online.episodes_per_update": 4, "online.minibatches": 2})
        return build_config(algo="qmix", map_name="3m", preset="online", overrides=over)

    assert cfg(800).learner.kind == "online" and cfg(800).agent.layer_norm and cfg(800).learner.lr_schedule == "linear"
    def interrupt(p):
        if p.env_steps >= 400:  # the 400-step evaluation and checkpoint are written by now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(cfg(800), tmp_path / "A", progress=interrupt)
    assert len(read_metrics(tmp_path / "A")[1]) == 3
    train_run(cfg(800), tmp_path / "A")
    train_run(cfg(800), tmp_path / "B")
    _, rows_a = read_metrics(tmp_path / "A")
    _, rows_b = read_metrics(tmp_path / "B")
    assert int(rows_b[2]["updates"]) > 0 and rows_b[2]["td_loss"] != ""
    diffs = diff_rows(rows_b, rows_a)
    assert not diffs, "resumed online run differs from the uninterrupted one: " + "; ".join(diffs)


def test_mafac_list_shows_each_methods_learners_and_a_narrowed_plugin_is_refused():
    from mafac.listing import render_listing
    from mafac.mixers import MIXERS
    from mafac.mixers.vdn import VDNMixer

    class ReplayOnly(VDNMixer):
        learners = ("replay",)

    MIXERS.register("replay_only_vdn", ReplayOnly)
    try:
        text = render_listing()
        line = next(ln for ln in text.splitlines() if ln.split() and ln.split()[0] == "replay_only_vdn")
        assert "(learners: replay)" in line
        assert "(learners: replay, online)" in next(ln for ln in text.splitlines() if ln.split()[:1] == ["qmix"])
        with pytest.raises(MafacError, match="replay_only_vdn does not run under learner.kind=online; it supports: replay"):
            build_config(algo="replay_only_vdn", preset="online")
    finally:
        MIXERS.unregister("replay_only_vdn")


def test_a_measured_learner_note_is_said_by_list_and_by_a_bench_that_runs_it(tmp_path):
    """QTRAN's collapse under the online learner (results/reference) is said where a user picks it:
    `mafac list` under its row, and a bench whose QTRAN runs use that learner, as a warning line;
    under the replay learner nothing is said."""
    from mafac.listing import render_listing
    from mafac.mixers import learner_note
    from tests.test_cli import mafac

    assert "collapses on 8m" in learner_note("qtran", "online") and "--preset fast" in learner_note("qtran", "online")
    assert learner_note("qtran", "replay") == "" and learner_note("qmix", "online") == ""
    lines = render_listing().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["qtran"])
    assert lines[row + 1].split()[0] == "note:" and learner_note("qtran", "online") in lines[row + 1]
    warned = "warning: " + learner_note("qtran", "online")
    for preset, said in (("online", True), ("fast", False)):
        proc = mafac("bench", "--algos", "qtran,vdn", "--maps", "3m", "--preset", preset, "--seeds", "1",
                     "--plan", "--no-probe", "--name", "notes", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (warned in proc.stderr.splitlines()) is said, proc.stderr


@pytest.mark.parametrize("algo", ["vdn", "ow_qmix"])
def test_every_stat_an_update_reports_is_the_learners_or_a_named_loss_term(algo):
    """metrics.csv adds a column per stat outside LEARNER_STATS: so those must be exactly the
    LossExtension's loss terms, under both learners."""
    from mafac.learner import LEARNER_STATS

    online, replay = _learners(algo)
    batch = _batch(INFO)
    terms = set(replay.extension.losses(replay.batch_view(batch))) if replay.extension is not None else set()
    for stats in [replay.train(batch, 1, 0), *online.train_episodes(batch, 0)]:
        assert set(stats) - LEARNER_STATS == terms


def test_default_bench_budgets_follow_the_learner_the_runs_resolve_to():
    """The online learner's default budgets are larger (the same hour buys 2.7-3.4x the env steps);
    --preset fast, a --set learner.kind and --steps each decide as a user would expect."""
    from mafac.benchmark.spec import BENCH_STEPS, Bench, ConfigSource

    online, replay = BENCH_STEPS["online"], BENCH_STEPS["replay"]
    assert online["3m"] > replay["3m"] and online["8m"] > replay["8m"]
    def steps(**kw):
        return {j.map: j.steps for j in Bench.build("vdn", "3m,8m", 1, **kw).jobs()}
    assert steps() == {"3m": online["3m"], "8m": online["8m"]}  # the default preset is online
    assert steps(source=ConfigSource(preset="fast")) == {"3m": replay["3m"], "8m": replay["8m"]}
    assert steps(source=ConfigSource(preset="fast", overrides=["learner.kind=online"]))["3m"] == online["3m"]
    assert steps(steps=1234) == {"3m": 1234, "8m": 1234}
    assert Bench.build("vdn", "3m,8m", 1, source=ConfigSource(preset="fast")).grid()["steps"] == {"3m": replay["3m"], "8m": replay["8m"]}
