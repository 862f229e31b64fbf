"""The mpe backend: every feature held to its definition (mafac/envs/mpe.py's docstring) over whole
episodes, the team reward recomputed from what the agents saw, auto-reset at 25 steps, snapshots,
and the backend through `mafac train`, `mafac list` and the memory estimate.

Episodes are played to their end with a random policy and with "always push +x", which drives a
velocity to the bound the physics allows: the bounds must hold, and on the maps without collisions
they must also be reached (a bound that is merely loose would not be the env's)."""

from __future__ import annotations

import numpy as np
import pytest

from mafac.envs.mpe import EPISODE_STEPS, MPE_MAPS, MPEEnv

N_ENVS = 2
PUSH_X = 2  # +x push; for the speaker, word 2


def _random(rng, avail):
    return np.where(avail, rng.random(avail.shape) + 1.0, 0.0).argmax(-1)


def _push_x(rng, avail):
    return np.full(avail.shape[:2], PUSH_X)


POLICIES = {"random": _random, "push-x": _push_x}


@pytest.fixture(scope="module")
def mpe_env():
    envs = {}

    def get(map_name):
        if map_name not in envs:
            envs[map_name] = MPEEnv(map_name, N_ENVS, seed=0)
        return envs[map_name]

    return get


def _expected_obs(env, states):
    """Every agent's observation rebuilt from JaxMARL's state (positions, velocities, words,
    goals), feature by feature from its name: what the names claim the features mean."""
    n_agents = env.info.n_agents
    pos, vel, words = np.asarray(states.p_pos), np.asarray(states.p_vel), np.asarray(states.c)
    goal = None if states.goal is None else np.asarray(states.goal)
    out = np.zeros((len(pos), n_agents, env.info.obs_dim))
    for i, names in enumerate(env.obs_feature_names()):
        others = [k for k in range(n_agents) if k != i]
        other = others[0]
        for f, name in enumerate(names):
            head, _, field = name.rpartition(".")
            axis = "xy".index(name[-1]) if name[-2:] in ("_x", "_y") else None
            if name.startswith("velocity"):
                col = vel[:, i, axis]
            elif name.startswith("position"):
                col = pos[:, i, axis]
            elif head.startswith("landmark_"):
                col = pos[:, n_agents + int(head.split("_")[1]), axis] - pos[:, i, axis]
            elif head.startswith("other_") and field.startswith("rel"):
                col = pos[:, others[int(head.split("_")[1])], axis] - pos[:, i, axis]
            elif head.startswith("other_"):  # spread's silent channel: JaxMARL keeps it at zero
                col = words[:, others[int(head.split("_")[1])], int(field.split("_")[1])]
            elif name.startswith("goal_colour_"):
                j = int(name.split("_")[-1])
                if env.map_name == "simple_reference_v3":  # the other agent's goal landmark
                    col = np.where(goal[:, other] == j, 0.75, 0.25)
                else:  # the speaker sees the goal
                    col = np.where(goal == j, 0.65, 0.15)
            elif name.startswith("comm_"):  # reference: the other's word; the listener: the speaker's
                col = words[:, 0 if env.map_name != "simple_reference_v3" else other, int(name.split("_")[1])]
            else:
                assert name.startswith("pad_"), name
                col = 0.0
            out[:, i, f] = col
    return out


def _xy(env, obs, i, head):
    """Agent i's (x, y) feature pair `head`.rel_x/_y (or position_x/_y for head 'position')."""
    names = env.obs_feature_names()[i]
    sep = "_" if head == "position" else ".rel_"
    return obs[:, i, [names.index(f"{head}{sep}x"), names.index(f"{head}{sep}y")]]


def _goal(env, obs, i):
    """The goal landmark agent i's colour features point at."""
    names = env.obs_feature_names()[i]
    return obs[:, i, [names.index(f"goal_colour_{j}") for j in range(3)]].argmax(1)


