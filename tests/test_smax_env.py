"""The SMAX backend: the batched env contract of mafac/envs/base.py, on real JaxMARL SMAX."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_MAX_STEPS
from mafac.envs import make_env
from mafac.envs.base import EnvInfo, Observation
from mafac.envs.smax import SMAX_MAPS
from mafac.errors import MafacError

# SMAX's discrete actions: 4 moves, then stop (index num_movement_actions - 1 = 4), then one attack
# per enemy. Stop is SMAC's no-op, the only action a dead unit has.
N_MOVE = 5
NOOP = N_MOVE - 1
EAST = 1
LIMIT = TINY_MAX_STEPS  # the shared 3m shape (conftest): random play both truncates and loses

# map -> (n_agents, n_enemies); for these maps every unit is a marine
MAPS = {"3m": (3, 3), "8m": (8, 8)}


def _env(smax_env, map_name):
    # 3m: the shared training shape; 8m: a second shape with SMAX's default limit (100)
    return smax_env("3m", 4, max_steps=LIMIT) if map_name == "3m" else smax_env("8m", 2)


@pytest.mark.parametrize("map_name", ["3m", pytest.param("8m", marks=pytest.mark.slow)])
def test_shapes_dtypes_and_info(smax_env, random_actions, map_name):
    env = _env(smax_env, map_name)
    info = env.info
    n_agents, n_enemies = MAPS[map_name]
    n_units = n_agents + n_enemies
    assert isinstance(info, EnvInfo)
    assert info.n_agents == n_agents
    assert info.n_actions == N_MOVE + n_enemies
    assert info.episode_limit == (LIMIT if map_name == "3m" else 100)
    if map_name == "8m":  # the sizes the replay's memory budget is planned for
        assert (info.obs_dim, info.state_dim) == (205, 16 * 10 + 8 * 13)  # units x 10 + last actions
    assert (info.state_dim - n_agents * info.n_actions) % n_units == 0  # a block per unit, last actions

    e, a = env.n_envs, info.n_agents
    obs = env.reset(seed=3)
    assert isinstance(obs, Observation)
    for ob in (obs,):
        assert ob.obs.shape == (e, a, info.obs_dim) and ob.obs.dtype == np.float32
        assert ob.state.shape == (e, info.state_dim) and ob.state.dtype == np.float32
        assert ob.avail_actions.shape == (e, a, info.n_actions) and ob.avail_actions.dtype == np.bool_
    rng = np.random.default_rng(0)
    tr = env.step(random_actions(rng, obs.avail_actions))
    for ob in (tr, tr.next):
        assert ob.obs.shape == (e, a, info.obs_dim) and ob.obs.dtype == np.float32
        assert ob.state.shape == (e, info.state_dim) and ob.state.dtype == np.float32
        assert ob.avail_actions.shape == (e, a, info.n_actions) and ob.avail_actions.dtype == np.bool_
    assert tr.reward.shape == (e,) and tr.reward.dtype == np.float32
    for flag in (tr.terminated, tr.truncated, tr.battle_won, tr.done):
        assert flag.shape == (e,) and flag.dtype == np.bool_
    # every agent is alive at the start: real observations, moves available
    assert (np.abs(obs.obs).sum(-1) > 0).all()
    assert obs.avail_actions[..., :NOOP].all()
    assert np.isfinite(obs.state).all() and np.isfinite(obs.obs).all()


def _check_step(tr, avail_before, actions, t, limit):
    """Invariants of one batched step; t = steps taken in each env's episode including this one."""
    assert np.take_along_axis(avail_before, actions[..., None], -1).all(), "test played an unavailable action"
    assert not (tr.terminated & tr.truncated).any()
    assert not (tr.battle_won & ~tr.terminated).any(), "battle_won without terminated"
    assert (t <= limit).all(), f"episode ran past episode_limit {limit}: {t}"
    # truncation happens exactly at the limit (unless the episode terminated on that very step)
    np.testing.assert_array_equal(tr.truncated, (t == limit) & ~tr.terminated)
    for ob in (tr, tr.next):
        dead = (ob.obs == 0).all(-1)  # SMAC gives dead agents all-zero observations
        # every agent has something to do; a dead one only the no-op
        assert ob.avail_actions.any(-1).all()
        assert ob.avail_actions[..., NOOP].all()
        assert not ob.avail_actions[dead][:, np.arange(ob.avail_actions.shape[-1]) != NOOP].any()
        assert ob.avail_actions[~dead][:, :NOOP].all()  # alive agents can always move in SMAX
    # a terminated episode that was not won was lost: every ally is dead in its final observation
    lost = tr.terminated & ~tr.battle_won
    assert (tr.obs[lost] == 0).all()
    won = tr.battle_won
    assert (np.abs(tr.obs[won]).sum(-1) > 0).any(-1).all()  # a won battle has a survivor
    # auto-reset: where an episode ended, `next` is a new episode's first observation
    done = tr.done
    for a, b in ((tr.obs, tr.next.obs), (tr.state, tr.next.state), (tr.avail_actions, tr.next.avail_actions)):
        np.testing.assert_array_equal(a[~done], b[~done])
    for i in np.flatnonzero(done):
        assert not np.array_equal(tr.obs[i], tr.next.obs[i])
        assert not np.array_equal(tr.state[i], tr.next.state[i])
        assert (np.abs(tr.next.obs[i]).sum(-1) > 0).all()  # everyone alive again
        assert tr.next.avail_actions[i][:, :NOOP].all()


