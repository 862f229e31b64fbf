"""The SC2 backend against a StarCraft2Env stand-in, in real spawned worker processes.

StarCraft II cannot run here, so `sc2_standin.StandInSC2` plays SMAC's part; everything else
(worker processes, pipes, auto-reset, crash detection, installation checks) is the real code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from importlib.machinery import PathFinder
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:  # spawned workers inherit sys.path and import the stand-in by name
    sys.path.insert(0, str(TESTS))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mafac.envs import sc2_install  # noqa: E402
from mafac.envs.base import Observation, Transition  # noqa: E402
from mafac.envs.sc2 import SC2Env  # noqa: E402
from mafac.envs.sc2_install import check_map, check_smac, sc2_root  # noqa: E402
from mafac.errors import MafacError  # noqa: E402

STANDIN = "sc2_standin:StandInSC2"


@pytest.fixture
def make_env():
    envs = []

    def make(map_name="3m", n_envs=2, seed=0, **kwargs):
        env = SC2Env(map_name, n_envs, seed, env_factory=STANDIN, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def random_actions(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    """Uniform over each agent's available actions."""
    scores = rng.random(avail.shape) * avail
    return scores.argmax(-1)


def alive(pid: int) -> bool:
    """Running, not a zombie: an orphaned worker stays a zombie until init gets round to it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to "the pid exists"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_gone(pids, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


class GameLog:
    """The stand-in's event log: which games (child processes of the workers) were launched, and
    which ones their worker closed properly (the close ran to its end)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self, kind: str):
        if not self.path.exists():
            return []
        return [int(line.split()[1]) for line in self.path.read_text().splitlines() if line.startswith(kind + " ")]

    @property
    def launched(self):
        return self.events("launch")

    @property
    def closed(self):
        return self.events("closed")


@pytest.fixture
def game_log(tmp_path):
    return GameLog(tmp_path / "games.log")


def session_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[-1].split()[3])


# -- the batched interface ----------------------------------------------------------------------

def test_info_and_reset_shapes(make_env):
    env = make_env("3m", n_envs=2)
    info = env.info
    assert (info.n_agents, info.n_actions, info.episode_limit) == (3, 9, 60)
    # state_last_action=True is PyMARL's default, so the state includes last actions.
    assert info.state_dim == 3 + 3 + 3 * 9 and info.obs_dim == 11
    obs = env.reset()
    assert isinstance(obs, Observation)
    assert obs.obs.shape == (2, 3, 11) and obs.obs.dtype == np.float32
    assert obs.state.shape == (2, info.state_dim) and obs.state.dtype == np.float32
    assert obs.avail_actions.shape == (2, 3, 9) and obs.avail_actions.dtype == np.bool_
    assert not obs.avail_actions[..., 0].any()  # SMAC: a living agent may not no-op
    assert env.snapshot() is None


def test_random_play_masks_autoreset_and_flags(make_env):
    env = make_env("3m", n_envs=3, seed=5)
    rng = np.random.default_rng(0)
    obs = env.reset()
    ends = wins = 0
    for _ in range(150):
        tr = env.step(random_actions(rng, obs.avail_actions))
        assert isinstance(tr, Transition)
        assert tr.obs.shape == (3, 3, 11) and tr.obs.dtype == np.float32
        assert tr.reward.shape == (3,) and tr.reward.dtype == np.float32
        for flag in (tr.terminated, tr.truncated, tr.battle_won):
            assert flag.shape == (3,) and flag.dtype == np.bool_
        # Dead agents: zero observation, only the no-op available.
        dead = ~tr.obs.any(-1)
        assert (tr.avail_actions[dead][:, 0]).all() and not tr.avail_actions[dead][:, 1:].any()
        assert not tr.avail_actions[~dead][:, 0].any()
        assert not (tr.battle_won & ~tr.terminated).any()
        for e in range(3):
            if tr.done[e]:
                ends += 1
                wins += int(tr.battle_won[e])
                # The new episode: everyone alive, timestep feature back to 0, differs from final.
                assert not np.array_equal(tr.next.obs[e], tr.obs[e])
                assert tr.next.obs[e, :, -1].max() == 0.0
                assert tr.next.avail_actions[e, :, 1].all()
            else:
                assert np.array_equal(tr.next.obs[e], tr.obs[e])
                assert np.array_equal(tr.next.state[e], tr.state[e])
                assert np.array_equal(tr.next.avail_actions[e], tr.avail_actions[e])
        obs = tr.next
    assert ends >= 3 and 0 < wins < ends  # the stand-in's odds give both outcomes here


