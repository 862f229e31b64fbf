"""The gym backend (mafac/envs/gym.py): whole LBF and RWARE episodes held to what the envs declare
and define (feature ranges, masks, team rewards, episode ends at the env's own limit, auto-reset),
the one-line errors, `mafac train` on LBF, and docs/environments.md's "Your own environment in one
file" guide run as written.

LBF is played by random agents and by a scripted forager (each agent walks to the nearest food and
loads next to it), so some episodes end by collecting every food (terminated) and others at the
50-step limit (truncated): both kinds of end are checked against the env's own account of them."""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from mafac.errors import MafacError

LBF = "lbforaging:Foraging-8x8-2p-2f-coop-v3"
RWARE = "rware:rware-tiny-2ag-v2"
N_FOOD = 2
TINY_TRAIN = ["--set", "env.n_envs=4", "--set", "env.test_n_envs=4", "--set", "replay.capacity=32",
              "--set", "learner.batch_size=4", "--set", "learner.start_episodes=4", "--set", "online.episodes_per_update=4",
              "--set", "agent.hidden_dim=16",
              "--quiet"]


def _make(map_name, n_envs, seed=0, **kwargs):
    from mafac.envs import make_env

    return make_env("gym", map_name, n_envs, seed, kwargs)


def _random(rng, avail):
    return np.where(avail, rng.random(avail.shape) + 1.0, 0.0).argmax(-1)


def _forager(rng, obs, eps=0.2):
    """Walk to the nearest food still on the field (LBF's rows and columns: 1 north, 2 south,
    3 west, 4 east) and load (5) once next to it; a random action with probability eps."""
    e, a, _ = obs.shape
    food = obs[..., : 3 * N_FOOD].reshape(e, a, N_FOOD, 3)
    me = obs[..., 3 * N_FOOD: 3 * N_FOOD + 2]
    d = food[..., :2] - me[..., None, :]
    dist = np.abs(d).sum(-1) + np.where(food[..., 2] > 0, 0, 1e9)
    dd = np.take_along_axis(d, dist.argmin(-1)[..., None, None], -2)[..., 0, :]
    act = np.where(np.abs(dd[..., 0]) > np.abs(dd[..., 1]), np.where(dd[..., 0] < 0, 1, 2),
                   np.where(dd[..., 1] < 0, 3, 4))
    act = np.where(np.abs(dd).sum(-1) <= 1, 5, act)
    return np.where(rng.random((e, a)) < eps, rng.integers(0, 6, (e, a)), act)


def _hold_to_bounds(env, obs, state, where):
    b = env.feature_bounds()
    assert obs.dtype == np.float32 and state.dtype == np.float32, where
    assert np.isfinite(obs).all() and np.isfinite(state).all(), where
    bad = np.argwhere((obs < b["obs_low"]) | (obs > b["obs_high"]))
    assert not len(bad), f"{where}: obs feature (env, agent, feature) {bad[0]} = {obs[tuple(bad[0])]} outside its Box"
    bad = np.argwhere((state < b["state_low"]) | (state > b["state_high"]))
    assert not len(bad), f"{where}: state feature {bad[0]} = {state[tuple(bad[0])]} outside its range"


def _play(env, policy, episodes, check_step):
    """Play until `episodes` episodes have ended, calling check_step(tr, t, ret) at each step;
    returns [(length, terminated, truncated, return)] of the ended episodes."""
    rng = np.random.default_rng(1)
    cur = env.reset()
    n = env.n_envs
    t, ret, out = np.zeros(n, dtype=int), np.zeros(n), []
    while len(out) < episodes:
        acts = policy(rng, cur)
        assert cur.avail_actions[np.arange(n)[:, None], np.arange(env.info.n_agents), acts].all()
        tr = env.step(acts)
        t += 1
        ret += tr.reward
        check_step(tr, t, ret)
        for i in np.flatnonzero(tr.done):
            out.append((int(t[i]), bool(tr.terminated[i]), bool(tr.truncated[i]), float(ret[i])))
        t[tr.done], ret[tr.done] = 0, 0.0
        cur = tr.next
    return out


