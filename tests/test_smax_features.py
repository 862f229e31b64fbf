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
from mafac.envs.smax_smacv2 import SMACV2_MAPS
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


def _raw(env):
    """Every env's JaxMARL state now and the per-unit maxima, as numpy."""
    import jax

    s = jax.device_get(env._states).state
    sim = env._env
    return s, np.asarray(sim.unit_type_health), np.asarray(sim.unit_type_weapon_cooldowns)


def _expected_cooldowns(env):
    """clip(cooldown / the unit type's cooldown, 0, 1) from SMAX's own state, 0 for dead units."""
    s, _, type_cd = _raw(env)
    cd = np.clip(s.unit_weapon_cooldowns / type_cd[s.unit_types], 0.0, 1.0)
    return np.where(s.unit_alive, cd, 0.0), s.unit_weapon_cooldowns


def check_definitions(env, ob, where):
    """Every unit's state features and every agent's own and seen-unit observation features equal
    their definitions (module doc of mafac/envs/smax.py) computed from SMAX's own state, unit by
    unit, whatever the mix of types: health over the unit's own type's maximum, its type's one-hot,
    positions over the map size (state, own) or over the observer's own type's sight range (seen
    units). Returns the unit types of the envs' states."""
    s, type_hp, _ = _raw(env)
    lay, sim = env._layout, env._env
    n_types, A, E = lay.n_types, lay.n_allies, lay.n_enemies
    alive, types = s.unit_alive, s.unit_types.astype(int)
    onehot = np.eye(n_types)[types]
    health = s.unit_health / type_hp[types]
    size = np.array([sim.map_width, sim.map_height], dtype=np.float64)
    if lay.normalized:
        units = ob.state[:, :(A + E) * lay.unit_dim].reshape(-1, A + E, lay.unit_dim)
        want = np.concatenate([health[..., None], np.clip(s.unit_positions / size, 0.0, 1.0)], -1)
        np.testing.assert_allclose(units[..., :3], np.where(alive[..., None], want, 0.0), atol=1e-5,
                                   err_msg=f"{where}: state health/position != definition")
        np.testing.assert_array_equal(units[..., 4:], np.where(alive[..., None], onehot, 0.0),
                                      err_msg=f"{where}: state unit-type bits != the unit's type")
    n_unit = len(sim.unit_features)
    own = ob.obs[..., (A + E - 1) * n_unit:]
    msg = _out_of_range(own, env.obs_feature_names()[(A + E - 1) * n_unit:], 0.0, 1.0, "own obs")
    assert msg is None, f"{where}: {msg}"
    a_alive = alive[:, :A, None]
    np.testing.assert_allclose(own[..., 0], np.where(alive[:, :A], health[:, :A], 0.0), atol=1e-5,
                               err_msg=f"{where}: own health != hit points / own type's maximum")
    np.testing.assert_allclose(own[..., 1:3], np.where(a_alive, np.clip(s.unit_positions[:, :A] / size, 0.0, 1.0), 0.0), atol=1e-5,
                               err_msg=f"{where}: own position != position / map size")
    np.testing.assert_array_equal(own[..., 4:], np.where(a_alive, onehot[:, :A], 0.0),
                                  err_msg=f"{where}: own unit-type bits != own type")
    # seen units: ally i sees the other allies in order, then the enemies
    others = np.array([[j for j in range(A) if j != i] + list(range(A, A + E)) for i in range(A)])  # [A, A+E-1]
    seen = ob.obs[..., :(A + E - 1) * n_unit].reshape(ob.obs.shape[0], A, A + E - 1, n_unit)
    visible = seen.any(-1)
    sight = np.asarray(sim.unit_type_sight_ranges)[types[:, :A]]  # [n_envs, A]
    pos = s.unit_positions
    rel = (pos[:, others] - pos[:, :A, None]) / sight[..., None, None]
    want = np.concatenate([health[:, others][..., None], rel], -1)
    np.testing.assert_allclose(seen[..., :3][visible], want[visible], atol=1e-5,
                               err_msg=f"{where}: a seen unit's health/offset != definition")
    np.testing.assert_array_equal(seen[..., 7:][visible], onehot[:, others][visible],
                                  err_msg=f"{where}: a seen unit's type bits != its type")
    return types


def play_and_check(env, policy, n_steps, seed=0):
    """Plays n_steps, checking every obs/state feature's range and definition; returns the most
    negative raw cooldown seen (what the old state handed the mixer) and the unit types met."""
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
    types = [check_definitions(env, obs, "reset")]
    lowest_raw = 0.0
    for step in range(n_steps):
        tr = env.step(policy(rng, obs.avail_actions))
        for ob in (tr, tr.next):
            msg = _out_of_range(ob.state, s_names, 0.0, 1.0, "state") or _out_of_range(ob.obs, o_names, -1.0, 1.0, "obs")
            assert msg is None, f"step {step}: {msg}"
        expected, raw = _expected_cooldowns(env)
        np.testing.assert_allclose(tr.next.state[:, cd_cols], expected, atol=1e-6,
                                   err_msg="state cooldown != clip(cooldown / type cooldown, 0, 1)")
        types.append(check_definitions(env, tr.next, f"step {step}"))
        lowest_raw = min(lowest_raw, float(raw.min()))
        obs = tr.next
    return lowest_raw, np.stack(types)


# 3m and smacv2_5_units in the edit loop; every other map compiles its own SMAX step (7-12 s each), so it is `slow`
EDIT_LOOP = ("3m", "smacv2_5_units")


@pytest.mark.parametrize("map_name", [m if m in EDIT_LOOP else pytest.param(m, marks=pytest.mark.slow) for m in SMAX_MAPS])
def test_every_feature_in_range_on_every_map(map_name):
    env = SMAXEnv(map_name, N_ENVS, seed=0, max_steps=LIMIT)
    try:
        played = {name: play_and_check(env, pol, LIMIT + 2, seed=i) for i, (name, pol) in enumerate(POLICIES.items())}
    finally:
        env.close()
    lowest = {name: low for name, (low, _) in played.items()}
    # all-stop play really ran the raw cooldowns far below zero: the check above was not vacuous
    assert lowest["all-stop"] < -5.0, lowest
    if map_name in SMACV2_MAPS:  # the definitions were held on really mixed teams, drawn afresh
        types = np.concatenate([t for _, t in played.values()])  # [states, n_envs, units]
        n_allies = env._layout.n_allies
        assert (types[..., :n_allies] == types[..., n_allies:]).all()  # enemies mirror the allies
        assert len(np.unique(types)) == 6 and len({tuple(t) for t in types.reshape(-1, types.shape[-1])}) > 2


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


@pytest.mark.slow
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