def test_time_limit_is_truncation_not_termination(make_env):
    env = make_env(n_envs=2, standin_episode_limit=4, standin_enemy_death_prob=0.0, standin_ally_death_prob=0.0)
    obs = env.reset()
    for t in range(4):
        tr = env.step(random_actions(np.random.default_rng(t), obs.avail_actions))
        obs = tr.next
    assert tr.truncated.all() and not tr.terminated.any() and not tr.battle_won.any()
    assert np.allclose(tr.obs[:, :, -1], 1.0) and np.allclose(tr.next.obs[:, :, -1], 0.0)
    # SMAC's and PyMARL's default continuing_episode=False hides the time limit: a plain end.
    env = make_env(n_envs=1, continuing_episode=False, standin_episode_limit=2,
                   standin_enemy_death_prob=0.0, standin_ally_death_prob=0.0)
    obs = env.reset()
    tr = env.step(random_actions(np.random.default_rng(0), obs.avail_actions))
    tr = env.step(random_actions(np.random.default_rng(1), tr.next.avail_actions))
    assert tr.terminated.all() and not tr.truncated.any()


def test_battle_won_is_terminal_with_scaled_win_reward(make_env):
    env = make_env(n_envs=2, standin_enemy_death_prob=1.0, standin_ally_death_prob=0.0)
    obs = env.reset()
    tr = env.step(random_actions(np.random.default_rng(0), obs.avail_actions))
    assert tr.terminated.all() and tr.battle_won.all() and not tr.truncated.any()
    # reward_scale with PyMARL's rate 20: (3 kills * 10 + 200) / ((3 * 10 + 200) / 20).
    assert np.allclose(tr.reward, 20.0)


def test_smac_restart_is_an_aborted_episode(make_env, game_log):
    """SMAC's answer to a lost SC2 connection: relaunch the game, return (0, True, {})."""
    env = make_env(n_envs=2, standin_restart_every=3, standin_enemy_death_prob=0.0, standin_ally_death_prob=0.0,
                   standin_log=str(game_log.path))
    obs = env.reset()
    for t in range(3):
        before = obs
        tr = env.step(random_actions(np.random.default_rng(t), obs.avail_actions))
        obs = tr.next
        assert tr.aborted.all() == (t == 2) and not (t < 2 and tr.done.any())
    # Truncated (the learner bootstraps), never terminal, never won, no reward; the final
    # observation is the last one seen (the relaunched game has no units to observe).
    assert tr.truncated.all() and not tr.terminated.any() and not tr.battle_won.any()
    assert (tr.reward == 0).all()
    assert np.array_equal(tr.obs, before.obs) and np.array_equal(tr.state, before.state)
    assert np.array_equal(tr.avail_actions, before.avail_actions)
    assert np.allclose(tr.next.obs[..., -1], 0.0) and tr.next.avail_actions[..., 1].all()  # a new episode
    assert len(game_log.launched) == 4 and len(game_log.closed) == 2  # each game was relaunched
    # An episode SMAC completes is never aborted, whatever its end.
    tr = env.step(random_actions(np.random.default_rng(0), obs.avail_actions))
    assert not tr.aborted.any()