# -- LBF -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["random", "forager"])
def test_lbf_whole_episodes_hold_their_definitions(policy):
    pytest.importorskip("lbforaging")
    env = _make(LBF, 4)
    info = env.info
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.episode_limit) == (2, 6, 12, 24, 50)
    declared = env.envs[0].observation_space
    bounds = env.feature_bounds()
    for i in range(2):  # the bounds are the env's own Box, agent by agent
        assert np.array_equal(bounds["obs_low"][i], declared[i].low)
        assert np.array_equal(bounds["obs_high"][i], declared[i].high)
    assert all(e.unwrapped._max_episode_steps == 51 for e in env.envs)  # LBF's own limit never fires
    levels = slice(2, 3 * N_FOOD, 3)

    def check(tr, t, ret):
        _hold_to_bounds(env, tr.obs, tr.state, f"LBF step {t}")
        _hold_to_bounds(env, tr.next.obs, tr.next.state, f"LBF next {t}")
        assert np.array_equal(tr.state, tr.obs.reshape(len(tr.obs), -1))  # no state(): the observations
        assert tr.avail_actions.all() and tr.next.avail_actions.all()  # LBF gives no masks
        assert (tr.reward >= 0).all() and (ret <= 1 + 1e-5).all()  # normalised: at most 1 an episode
        assert not (tr.terminated & tr.truncated).any() and not tr.battle_won.any()
        assert (t <= 50).all() and np.array_equal(tr.truncated, (t == 50) & ~tr.terminated)
        food_left = (tr.obs[:, 0, levels] > 0).any(-1)
        assert np.array_equal(tr.terminated, ~food_left)  # a real end is exactly "every food collected"
        for i, e in enumerate(env.envs):
            if tr.done[i]:  # auto-reset: the next episode's first observation, every food on the field
                assert e.unwrapped.current_step == 0 and (tr.next.obs[i, :, levels] > 0).all()
                assert not np.array_equal(tr.next.obs[i], tr.obs[i])
            else:
                assert e.unwrapped.current_step == t[i]
                assert np.array_equal(tr.next.obs[i], tr.obs[i]) and np.array_equal(tr.next.state[i], tr.state[i])

    play = (lambda rng, cur: _random(rng, cur.avail_actions)) if policy == "random" else \
        (lambda rng, cur: _forager(rng, cur.obs))
    episodes = _play(env, play, 12, check)
    for length, terminated, truncated, ret in episodes:
        assert terminated != truncated
        if terminated:  # collected everything: the team's return is 1
            assert length <= 50 and ret == pytest.approx(1.0, abs=1e-5)  # on step 50 too: still terminal
        else:
            assert length == 50 and ret < 1 - 1e-5
    if policy == "forager":  # both kinds of end occur
        assert any(e[1] for e in episodes) and any(e[2] for e in episodes)


def test_lbf_seeds_time_limit_and_make_kwargs():
    pytest.importorskip("lbforaging")
    a, b = _make(LBF, 3, seed=5), _make(LBF, 3, seed=5)
    first = a.reset().obs
    assert np.array_equal(first, b.reset().obs)
    assert not np.array_equal(first, _make(LBF, 3, seed=6).reset().obs)
    rng = np.random.default_rng(0)
    a.step(rng.integers(0, 6, (3, 2)))
    # a seed alone fixes the episodes (evaluation's), though LBF's own reset depends on the last episode
    again = a.reset(seed=9).obs
    assert np.array_equal(again, a.reset(seed=9).obs) and np.array_equal(again, b.reset(seed=9).obs)
    assert not np.array_equal(first, again)
    rng = np.random.default_rng(0)
    for _ in range(7):  # the same actions from the same seed: the same episodes
        acts = rng.integers(0, 6, (3, 2))
        ta, tb = a.step(acts), b.step(acts)
        assert np.array_equal(ta.obs, tb.obs) and np.array_equal(ta.reward, tb.reward)

    short = _make(LBF, 2, time_limit=10)
    assert short.info.episode_limit == 10 and short.envs[0].unwrapped._max_episode_steps == 11
    episodes = _play(short, lambda rng, cur: _random(rng, cur.avail_actions), 4, lambda *_: None)
    assert all(e[0] <= 10 and (e[1] or (e[2] and e[0] == 10)) for e in episodes)
    own = _make(LBF, 1, make_kwargs={"max_episode_steps": 20, "sight": 2})
    assert own.info.episode_limit == 20 and own.envs[0].unwrapped.sight == 2


