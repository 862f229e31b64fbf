"""The matrix games against their published tables: these are the ground truth every mixer's
matrix-game result is judged by, so a wrong payoff here would make every such result wrong."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from mafac.envs import make_env
from mafac.envs.matrix import GAMES, MatrixEnv, optimal_return, payoff_matrix, two_step_payoffs
from mafac.errors import MafacError

PUBLISHED = {
    "qtran_game": [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]],
    "climbing": [[11, -30, 0], [-30, 7, 0], [0, 6, 5]],
    "penalty": [[-100, 0, 10], [0, 2, 0], [10, 0, -100]],
}
OPTIMA = {"qtran_game": 8, "climbing": 11, "penalty": 10, "two_step": 8}


def all_joint_actions(n1: int, n2: int) -> np.ndarray:
    """Every joint action, one per env, so a single batched step checks a whole table."""
    return np.array(list(itertools.product(range(n1), range(n2))), dtype=np.int64)


def check_observation(ob, n_envs: int, n_actions: int, dim: int) -> None:
    assert ob.obs.shape == (n_envs, 2, dim) and ob.obs.dtype == np.float32
    assert ob.state.shape == (n_envs, dim) and ob.state.dtype == np.float32
    assert ob.avail_actions.shape == (n_envs, 2, n_actions) and ob.avail_actions.dtype == bool
    np.testing.assert_array_equal(ob.obs, np.repeat(ob.state[:, None], 2, axis=1))  # fully observed


def test_maps_and_registration():
    assert set(MatrixEnv.maps()) == set(GAMES) == {"qtran_game", "climbing", "penalty", "custom", "two_step"}
    env = make_env("matrix", "climbing", 3, 0)
    assert isinstance(env, MatrixEnv)


@pytest.mark.parametrize("game", sorted(PUBLISHED))
def test_one_step_games_pay_their_table(game):
    table = np.array(PUBLISHED[game], dtype=np.float32)
    np.testing.assert_array_equal(payoff_matrix(game), table)
    assert optimal_return(game) == OPTIMA[game]
    actions = all_joint_actions(3, 3)
    env = MatrixEnv(game, len(actions), seed=0)
    assert env.info.n_agents == 2 and env.info.n_actions == 3 and env.info.episode_limit == 1
    assert env.info.obs_dim == env.info.state_dim == 1
    ob = env.reset()
    check_observation(ob, len(actions), 3, 1)
    assert ob.avail_actions.all() and (ob.state == 1.0).all()
    tr = env.step(actions)
    assert tr.reward.dtype == np.float32
    np.testing.assert_array_equal(tr.reward, table[actions[:, 0], actions[:, 1]])
    assert tr.terminated.all() and not tr.truncated.any() and tr.done.all()
    np.testing.assert_array_equal(tr.battle_won, tr.reward == OPTIMA[game])
    assert tr.battle_won.sum() == (table == OPTIMA[game]).sum()
    check_observation(tr, len(actions), 3, 1)
    check_observation(tr.next, len(actions), 3, 1)


def test_penalty_k_and_reward_scale():
    env = MatrixEnv("penalty", 2, seed=0, penalty_k=25, reward_scale=0.5)
    env.reset()
    tr = env.step(np.array([[0, 0], [0, 2]]))
    np.testing.assert_array_equal(tr.reward, [-12.5, 5.0])
    np.testing.assert_array_equal(tr.battle_won, [False, True])  # the optimum scales with the rewards
    assert payoff_matrix("penalty", penalty_k=25)[2, 2] == -25
    with pytest.raises(MafacError, match="penalty_k 'big'"):
        MatrixEnv("penalty", 1, 0, penalty_k="big")
    with pytest.raises(MafacError, match="reward_scale None"):
        MatrixEnv("climbing", 1, 0, reward_scale=None)


def test_custom_rectangular_payoff():
    payoff = [[1, 2, 3], [4, 5, 9]]  # agent 1 has 2 actions, agent 2 has 3
    np.testing.assert_array_equal(payoff_matrix("custom", payoff=payoff), payoff)
    assert optimal_return("custom", payoff=payoff) == 9
    actions = all_joint_actions(2, 3)
    env = make_env("matrix", "custom", len(actions), 0, {"payoff": payoff})
    assert env.info.n_actions == 3
    ob = env.reset()
    np.testing.assert_array_equal(ob.avail_actions[0], [[True, True, False], [True, True, True]])
    tr = env.step(actions)
    np.testing.assert_array_equal(tr.reward, np.array(payoff)[actions[:, 0], actions[:, 1]])
    np.testing.assert_array_equal(tr.battle_won, tr.reward == 9)
    np.testing.assert_array_equal(tr.next.avail_actions, ob.avail_actions)


@pytest.mark.parametrize("payoff", [None, [], [[]], [1, 2], [[1, 2], [3]], [[1, "2"]], [[1, float("nan")]],
                                    [[[1]]], "[[1,2],[3,4]]", [[True, 0]]])
def test_bad_custom_payoff(payoff):
    with pytest.raises(MafacError) as e:
        MatrixEnv("custom", 1, 0, payoff=payoff)
    msg = str(e.value)
    assert "bad payoff" in msg and repr(payoff) in msg and "\n" not in msg


def test_bad_payoff_message_is_one_line_for_arrays():
    with pytest.raises(MafacError, match="bad payoff") as e:
        MatrixEnv("custom", 1, 0, payoff=np.zeros((2, 2, 2)))
    assert "\n" not in str(e.value)


def test_unknown_map():
    with pytest.raises(MafacError) as e:
        MatrixEnv("prisoners", 1, 0)
    assert "'prisoners'" in str(e.value) and "climbing" in str(e.value) and "two_step" in str(e.value)
    with pytest.raises(MafacError, match="'prisoners'"):
        payoff_matrix("prisoners")
    with pytest.raises(MafacError, match="'prisoners'"):
        make_env("matrix", "prisoners", 1, 0)


def test_two_step_game():
    a2, b2 = two_step_payoffs()
    np.testing.assert_array_equal(a2, [[7, 7], [7, 7]])
    np.testing.assert_array_equal(b2, [[0, 1], [1, 8]])
    assert optimal_return("two_step") == 8
    first = all_joint_actions(2, 2)  # agent 1 picks the branch; agent 2 should not matter
    env = MatrixEnv("two_step", 8, seed=0)
    assert env.info.n_actions == 2 and env.info.obs_dim == env.info.state_dim == 3
    assert env.info.episode_limit == 2
    ob = env.reset()
    check_observation(ob, 8, 2, 3)
    assert (ob.state == [1, 0, 0]).all() and ob.avail_actions.all()
    tr = env.step(np.concatenate([first, first]))
    np.testing.assert_array_equal(tr.reward, 0)
    assert not tr.done.any()
    expected = np.eye(3)[[1, 1, 2, 2] * 2]  # a1 = 0 -> 2A, a1 = 1 -> 2B
    np.testing.assert_array_equal(tr.state, expected)
    np.testing.assert_array_equal(tr.next.state, expected)
    check_observation(tr.next, 8, 2, 3)
    second = all_joint_actions(2, 2)
    tr = env.step(np.concatenate([second, second]))
    np.testing.assert_array_equal(tr.reward, [7, 7, 1, 8, 7, 7, 1, 8])
    assert tr.terminated.all() and not tr.truncated.any()
    np.testing.assert_array_equal(tr.battle_won, tr.reward == 8)
    np.testing.assert_array_equal(tr.state, expected)  # the final observation of the ended episode
    np.testing.assert_array_equal(tr.next.state, np.eye(3)[[0] * 8])  # the new episode's first


def test_two_step_branch_payoffs_cover_every_joint_action():
    for first_a2, second in itertools.product(range(2), all_joint_actions(2, 2)):
        for branch, table in ((0, 7 * np.ones((2, 2))), (1, [[0, 1], [1, 8]])):
            env = MatrixEnv("two_step", 1, seed=0)
            env.reset()
            env.step(np.array([[branch, first_a2]]))
            tr = env.step(second[None])
            assert tr.reward[0] == table[second[0]][second[1]]


def test_auto_reset_in_mixed_batch():
    """Envs out of phase: the finished one must reset while the others carry on."""
    env = MatrixEnv("two_step", 2, seed=0)
    env.reset()
    env.step(np.array([[1, 0], [1, 0]]))
    snap = env.snapshot()
    snap["t"][1], snap["stage"][1] = 0, 0  # env 1 back at the start of an episode
    env.restore(snap)
    tr = env.step(np.array([[1, 1], [0, 0]]))
    np.testing.assert_array_equal(tr.done, [True, False])
    np.testing.assert_array_equal(tr.reward, [8, 0])
    np.testing.assert_array_equal(tr.state, np.eye(3)[[2, 1]])
    np.testing.assert_array_equal(tr.next.state, np.eye(3)[[0, 1]])
    assert tr.battle_won[0]


def test_snapshot_restore_continues_identically():
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 2, size=(12, 5, 2))
    env = MatrixEnv("two_step", 5, seed=3)
    env.reset()
    env.step(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [1, 0]]))
    snap = pickle.loads(pickle.dumps(env.snapshot()))
    expected = [env.step(a) for a in actions]
    other = MatrixEnv("two_step", 5, seed=99)
    other.reset()
    other.restore(snap)
    assert other.rng.bit_generator.state == snap["rng"]
    for a, want in zip(actions, expected):
        got = other.step(a)
        for field in ("obs", "state", "avail_actions", "reward", "terminated", "truncated", "battle_won"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        np.testing.assert_array_equal(got.next.obs, want.next.obs)
    kept = {k: np.copy(v) for k, v in snap.items() if k != "rng"}
    env.restore(snap)  # stepping a restored env must not change the snapshot (it may be restored again)
    env.step(actions[0])
    for k, v in kept.items():
        np.testing.assert_array_equal(snap[k], v)
    with pytest.raises(MafacError, match="holds 5 envs"):
        MatrixEnv("two_step", 3, 0).restore(snap)


def test_reset_reseeds_and_restarts():
    env = MatrixEnv("two_step", 2, seed=0)
    env.reset()
    env.step(np.array([[1, 0], [0, 0]]))
    ob = env.reset(seed=5)
    np.testing.assert_array_equal(ob.state, np.eye(3)[[0, 0]])
    assert env.rng.bit_generator.state == np.random.default_rng(5).bit_generator.state