def test_evaluation_leaves_aborted_episodes_out(make_env):
    import torch

    from mafac.agent import DRQN, agent_input_dim
    from mafac.config import AgentConfig
    from mafac.runner import Runner

    # Seeds 0, 1, 2: the game of env 1 restarts on its first step, the others win on theirs.
    env = make_env(n_envs=3, seed=0, standin_restart_every=1, standin_only_seed=1,
                   standin_enemy_death_prob=1.0, standin_ally_death_prob=0.0)
    torch.manual_seed(0)
    agent = DRQN(agent_input_dim(env.info, AgentConfig()), 8, env.info.n_actions)
    result = Runner(env, agent, AgentConfig(), None, seed=0).play_greedy(seed=0).summary()
    assert result == {"test_win_rate": 1.0, "test_return": 20.0, "test_timeout_rate": 0.0,
                      "test_episode_length": 1.0, "test_aborted": 1}


def test_obs_timestep_number_mismatch_is_one_clear_error(make_env):
    # SMAC (and the stand-in) count the timestep in get_obs_size() and then append it once more.
    env = make_env(n_envs=2, obs_timestep_number=True)
    assert env.info.obs_dim == 12
    pids = env.worker_pids
    with pytest.raises(MafacError) as err:
        env.reset()
    assert str(err.value) == (
        "SMAC's observations have 13 features but its get_obs_size() says 12; this is SMAC's "
        "obs_timestep_number bug (the timestep is counted in the size and then appended again): "
        "set env.kwargs.obs_timestep_number=false")
    assert wait_gone(pids, 2.0)  # an env that cannot be used is closed at once


def test_worker_seeds_are_seed_plus_index_and_deterministic(make_env):
    pair = make_env(n_envs=2, seed=10)
    single = make_env(n_envs=1, seed=11)
    again = make_env(n_envs=2, seed=10)
    a, _, _ = pair.reset(), single.reset(), again.reset()
    rng = np.random.default_rng(3)
    for _ in range(40):
        acts = random_actions(rng, a.avail_actions)
        ta, tb, tc = pair.step(acts), single.step(acts[1:]), again.step(acts)
        assert np.array_equal(ta.obs, tc.obs) and np.array_equal(ta.reward, tc.reward)
        assert np.array_equal(ta.obs[1], tb.obs[0]) and np.array_equal(ta.done[1:], tb.done)
        a = ta.next


def test_reset_mid_episode(make_env):
    env = make_env(n_envs=2)
    obs = env.reset()
    for _ in range(3):
        obs = env.step(random_actions(np.random.default_rng(1), obs.avail_actions)).next
    assert obs.obs[..., -1].max() > 0
    obs = env.reset(seed=7)  # accepted (the interface has it); SC2 cannot re-seed a running game
    assert obs.obs.shape == (2, 3, 11) and obs.obs[..., -1].max() == 0.0


def test_bad_actions_are_rejected_in_the_parent(make_env):
    env = make_env(n_envs=2)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.ones((2, 3), dtype=np.int64))
    obs = env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="not available to agent 0 in env 0"):
        env.step(np.zeros((2, 3), dtype=np.int64))  # no-op while alive
    with pytest.raises(ValueError, match="not available"):
        env.step(np.full((2, 3), 99))
    env.step(random_actions(np.random.default_rng(0), obs.avail_actions))  # still usable


# -- lifetime and failures ----------------------------------------------------------------------

def test_close_stops_every_worker_and_closes_its_game(make_env, game_log):
    env = make_env(n_envs=3, standin_close_s=0.3, standin_log=str(game_log.path))
    env.reset()
    pids, games = env.worker_pids, game_log.launched
    assert len(games) == 3 and all(alive(p) for p in pids + games)
    # Each worker leads its own session, and its game is in it: a group kill reaches the game.
    assert sorted(session_of(g) for g in games) == sorted(pids) == sorted(session_of(p) for p in pids)
    env.close()
    assert wait_gone(pids + games, 2.0)
    assert sorted(game_log.closed) == sorted(games)  # each worker closed its game itself
    env.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()