def _play(env, policy, n_steps, seed=0):
    """Plays n_steps batched steps, checking every step; returns counts of what happened."""
    rng = np.random.default_rng(seed)
    obs = env.reset(seed=seed)
    t = np.zeros(env.n_envs, dtype=int)
    seen = dict(terminated=0, truncated=0, won=0, dead_agents=0, lengths=[])
    for _ in range(n_steps):
        actions = policy(rng, obs.avail_actions)
        tr = env.step(actions)
        t += 1
        _check_step(tr, obs.avail_actions, actions, t, env.info.episode_limit)
        seen["terminated"] += int(tr.terminated.sum())
        seen["truncated"] += int(tr.truncated.sum())
        seen["won"] += int(tr.battle_won.sum())
        seen["dead_agents"] += int(((tr.obs == 0).all(-1) & ~tr.done[:, None]).sum())
        seen["lengths"] += t[tr.done].tolist()
        t[tr.done] = 0
        obs = tr.next
    return seen


def test_random_play_invariants(smax_env, random_actions):
    env = _env(smax_env, "3m")
    seen = _play(env, random_actions, 3 * LIMIT + 5)
    # the test is only meaningful if these all happened
    assert seen["truncated"] > 0
    assert seen["dead_agents"] > 0, "no agent died mid-episode; the dead-agent checks were vacuous"
    assert max(seen["lengths"]) == LIMIT


def _focus_fire(rng, avail):
    """Attack the lowest-index enemy in range, else walk east: wins 3m against SMAX's heuristic."""
    scores = np.zeros(avail.shape)
    scores[..., EAST] = 1.0
    scores[..., N_MOVE:] = 2.0 + np.arange(avail.shape[-1] - N_MOVE)[::-1] * 0.01
    return np.where(avail, scores, -1.0).argmax(-1)


def test_won_and_lost_battles_terminate(smax_env):
    env = _env(smax_env, "3m")
    seen = _play(env, _focus_fire, 2 * LIMIT)
    assert seen["won"] > 0 and seen["terminated"] > 0
    assert seen["won"] <= seen["terminated"]


@pytest.mark.slow
def test_8m_random_play_invariants(smax_env, random_actions):
    env = _env(smax_env, "8m")
    seen = _play(env, random_actions, 25)
    assert seen["dead_agents"] > 0