# -- RWARE -----------------------------------------------------------------------------------------
def test_rware_whole_episodes_hold_their_definitions():
    """RWARE declares Box(-inf, inf): its features are also held to their definition (coordinates
    in grid cells, then 0/1 flags with one-hot directions)."""
    pytest.importorskip("rware")
    env = _make(RWARE, 2)
    info = env.info
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.episode_limit) == (2, 5, 71, 142, 500)
    assert all(e.unwrapped.max_steps == 501 for e in env.envs)
    rows, cols = env.envs[0].unwrapped.grid_size
    cells = 8 + np.arange(9)[:, None] * 7  # per sensor cell: agent, direction one-hot (4), shelf, requested

    def definition(obs, where):
        assert ((obs[..., 0] >= 0) & (obs[..., 0] <= cols - 1)).all(), where
        assert ((obs[..., 1] >= 0) & (obs[..., 1] <= rows - 1)).all(), where
        flags = obs[..., 2:]
        assert np.isin(flags, (0.0, 1.0)).all(), where
        assert (obs[..., 3:7].sum(-1) == 1).all(), where  # own direction
        assert (obs[..., cells + np.arange(1, 5)].sum(-1) == 1).all(), where  # each cell's direction one-hot

    def check(tr, t, ret):
        _hold_to_bounds(env, tr.obs, tr.state, f"RWARE step {t}")
        definition(tr.obs, f"RWARE step {t}")
        definition(tr.next.obs, f"RWARE next {t}")
        assert np.array_equal(tr.state, tr.obs.reshape(2, -1)) and tr.avail_actions.all()
        assert (tr.reward >= 0).all() and np.array_equal(tr.reward, np.round(tr.reward))  # 1 per delivered shelf
        assert not tr.terminated.any() and np.array_equal(tr.truncated, t == 500)
        for i, e in enumerate(env.envs):
            assert e.unwrapped._cur_steps == (0 if tr.done[i] else t[i])

    episodes = _play(env, lambda rng, cur: _random(rng, cur.avail_actions), 2, check)
    assert [e[:3] for e in episodes] == [(500, False, True)] * 2 and all(e[3] >= 0 for e in episodes)


# -- errors ----------------------------------------------------------------------------------------
UNEVEN = '''
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class Uneven(ParallelEnv):
    metadata = {"name": "uneven"}
    possible_agents = ["small", "big"]
    max_cycles = 5

    def observation_space(self, agent):
        return spaces.Box(0.0, 1.0, (2 if agent == "small" else 3,), np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)
'''


def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    from tests.test_cli import InProcess, assert_one_line_error

    pytest.importorskip("lbforaging")
    pytest.importorskip("pettingzoo")

    def train(map_name, *extra):
        return InProcess(capsys, "train", "--env", "gym", "--map", map_name, *extra, "--out", tmp_path / "run")

    assert_one_line_error(train("Foraging 8x8"), "bad gym map 'Foraging 8x8'", "'[module:]EnvName-vN'",
                          "pettingzoo:module[:factory]", code=1)
    assert_one_line_error(train("lbforaging:Foraging-8x8-2p-2f-cop-v3"), "unknown gym map", "Did you mean",
                          "Foraging-8x8-2p-2f-coop", "lbforaging:Foraging-8x8-2p-2f-coop-v3", code=1)
    assert_one_line_error(train("Foraging-8x8-2p-2f-coop-v9"), "unknown gym map", code=1)
    assert_one_line_error(train("nosuchmodule:Thing-v0"), "nosuchmodule", code=1)
    assert_one_line_error(train("CartPole-v1"), "not a multi-agent env", "Tuple", code=1)
    assert_one_line_error(train(LBF, "--set", "env.kwargs.make_kwargs={no_such_kwarg: 1}"), "make_kwargs",
                          "no_such_kwarg", code=1)
    assert_one_line_error(train(LBF, "--set", "env.kwargs.time_limit=-1"), "env.kwargs.time_limit", code=1)
    (tmp_path / "uneven_env.py").write_text(UNEVEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    line = assert_one_line_error(train("pettingzoo:uneven_env:Uneven"), "differ in shape", code=1)
    assert "small (2,)" in line and "big (3,)" in line, line
    assert_one_line_error(train("pettingzoo:uneven_env:nothing"), "no callable 'nothing'", code=1)
    # the extra not installed: its packages' imports fail as they would without them
    for package, map_name in (("lbforaging", LBF), ("rware", RWARE), ("pettingzoo", "pettingzoo:uneven_env:Uneven")):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, package, None)
            m.delitem(sys.modules, "uneven_env", raising=False)
            assert_one_line_error(train(map_name), f"needs the package '{package}'", "pip install -e .[gym]", code=1)
    assert not (tmp_path / "run").exists()  # nothing ran


