"""Every feature SMAX hands the networks, held to its definition (mafac/envs/smax.py's docstring).

Episodes are played to their end on every SMAX map with random, all-stop and all-move policies:
all-stop is what exposed JaxMARL's raw world_state, whose weapon cooldown keeps falling while a
unit does not fire. A failure names the feature's index and meaning.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mafac.envs.smax import SMAX_MAPS, SMAXEnv
from mafac.replay import EpisodeBuffer

N_MOVE = 5
NOOP = N_MOVE - 1
EAST = 1
N_ENVS = 2
LIMIT = 30  # long enough for all-stop play to run a raw cooldown down to -15


def _random(rng, avail):
    return np.where(avail, rng.random(avail.shape) + 1.0, 0.0).argmax(-1)


def _stop(rng, avail):
    return np.full(avail.shape[:2], NOOP)


def _move_east(rng, avail):
    return np.where(avail[..., EAST], EAST, NOOP)


POLICIES = {"random": _random, "all-stop": _stop, "all-move": _move_east}


def _out_of_range(x, names, lo, hi, what):
    """The first feature outside [lo, hi], named, or None."""
    flat = x.reshape(-1, x.shape[-1])
    bad = ~np.isfinite(flat) | (flat < lo) | (flat > hi)
    if not bad.any():
        return None
    k = int(np.flatnonzero(bad.any(0))[0])
    vals = flat[:, k][bad[:, k]]
    return f"{what} feature {k} ({names[k]}) = {vals[np.argmax(np.abs(vals))]:.3f}, outside [{lo}, {hi}]"


def _expected_cooldowns(env):
    """clip(cooldown / the unit type's cooldown, 0, 1) from SMAX's own state, 0 for dead units."""
    import jax

    s = jax.device_get(env._states).state
    inner = env._env
    cd = np.clip(s.unit_weapon_cooldowns / np.asarray(inner.unit_type_weapon_cooldowns)[s.unit_types], 0.0, 1.0)
    return np.where(s.unit_alive, cd, 0.0), s.unit_weapon_cooldowns


def play_and_check(env, policy, n_steps, seed=0):
    """Plays n_steps, checking every obs/state feature's range and the state's cooldowns; returns
    the most negative raw cooldown seen (what the old state handed the mixer)."""
    lay = env._layout
    s_names, o_names = env.state_feature_names(), env.obs_feature_names()
    assert len(s_names) == env.info.state_dim and len(o_names) == env.info.obs_dim
    n_units = lay.n_allies + lay.n_enemies
    cd_cols = [u * lay.unit_dim + lay.UNIT_FEATURES.index("weapon_cooldown") for u in range(n_units)]
    assert all(s_names[c].endswith(".weapon_cooldown") for c in cd_cols)
    rng = np.random.default_rng(seed)
    obs = env.reset(seed=seed)
    msg = _out_of_range(obs.state, s_names, 0.0, 1.0, "state") or _out_of_range(obs.obs, o_names, -1.0, 1.0, "obs")
    assert msg is None, f"reset: {msg}"
    lowest_raw = 0.0
    for step in range(n_steps):
        tr = env.step(policy(rng, obs.avail_actions))
        for ob in (tr, tr.next):
            msg = _out_of_range(ob.state, s_names, 0.0, 1.0, "state") or _out_of_range(ob.obs, o_names, -1.0, 1.0, "obs")
            assert msg is None, f"step {step}: {msg}"
        expected, raw = _expected_cooldowns(env)
        np.testing.assert_allclose(tr.next.state[:, cd_cols], expected, atol=1e-6,
                                   err_msg="state cooldown != clip(cooldown / type cooldown, 0, 1)")
        lowest_raw = min(lowest_raw, float(raw.min()))
        obs = tr.next
    return lowest_raw


# 3m in the edit loop; every other map compiles its own SMAX step (7-12 s each), so it is `slow`
@pytest.mark.parametrize("map_name", [m if m == "3m" else pytest.param(m, marks=pytest.mark.slow) for m in SMAX_MAPS])
def test_every_feature_in_range_on_every_map(map_name):
    env = SMAXEnv(map_name, N_ENVS, seed=0, max_steps=LIMIT)
    try:
        lowest = {name: play_and_check(env, pol, LIMIT + 2, seed=i) for i, (name, pol) in enumerate(POLICIES.items())}
    finally:
        env.close()
    # all-stop play really ran the raw cooldowns far below zero: the check above was not vacuous
    assert lowest["all-stop"] < -5.0, lowest


def test_state_layout_names_and_last_action(smax_env):
    env = smax_env("3m", 4, max_steps=16)
    lay = env._layout
    names = env.state_feature_names()
    assert names[0] == "ally_0.health" and names[lay.unit_dim * 3] == "enemy_0.health"
    assert names[-1] == f"ally_2.last_action_{env.info.n_actions - 1}"
    obs = env.reset(seed=1)
    tail = obs.state[:, -lay.n_allies * lay.n_actions:].reshape(-1, lay.n_allies, lay.n_actions)
    assert (tail == 0).all()  # no action yet at the start of an episode
    actions = np.full((4, 3), NOOP)
    actions[:, 0] = EAST
    tr = env.step(actions)
    tail = tr.state[:, -lay.n_allies * lay.n_actions:].reshape(-1, lay.n_allies, lay.n_actions)
    np.testing.assert_array_equal(tail.argmax(-1)[~tr.done], actions[~tr.done])
    assert (tail.sum(-1)[~tr.done] == 1).all()


def test_state_without_last_action_and_raw_state(smax_env):
    plain = smax_env("3m", 4, max_steps=16, state_last_action=False)
    assert plain.info.state_dim == 6 * plain._layout.unit_dim
    raw = smax_env("3m", 4, max_steps=16, normalize_state=False)
    assert raw.info.state_dim == 6 * (4 + 6 + 2)  # JaxMARL's world_state, for comparisons only
    obs = raw.reset(seed=0)
    for _ in range(12):  # all-stop: the raw cooldown runs away, which is why it is not the default
        obs = raw.step(_stop(None, obs.avail_actions)).next
    assert obs.state.min() < -1.0


def test_float16_replay_of_real_smax_data(smax_env):
    """The replay's float16 storage of real SMAX episodes: relative error <= 2^-11 (round to
    nearest), so features in [-1, 1] are off by at most 2^-12."""
    env = smax_env("3m", 4, max_steps=16)
    info = env.info
    rng = np.random.default_rng(0)
    obs = env.reset(seed=2)
    seq_obs, seq_state = [obs.obs[0]], [obs.state[0]]
    while True:  # env 0's first episode, to its end (defeat, victory or the time limit)
        tr = env.step(_random(rng, obs.avail_actions))
        seq_obs.append(tr.obs[0])
        seq_state.append(tr.state[0])
        obs = tr.next
        if tr.done[0]:
            break
    n = len(seq_obs) - 1
    fields = {"obs": np.stack(seq_obs), "state": np.stack(seq_state)}
    buf = EpisodeBuffer(info, capacity=2, obs_dtype="float16")
    ep = {k: torch.zeros((1,) + shape, dtype=dtype) for k, (shape, dtype) in buf.fields.items()}
    for k, v in fields.items():
        ep[k][0, : n + 1] = torch.from_numpy(v)
    ep["filled"][0, :n] = True
    buf.insert(ep, torch.tensor([n]))
    batch = buf.gather(torch.tensor([0]))
    for k, v in fields.items():
        got = getattr(batch, k)[0].numpy()
        err = np.abs(got - v)
        assert (err <= np.abs(v) * 2.0 ** -11 + 2.0 ** -25).all(), f"{k}: worst error {err.max()}"
        assert err.max() <= 2.0 ** -12 and err.max() > 0, k  # bounded, and float16 really was used