def test_context_manager_closes(make_env):
    with SC2Env("3m", 1, 0, env_factory=STANDIN) as env:
        pids = env.worker_pids
        env.reset()
    assert wait_gone(pids, 2.0)


@pytest.mark.parametrize("how, reason", [
    ("raise", "sc2 worker 1 crashed: RuntimeError: stand-in crash at step 3"),
    ("exit", "sc2 worker 1 crashed: exited with code 3"),
])
def test_worker_crash_is_reported_not_hung_on(make_env, game_log, how, reason):
    # Closing a game takes time (0.3 s here); a worker that reported an error is closing its game
    # as it exits and must be let finish, or the game would run on with no parent.
    env = make_env(n_envs=3, seed=0, standin_crash_at_step=3, standin_crash_how=how,
                   standin_only_seed=1, standin_enemy_death_prob=0.0, standin_ally_death_prob=0.0,
                   standin_close_s=0.3, standin_log=str(game_log.path))
    pids = env.worker_pids
    obs = env.reset()
    games = game_log.launched
    for _ in range(2):
        obs = env.step(random_actions(np.random.default_rng(0), obs.avail_actions)).next
    start = time.monotonic()
    with pytest.raises(MafacError) as err:
        env.step(random_actions(np.random.default_rng(0), obs.avail_actions))
    assert time.monotonic() - start < 5.0
    assert str(err.value) == reason
    assert wait_gone(pids + games, 2.0)  # the surviving workers were shut down too, and every game
    closed = set(game_log.closed)
    if how == "raise":
        assert closed == set(games)
    else:  # the worker died at once; its game was left to the group kill, the others closed theirs
        assert len(closed) == 2 and closed < set(games)


def test_env_constructor_failure_in_worker_is_reported(make_env):
    with pytest.raises(MafacError, match=r"sc2 worker \d crashed: KeyError: '9z'"):
        make_env("9z", n_envs=2)


def test_unresponsive_worker_times_out(make_env, game_log):
    # A killed-but-silent SC2 is covered above; here the worker lives but never answers, and
    # cannot close its game: the last resort kills the worker's whole session, game included. The
    # short timeout is for replies only: the worker's start (an interpreter, seconds on a loaded CI
    # machine) is not held to it, and 2 s leaves the first, unstopped reset room on a slow one.
    env = make_env(n_envs=1, timeout_s=2.0, standin_log=str(game_log.path))
    env.reset()
    pid, games = env.worker_pids[0], game_log.launched
    os.kill(pid, signal.SIGSTOP)  # alive, silent
    try:
        start = time.monotonic()
        with pytest.raises(MafacError, match="sc2 worker 0 crashed: no reply within 2 s"):
            env.reset()
        assert time.monotonic() - start < 15.0
        assert wait_gone([pid] + games, 2.0)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)  # in case close() left it stopped
        except ProcessLookupError:
            pass


def test_a_slow_start_is_not_a_hang(make_env):
    # timeout_s is for a game that stops answering; a worker still importing is not one.
    env = make_env(n_envs=2, timeout_s=0.3, standin_init_s=1.0)
    assert env.reset().obs.shape[:2] == (2, 3)


def test_workers_exit_when_the_parent_is_killed(tmp_path, game_log):
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(TESTS)!r}]
        from mafac.envs.sc2 import SC2Env
        env = SC2Env("3m", 2, 0, env_factory={STANDIN!r}, standin_close_s=0.3, standin_log={str(game_log.path)!r})
        env.reset()
        print(*env.worker_pids, flush=True)
        os._exit(9)  # no cleanup at all, like a SIGKILL
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 9, out.stderr
    pids, games = [int(p) for p in out.stdout.split()], game_log.launched
    assert len(pids) == 2 and len(games) == 2 and wait_gone(pids + games, 5.0)
    assert sorted(game_log.closed) == sorted(games)