def test_list_and_metric():
    from mafac.envs import check_map, env_metric
    from mafac.envs.gym import EXAMPLE_MAPS
    from mafac.listing import render_listing

    lines = render_listing().splitlines()
    gym = next(i for i, line in enumerate(lines) if line.strip().startswith("gym "))
    assert lines[gym + 1].split("maps: ")[1].split(", ") == list(EXAMPLE_MAPS)
    assert env_metric("gym") == "test_return"
    for m in (*EXAMPLE_MAPS, "Foraging-8x8-2p-2f-coop-v3", "my.pkg.envs:Thing-v0", "pettingzoo:meet",
              "pettingzoo:a.b:make_env"):
        check_map("gym", m)  # any id of the right form: whether it exists is known once it is built
    for m in ("", "a b", "pettingzoo:", "a:b:c", "pettingzoo:meet:Meet:x"):
        with pytest.raises(MafacError, match="bad gym map"):
            check_map("gym", m)


def test_the_epymarl_benchmark_tasks_build():
    """Every example `mafac list` shows builds; lbforaging 2.0.0 registers 1-4 foods only, so the
    two 5-food tasks are registered by the backend exactly as lbforaging registers the others."""
    pytest.importorskip("lbforaging")
    pytest.importorskip("rware")
    import gymnasium

    from mafac.envs import describe_env
    from mafac.envs.gym import EXAMPLE_MAPS

    sizes = {m: describe_env("gym", m) for m in EXAMPLE_MAPS}
    for m, info in sizes.items():
        players = int(re.search(r"(\d+)(p|ag)-", m).group(1))
        foods = re.search(r"(\d+)f", m.split(":")[1])
        assert info.n_agents == players, m
        assert info.obs_dim == (3 * (int(foods.group(1)) + players) if foods else 71), m
        assert info.state_dim == players * info.obs_dim and info.episode_limit == (50 if foods else 500), m
    ours, theirs = gymnasium.spec("Foraging-15x15-3p-5f-v3"), gymnasium.spec("Foraging-15x15-3p-4f-v3")
    assert ours.entry_point == theirs.entry_point and ours.kwargs == {**theirs.kwargs, "max_num_food": 5}