def _team_reward(env, obs):
    """The summed team reward of a step, from the observations after it (module doc)."""
    rows = np.arange(len(obs))
    if env.map_name == "simple_speaker_listener_v4":
        rel = np.stack([_xy(env, obs, 1, f"landmark_{j}") for j in range(3)], axis=1)
        return 2 * -(rel[rows, _goal(env, obs, 0)] ** 2).sum(-1)
    if env.map_name == "simple_reference_v3":  # agent i's goal is shown to the other agent
        return -sum(np.linalg.norm(np.stack([_xy(env, obs, i, f"landmark_{j}") for j in range(3)], axis=1)
                                   [rows, _goal(env, obs, 1 - i)], axis=-1) for i in (0, 1))
    n = env.info.n_agents
    pos = np.stack([_xy(env, obs, i, "position") for i in range(n)], axis=1)  # [E, n, 2]
    landmarks = pos[:, :1] + np.stack([_xy(env, obs, 0, f"landmark_{j}") for j in range(3)], axis=1)
    cover = -np.linalg.norm(pos[:, :, None] - landmarks[:, None], axis=-1).min(1).sum(-1)  # nearest agent each
    dist = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1)
    collisions = ((dist < 0.3) & ~np.eye(n, dtype=bool)).sum((1, 2))  # radii 0.15 + 0.15, both sides
    return 0.5 * -collisions + n * 0.5 * cover