def test_reset_seed_reproducible(smax_env, random_actions):
    env = _env(smax_env, "3m")

    def rollout(seed):
        rng = np.random.default_rng(1)
        first = env.reset(seed=seed)
        out = [first.obs, first.state]
        obs = first
        for _ in range(12):
            tr = env.step(random_actions(rng, obs.avail_actions))
            out += [tr.obs, tr.state, tr.reward, tr.terminated, tr.next.obs]
            obs = tr.next
        return out

    a, b, c = rollout(7), rollout(7), rollout(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    # the envs of one batch start from different episodes
    assert not np.array_equal(a[0][0], a[0][1])


def test_snapshot_restore_continues_identically(smax_env, random_actions):
    env = _env(smax_env, "3m")
    rng = np.random.default_rng(5)
    obs = env.reset(seed=11)
    for _ in range(7):
        obs = env.step(random_actions(rng, obs.avail_actions)).next
    snap = env.snapshot()
    import pickle

    snap = pickle.loads(pickle.dumps(snap))  # a checkpoint stores it pickled
    actions = []
    first = []
    o = obs
    for _ in range(2 * LIMIT):  # long enough to cross episode ends (auto-reset randomness)
        actions.append(random_actions(rng, o.avail_actions))
        tr = env.step(actions[-1])
        first.append(tr)
        o = tr.next
    assert any(tr.done.any() for tr in first)
    env.reset(seed=99)  # wander off
    env.step(random_actions(rng, env.reset(seed=98).avail_actions))
    env.restore(snap)
    for act, tr1 in zip(actions, first):
        tr2 = env.step(act)
        for name in ("obs", "state", "avail_actions", "reward", "terminated", "truncated", "battle_won"):
            np.testing.assert_array_equal(getattr(tr1, name), getattr(tr2, name), err_msg=name)
        np.testing.assert_array_equal(tr1.next.obs, tr2.next.obs)


def test_unknown_map_names_it_and_lists_valid_maps():
    with pytest.raises(MafacError) as exc:
        make_env("smax", "4m", 2, 0)
    msg = str(exc.value)
    assert "'4m'" in msg and "\n" not in msg
    for m in SMAX_MAPS:
        assert m in msg
    with pytest.raises(MafacError) as exc:
        make_env("smax", "not_a_map", 2, 0)
    assert "not_a_map" in str(exc.value) and "3m" in str(exc.value) and "8m" in str(exc.value)


def test_bad_env_kwarg_is_a_user_error():
    with pytest.raises(MafacError) as exc:
        make_env("smax", "3m", 2, 0, {"max_stepz": 10})
    assert "max_stepz" in str(exc.value)


def test_runs_record_their_jaxmarl_and_another_one_is_said_in_one_line(tmp_path, tiny_overrides, caplog):
    import json

    from mafac.config import build_config
    from mafac.envs import simulator, warn_if_made_with_another_simulator
    from mafac.envs.smax import JAXMARL_TESTED
    from mafac.rundir import RunInfo
    from mafac.trainer import train_run

    assert simulator("smax") == ("jaxmarl", JAXMARL_TESTED)  # the pinned release
    assert simulator("matrix") == ("", "")  # mafac's own
    run = tmp_path / "run"
    train_run(build_config(algo="vdn", map_name="3m", overrides=tiny_overrides(**{"run.t_max": 200})), run)
    info = json.loads((run / "run.json").read_text())
    assert (info["simulator"], info["simulator_version"]) == ("jaxmarl", JAXMARL_TESTED)
    caplog.clear()
    warn_if_made_with_another_simulator(run, "smax")
    assert caplog.records == []  # same version: nothing to say
    old = {k: v for k, v in info.items() if not k.startswith("simulator")}  # a run.json of before mafac 0.3
    (run / "run.json").write_text(json.dumps(dict(old, jaxmarl_version="0.1.9")))
    assert RunInfo.load(run).simulator_version == "0.1.9"
    warn_if_made_with_another_simulator(run, "smax")
    [record] = caplog.records
    assert record.levelname == "WARNING" and record.name == "mafac.envs"
    assert "jaxmarl 0.1.9" in record.getMessage() and f"jaxmarl {JAXMARL_TESTED} is installed" in record.getMessage()


def test_the_checkpoint_records_the_simulator_and_older_ones_still_resume(tmp_path, tiny_overrides):
    from mafac.checkpoint import _save, read_checkpoint
    from mafac.config import build_config
    from mafac.envs.smax import JAXMARL_TESTED
    from mafac.trainer import train_run

    cfg = lambda t: build_config(algo="vdn", map_name="3m", overrides=tiny_overrides(**{"run.t_max": t}))  # noqa: E731
    run = tmp_path / "run"
    train_run(cfg(200), run)
    state = read_checkpoint(run / "checkpoint.pt")
    assert state["simulator_version"] == JAXMARL_TESTED
    del state["simulator_version"]  # as a checkpoint from before the key existed
    _save(state, run / "checkpoint.pt")
    rows = train_run(cfg(400), run)  # resumes
    assert rows[-1]["env_steps"] == 400