# -- installation checks (parent process, no SC2 needed) ----------------------------------------

def make_package(root: Path, name: str, *subpackages: str) -> Path:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for sub in subpackages:
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    return root


def spec(name: str, root: Path):
    return PathFinder.find_spec(name, [str(root)])


def test_check_smac(tmp_path):
    with pytest.raises(MafacError, match="SMAC .* is not installed; install it with: pip install "
                       "git\\+https://github.com/oxwhirl/smac.git"):
        check_smac(None, None)
    smac3 = make_package(tmp_path / "smac3", "smac", "facade", "runhistory")
    with pytest.raises(MafacError, match="is SMAC3, the hyper-parameter optimiser.*pip uninstall smac, then pip install git"):
        check_smac(spec("smac", smac3), None)
    other = make_package(tmp_path / "other", "smac", "utils")
    with pytest.raises(MafacError, match="has no smac.env.starcraft2"):
        check_smac(spec("smac", other), None)
    real = make_package(tmp_path / "real", "smac", "env", "env/starcraft2")
    make_package(real, "pysc2")
    with pytest.raises(MafacError, match="pysc2 is missing"):
        check_smac(spec("smac", real), None)
    check_smac(spec("smac", real), spec("pysc2", real))


def fake_sc2(root: Path, *maps: str) -> Path:
    (root / "Versions").mkdir(parents=True)
    (root / "Maps" / "SMAC_Maps").mkdir(parents=True)
    for m in maps:
        (root / "Maps" / "SMAC_Maps" / f"{m}.SC2Map").write_bytes(b"")
    return root