def _heard(env, actions):
    """{hearer: the one-hot word it must hear after `actions`}: reference agents hear each other's
    word (action // 5), the listener the speaker's (its action)."""
    if env.map_name == "simple_reference_v3":
        return {i: np.eye(10)[actions[:, 1 - i] // 5] for i in (0, 1)}
    if env.map_name == "simple_speaker_listener_v4":
        return {1: np.eye(3)[actions[:, 0]]}
    return {}


def _check_range(x, low, high, names, what):
    flat, lo, hi = x.reshape(-1, x.shape[-1]), low.reshape(-1, x.shape[-1]), high.reshape(-1, x.shape[-1])
    bad = ~np.isfinite(flat) | (flat < lo - 1e-5) | (flat > hi + 1e-5)
    if bad.any():
        r, k = np.argwhere(bad)[0]
        raise AssertionError(f"{what} feature {k} ({names[r % len(names)][k] if isinstance(names[0], list) else names[k]}) "
                             f"= {flat[r, k]:.4f}, outside [{lo[r % len(lo), k]:.4f}, {hi[r % len(hi), k]:.4f}]")


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("map_name", MPE_MAPS)
def test_features_hold_their_definitions_over_whole_episodes(mpe_env, map_name, policy):
    import jax

    env = mpe_env(map_name)
    info, names = env.info, env.obs_feature_names()
    bounds = env.feature_bounds()
    assert len(names) == info.n_agents and all(len(n) == info.obs_dim for n in names)
    assert len(env.state_feature_names()) == info.state_dim == bounds["state_low"].shape[0]
    obs_lo = np.broadcast_to(bounds["obs_low"], (N_ENVS,) + bounds["obs_low"].shape)
    obs_hi = np.broadcast_to(bounds["obs_high"], (N_ENVS,) + bounds["obs_high"].shape)
    unpadded = np.array([not n.startswith("pad_") for agent in names for n in agent])
    rng = np.random.default_rng(0)
    ob = env.reset(seed=3)
    widest = np.zeros(info.obs_dim)
    for step in range(2 * EPISODE_STEPS):
        actions = POLICIES[policy](rng, ob.avail_actions)
        assert ob.avail_actions[np.arange(N_ENVS)[:, None], np.arange(info.n_agents), actions].all()
        tr = env.step(actions)
        assert not tr.terminated.any() and not tr.battle_won.any()
        assert (tr.truncated == ((step + 1) % EPISODE_STEPS == 0)).all(), f"step {step}: {tr.truncated}"
        for o in (tr, tr.next):
            _check_range(o.obs, obs_lo, obs_hi, names, f"step {step} obs")
            _check_range(o.state, bounds["state_low"], bounds["state_high"], env.state_feature_names(), f"step {step} state")
            # the state is every agent's unpadded observation, in agent order
            np.testing.assert_allclose(o.state, o.obs.reshape(N_ENVS, -1)[:, unpadded], atol=1e-6)
        np.testing.assert_allclose(tr.next.obs, _expected_obs(env, jax.device_get(env._states)), atol=1e-5)
        np.testing.assert_allclose(tr.reward, _team_reward(env, tr.obs), rtol=1e-4, atol=1e-4)
        for i, word in _heard(env, actions).items():
            np.testing.assert_array_equal(tr.obs[:, i, [n.startswith("comm_") for n in names[i]]], word)
        widest = np.maximum(widest, np.abs(tr.obs[:, -1]).max(0))
        ob = tr.next
    assert (ob.avail_actions == (np.arange(info.n_actions) < np.array(
        [env._env.action_spaces[a].n for a in env.agents])[:, None])).all()
    if policy == "push-x" and map_name != "simple_spread_v3":  # no collisions: pushing reaches the bound
        vx = names[-1].index("velocity_x")
        assert widest[vx] > 0.99 * bounds["obs_high"][-1, vx], (widest[vx], bounds["obs_high"][-1, vx])


def test_snapshot_restores_the_exact_episodes(mpe_env):
    env = mpe_env("simple_reference_v3")
    rng = np.random.default_rng(1)
    env.reset(seed=5)
    for _ in range(10):
        env.step(_random(rng, env._available()))
    snap = env.snapshot()
    actions = [_random(rng, env._available()) for _ in range(20)]  # crosses the episode end at 25
    first = [env.step(a) for a in actions]
    other = MPEEnv("simple_reference_v3", N_ENVS, seed=99)
    other.restore(snap)
    for a, tr in zip(actions, first):
        again = other.step(a)
        np.testing.assert_array_equal(again.obs, tr.obs)
        np.testing.assert_array_equal(again.next.state, tr.next.state)
        np.testing.assert_array_equal(again.reward, tr.reward)
        np.testing.assert_array_equal(again.truncated, tr.truncated)
    from mafac.errors import MafacError

    with pytest.raises(MafacError, match="mpe snapshot holds state arrays"):
        MPEEnv("simple_spread_v3", N_ENVS, seed=0).restore(snap)


def test_bad_map_and_options_are_one_line_errors(tmp_path, capsys):
    from tests.test_cli import InProcess, assert_one_line_error

    proc = InProcess(capsys, "train", "--env", "mpe", "--map", "simple_spread", "--out", tmp_path / "run")
    assert_one_line_error(proc, "unknown mpe map 'simple_spread'", ", ".join(sorted(MPE_MAPS)), code=1)
    proc = InProcess(capsys, "train", "--env", "mpe", "--map", "simple_spread_v3", "--set", "env.kwargs.max_steps=0",
                     "--out", tmp_path / "run")
    assert_one_line_error(proc, "env.kwargs.max_steps", ">= 1", code=1)
    assert not (tmp_path / "run").exists()


def test_list_memory_and_bench_budget_cover_the_maps():
    from mafac.benchmark.spec import BENCH_STEPS
    from mafac.config import build_config
    from mafac.envs import describe_env, env_metric
    from mafac.listing import render_listing
    from mafac.memory import estimate

    lines = render_listing().splitlines()
    mpe = next(i for i, line in enumerate(lines) if line.strip().startswith("mpe "))
    assert lines[mpe + 1].split("maps: ")[1].split(", ") == list(MPE_MAPS)
    assert env_metric("mpe") == "test_return" and env_metric("smax") == "test_win_rate"
    for m in MPE_MAPS:
        info = describe_env("mpe", m)  # built without compiling anything
        cfg = build_config("qmix", m, backend="mpe")
        assert info.episode_limit == cfg.env.kwargs.max_steps == EPISODE_STEPS
        mem = estimate(info, cfg)
        # the replay holds episode_limit + 1 steps of obs, state, actions... per episode
        assert mem.per_episode > (EPISODE_STEPS + 1) * (info.n_agents * info.obs_dim + info.state_dim) * 2
        assert mem.total < 2 * 2 ** 30
        assert all(m in by_map for by_map in BENCH_STEPS.values())  # (its wall time is probed per machine: mafac/benchmark/throughput.py)


@pytest.mark.slow
def test_train_through_the_cli(tmp_path):
    import csv
    import json

    from tests.test_cli import mafac

    out = tmp_path / "run"
    sets = ["env.n_envs=4", "env.test_n_envs=4", "replay.capacity=32", "learner.batch_size=4",
            "learner.start_episodes=4", "online.episodes_per_update=4", "agent.hidden_dim=16", "run.test_interval=200"]
    proc = mafac("train", "--env", "mpe", "--map", "simple_spread_v3", "--algo", "qmix", "--steps", 400,
                 *[x for s in sets for x in ("--set", s)], "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("done: test return -") and "win rate" not in proc.stdout, proc.stdout
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_steps"]) for r in rows] == [0, 200, 400]
    assert int(rows[-1]["episodes"]) == 400 // EPISODE_STEPS  # 25-step episodes, all truncated
    assert int(rows[-1]["updates"]) > 0 and np.isfinite(float(rows[-1]["loss"]))
    # 4 test episodes of 25 steps: a team reward of a few units a step, always negative
    assert all(-500 < float(r["test_return"]) < 0 for r in rows)
    assert all(float(r["test_win_rate"]) == 0 for r in rows)
    info = json.loads((out / "run.json").read_text())
    assert (info["status"], info["env"], info["map"]) == ("done", "mpe", "simple_spread_v3")
    assert (info["simulator"], info["simulator_version"]) == ("jaxmarl", "0.2.0")