# -- mafac train -----------------------------------------------------------------------------------
def _metrics(run):
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_lbf_through_the_cli(tmp_path):
    pytest.importorskip("lbforaging")
    from tests.test_cli import mafac

    out = tmp_path / "run"
    proc = mafac("train", "--env", "gym", "--map", LBF, "--algo", "qmix", "--steps", 400,
                 "--set", "run.test_interval=200", *TINY_TRAIN, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("done: test return ") and "win rate" not in proc.stdout, proc.stdout
    rows = _metrics(out)
    assert [int(r["env_steps"]) for r in rows] == [0, 200, 400]
    assert int(rows[-1]["episodes"]) >= 400 // 50  # 4 envs, 100 steps each: two episodes at least
    assert int(rows[-1]["updates"]) > 0 and np.isfinite(float(rows[-1]["loss"]))
    assert all(0 <= float(r["test_return"]) <= 1 for r in rows)  # LBF's normalised team return
    assert all(float(r["test_win_rate"]) == 0 for r in rows)


# -- the guide -------------------------------------------------------------------------------------
def guide():
    """The "Your own environment in one file" section of docs/environments.md: (python, bash)."""
    text = (ROOT / "docs" / "environments.md").read_text(encoding="utf-8")
    assert "## Your own environment in one file" in text
    section = text.split("## Your own environment in one file", 1)[1].split("\n## ", 1)[0]
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return python, [line for line in bash.splitlines() if line.strip()]


def test_guide_env_as_written(tmp_path, monkeypatch):
    """The guide's env passes PettingZoo's own API test, and the backend reads it as the guide
    says: masks, state(), the team reward, terminated on meeting, truncated at max_cycles."""
    pytest.importorskip("pettingzoo")
    python, commands = guide()
    assert len(python.strip().splitlines()) <= 60, "the guide's env should stay small"
    (tmp_path / "guide_meet.py").write_text(python)
    monkeypatch.syspath_prepend(str(tmp_path))
    import guide_meet
    from pettingzoo.test import parallel_api_test

    parallel_api_test(guide_meet.MeetEnv(), num_cycles=100)
    assert any("parallel_api_test(meet.MeetEnv())" in c for c in commands)

    env = _make("pettingzoo:guide_meet:MeetEnv", 4, seed=3)
    info = env.info
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.episode_limit) == (2, 3, 2, 2, 20)
    assert env.agents == ("walker_0", "walker_1")
    size = env.envs[0].size

    def check(tr, t, ret):
        _hold_to_bounds(env, tr.obs, tr.state, f"meet step {t}")
        for o in (tr, tr.next):  # the masks are the env's: no left at cell 0, no right at the end
            pos = np.rint(o.obs[:, :, 0] * (size - 1))
            assert np.array_equal(o.avail_actions, np.stack([np.ones_like(pos), pos > 0, pos < size - 1], -1))
            assert np.allclose(o.state, o.obs[:, :, 0])  # state(): both positions
        met = tr.obs[:, 0, 0] == tr.obs[:, 0, 1]
        assert np.array_equal(tr.terminated, met) and np.array_equal(tr.truncated, (t == 20) & ~met)
        assert np.allclose(tr.reward, np.where(met, 1.0, -0.05))  # the sum of the walkers' rewards
        assert (tr.next.obs[tr.done, 0, 0] != tr.next.obs[tr.done, 0, 1]).all()  # fresh episodes start apart

    episodes = _play(env, lambda rng, cur: _random(rng, cur.avail_actions), 16, check)
    assert any(e[1] for e in episodes) and all(e[0] <= 20 for e in episodes)

    import yaml  # the guide's options: a longer line, and its max_cycles as the time limit

    options = next(c for c in commands if "make_kwargs" in c).split("env.kwargs.make_kwargs=", 1)[1].rstrip("'")
    bigger = _make("pettingzoo:guide_meet:MeetEnv", 2, make_kwargs=yaml.safe_load(options))
    assert bigger.envs[0].size == 11 and bigger.info.episode_limit == 30


def test_guide_commands_as_written(tmp_path):
    """The guide's commands from the folder that holds meet.py: the API test, and `mafac train`
    (cut to a few hundred env steps) finds the module in the current directory."""
    pytest.importorskip("pettingzoo")
    from tests.test_cli import mafac

    python, commands = guide()
    (tmp_path / "meet.py").write_text(python)
    api_test = next(c for c in commands if c.startswith("python -c"))
    proc = subprocess.run([sys.executable, *shlex.split(api_test)[1:]], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "Passed Parallel API test" in proc.stdout, proc.stdout + proc.stderr
    train = shlex.split(next(c for c in commands if c.startswith("mafac train")))
    out = tmp_path / "run"
    proc = mafac(*train[1:], "--steps", 400, "--set", "run.test_interval=200", *TINY_TRAIN, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    rows = _metrics(out)
    assert [int(r["env_steps"]) for r in rows] == [0, 200, 400] and int(rows[-1]["updates"]) > 0
    assert all(-1.0 - 1e-6 <= float(r["test_return"]) <= 1.0 for r in rows)


def test_the_backend_turns_on_reward_standardisation_and_a_user_setting_wins(tmp_path):
    """LBF's sparse rewards teach nothing without it (docs/environments.md), so the gym backend's
    runs standardise rewards however the backend was chosen; SMAX's do not; --set decides last."""
    from mafac.config import build_config

    assert build_config("qmix", LBF, backend="gym").learner.standardise_rewards is True
    assert build_config("vdn", overrides=["env.backend=gym", f"env.map={RWARE}"]).learner.standardise_rewards is True
    assert build_config("qmix", "3m").learner.standardise_rewards is False
    off = build_config("qmix", LBF, backend="gym", overrides=["learner.standardise_rewards=false"])
    assert off.learner.standardise_rewards is False
    f = tmp_path / "run.yaml"
    f.write_text(f"env:\n  backend: gym\n  map: {LBF}\nlearner:\n  standardise_rewards: false\n")
    assert build_config(config_file=f).learner.standardise_rewards is False  # the file's word over the backend's
    f.write_text(f"env:\n  backend: gym\n  map: {LBF}\n")
    assert build_config(config_file=f).learner.standardise_rewards is True