def test_sc2_root(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(MafacError, match="SC2PATH is not set and .*StarCraftII does not exist.*iagreetotheeula"):
        sc2_root({}, home, platform="linux")
    (tmp_path / "notsc2").mkdir()
    with pytest.raises(MafacError, match="SC2PATH=.*notsc2 is not a StarCraft II installation .*Versions/"):
        sc2_root({"SC2PATH": str(tmp_path / "notsc2")}, home)
    assert sc2_root({"SC2PATH": str(fake_sc2(tmp_path / "sc2"))}, home) == tmp_path / "sc2"
    fake_sc2(home / "StarCraftII")
    assert sc2_root({}, home, platform="linux") == home / "StarCraftII"
    assert sc2_install.default_sc2_dir(home, "darwin") == Path("/Applications/StarCraft II")  # pysc2's default


def execute_info(home: Path, folder: str, executable: str) -> Path:
    """The file the Battle.net launcher writes, NUL-terminated as the game leaves it."""
    path = home / folder / "StarCraft II" / "ExecuteInfo.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(f"banner = 1\r\nexecutable = {executable}\r\n".encode() + b"\0")
    return path


def test_sc2_root_on_macos_and_windows_reads_execute_info(tmp_path):
    home = tmp_path / "home"
    game = fake_sc2(tmp_path / "Games" / "StarCraft II")
    mac_binary = game / "Versions" / "Base75689" / "SC2.app" / "Contents" / "MacOS" / "SC2"
    win_binary = str(game / "Versions" / "Base75689" / "SC2_x64.exe").replace("/", "\\")
    with pytest.raises(MafacError, match="SC2PATH is not set and /Applications/StarCraft II does not exist; "
                       "install StarCraft II with the Battle.net app and start it once"):
        sc2_root({}, home, platform="darwin")
    info = execute_info(home, "Library/Application Support/Blizzard", str(mac_binary))
    assert sc2_root({}, home, platform="darwin") == game
    assert sc2_root({"SC2PATH": ""}, home, platform="darwin") == game  # empty counts as unset here
    other = fake_sc2(tmp_path / "other")
    assert sc2_root({"SC2PATH": str(other)}, home, platform="darwin") == other  # SC2PATH comes first
    info.write_bytes(b"banner = 1\r\n")
    with pytest.raises(MafacError, match=f"SC2PATH is not set, {info} names no game, and /Applications"):
        sc2_root({}, home, platform="darwin")
    execute_info(home, "Documents", win_binary)  # Windows: backslashes, three levels up
    assert sc2_root({}, home, platform="win32") == game


def test_sc2_root_empty_sc2path_and_cygwin(tmp_path):
    home = tmp_path / "home"
    fake_sc2(home / "StarCraftII")
    # pysc2 on Linux takes a set-but-empty SC2PATH as the path "", not as unset.
    with pytest.raises(MafacError, match=r"SC2PATH is set but empty, and pysc2 then looks for StarCraft II at '' "
                       r"\(it falls back to .*StarCraftII only when SC2PATH is unset\); unset SC2PATH"):
        sc2_root({"SC2PATH": ""}, home, platform="linux")
    with pytest.raises(MafacError, match="SC2PATH is not set and /cygdrive/c/Program Files \\(x86\\)/StarCraft II "
                       "does not exist; install StarCraft II on Windows .* as a Cygwin path"):
        sc2_root({}, home, platform="cygwin")


def test_check_map(tmp_path):
    root = fake_sc2(tmp_path / "sc2", "8m", "2s3z")
    assert check_map("8m", root, sc2_install.STANDARD_MAPS) == root / "Maps" / "SMAC_Maps" / "8m.SC2Map"
    with pytest.raises(MafacError, match=r"SMAC map '3m' not found at .*3m.SC2Map; installed SMAC maps: 2s3z, 8m; download .*SMAC_Maps.zip"):
        check_map("3m", root, sc2_install.STANDARD_MAPS)
    with pytest.raises(MafacError, match=r"unknown SMAC map '4m'; valid choices: .*3m"):
        check_map("4m", root, sc2_install.STANDARD_MAPS)


def test_maps_lists_smac_scenarios():
    names = SC2Env.maps()
    assert {"3m", "8m", "2s3z", "MMM2", "corridor", "27m_vs_30m"} <= set(names)


def test_unknown_smac_option_is_rejected_before_startup():
    with pytest.raises(MafacError, match="unknown sc2 env option 'difficullty'; valid choices: .*difficulty"):
        SC2Env("3m", 1, 0, difficullty="7")


@pytest.mark.parametrize("key, value, message", [
    ("difficulty", "10", "bad value '10' for env.kwargs.difficulty; valid choices: 1, 2, 3, 4, 5, 6, 7, 8, 9, A"),
    ("difficulty", "a", "bad value 'a' for env.kwargs.difficulty; valid choices: 1, 2, 3, 4, 5, 6, 7, 8, 9, A"),
    ("replay_dir", "/tmp/replays", "bad value '/tmp/replays' for env.kwargs.replay_dir; mafac saves no SC2 "
     "replays (SMAC writes one only when save_replay() is called), so it must stay empty"),
    ("replay_prefix", "run1", "bad value 'run1' for env.kwargs.replay_prefix; mafac saves no SC2 "
     "replays (SMAC writes one only when save_replay() is called), so it must stay empty"),
])
def test_bad_option_values_fail_when_the_config_is_built(key, value, message):
    """SMAC would look the difficulty up only when a worker launches its game (KeyError: '10'),
    and would silently ignore a replay directory."""
    from mafac.config import build_config

    with pytest.raises(MafacError) as err:
        build_config(algo="qmix", map_name="3m", backend="sc2", overrides=[f"env.kwargs.{key}={value}"])
    assert str(err.value) == message
    with pytest.raises(MafacError) as err:  # and before any worker starts, for a direct SC2Env
        SC2Env("3m", 1, 0, env_factory=STANDIN, **{key: value})
    assert str(err.value) == message


def test_every_smac_difficulty_reaches_the_game(make_env):
    import sc2_standin

    from mafac.config import build_config
    from mafac.envs.sc2_options import DIFFICULTIES

    assert DIFFICULTIES == tuple(sc2_standin.DIFFICULTIES)  # the stand-in's table is SMAC's
    cfg = build_config(algo="qmix", map_name="3m", backend="sc2", overrides=["env.kwargs.difficulty=9"])
    assert cfg.env.kwargs.difficulty == "9"  # YAML's 9, as SMAC's key
    for level in ("1", "A"):  # the game launches (first reset) with the level looked up
        make_env(n_envs=1, difficulty=level).reset()


def run_constructor(tmp_path: Path, pythonpath: Path, environ: dict) -> subprocess.CompletedProcess:
    """SC2Env with the real SMAC factory in a fresh interpreter whose `smac` is whatever
    `pythonpath` holds: the checks must fire before any worker starts."""
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(pythonpath)!r}, {str(ROOT)!r}]
        from mafac.envs.sc2 import SC2Env
        from mafac.errors import MafacError
        try:
            SC2Env("3m", 2, 0)
        except MafacError as e:
            print(e)
            sys.exit(2)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("SC2PATH", "PYTHONPATH")}
    env.update(environ)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)


def test_installation_errors_from_the_constructor(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    smac3 = make_package(tmp_path / "smac3", "smac", "facade")
    out = run_constructor(tmp_path, smac3, {"HOME": str(home)})
    assert out.returncode == 2 and "is SMAC3, the hyper-parameter optimiser" in out.stdout
    assert out.stdout.count("\n") == 1  # one line

    real = make_package(tmp_path / "real", "smac", "env", "env/starcraft2")
    make_package(real, "pysc2")
    out = run_constructor(tmp_path, real, {"HOME": str(home)})
    assert out.returncode == 2 and "SC2PATH is not set" in out.stdout

    sc2_dir = fake_sc2(tmp_path / "sc2", "8m")
    out = run_constructor(tmp_path, real, {"HOME": str(home), "SC2PATH": str(sc2_dir)})
    assert out.returncode == 2 and "SMAC map '3m' not found" in out.stdout and "installed SMAC maps: 8m" in out.stdout

    if PathFinder.find_spec("smac", sys.path) is None:  # only meaningful where no smac is installed
        out = run_constructor(tmp_path, tmp_path / "empty", {"HOME": str(home)})
        assert out.returncode == 2 and "SMAC (StarCraft Multi-Agent Challenge) is not installed" in out.stdout


# -- a whole run ---------------------------------------------------------------------------------

def test_training_run_counts_aborted_episodes(tmp_path):
    """SMAC restarting itself every 7th step: the run goes on, and its metrics count the aborted
    episodes and keep them out of the win rates."""
    import csv

    from mafac.config import build_config
    from mafac.trainer import train_run

    overrides = {
        "env.kwargs.env_factory": "sc2_standin:RestartingStandIn", "env.n_envs": 2, "env.test_n_envs": 2,
        "run.t_max": 120, "run.test_interval": 60, "replay.capacity": 32, "learner.batch_size": 4,
        "learner.start_episodes": 4, "agent.hidden_dim": 8,
    }
    cfg = build_config(algo="qmix", map_name="3m", seed=0, backend="sc2",
                       overrides=[f"{k}={v}" for k, v in overrides.items()])
    rows = train_run(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(rows) == len(written) == 3
    # 60 steps per env, restarts every 7th: at least 8 aborted training episodes per env.
    assert sum(int(r["train_aborted"]) for r in written) >= 16
    assert all(0 <= int(r["test_aborted"]) <= 2 for r in written)
    for row in rows:
        if row["test_aborted"] == 2:  # no test episode had an outcome
            assert np.isnan(row["test_win_rate"])
        else:
            assert 0.0 <= row["test_win_rate"] <= 1.0
