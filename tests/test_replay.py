"""Episode replay: fixed memory, ring buffer, trimmed sampling with masks, float16, shards."""

from __future__ import annotations

import torch

from mafac.envs.base import EnvInfo
from mafac.replay import EpisodeBuffer, episode_fields

INFO = EnvInfo(n_agents=3, n_actions=9, obs_dim=6, state_dim=10, episode_limit=12)
INFO_8M = EnvInfo(n_agents=8, n_actions=13, obs_dim=205, state_dim=192, episode_limit=100)


def make_episodes(lengths, seed=0, info=INFO):
    """Episodes in the buffer's layout, zero beyond each one's end (as the runner writes them)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(lengths)
    fields = episode_fields(info, torch.float32)
    ep = {}
    for k, (shape, dtype) in fields.items():
        if dtype == torch.bool:
            ep[k] = torch.rand((n,) + shape, generator=gen) < 0.5
        elif k == "actions":
            ep[k] = torch.randint(info.n_actions, (n,) + shape, generator=gen).to(dtype)
        else:  # SMAX features lie in [-1, 1]
            ep[k] = (torch.rand((n,) + shape, generator=gen) * 2 - 1).to(dtype)
    lengths = torch.as_tensor(lengths, dtype=torch.int64)
    for i, length in enumerate(lengths.tolist()):
        for k in ("obs", "state", "avail"):
            ep[k][i, length + 1:] = 0
        for k in ("actions", "reward", "terminated", "filled"):
            ep[k][i, length:] = 0
        ep["filled"][i, :length] = True
        ep["avail"][i, : length + 1, :, 0] = True  # at least one action available
    return ep, lengths


def test_memory_is_fixed_at_construction():
    buf = EpisodeBuffer(INFO, capacity=6)
    before = buf.nbytes()
    ptrs = {k: v.data_ptr() for k, v in buf.data.items()}
    shapes = {k: v.shape for k, v in buf.data.items()}
    for s in range(5):  # 15 episodes through 6 slots: wraps twice
        buf.insert(*make_episodes([3, 12, 7], seed=s))
    assert buf.nbytes() == before
    assert {k: v.data_ptr() for k, v in buf.data.items()} == ptrs
    assert {k: v.shape for k, v in buf.data.items()} == shapes
    # obs and state stored in float16 by default: half the float32 footprint for those fields
    buf32 = EpisodeBuffer(INFO, capacity=6, obs_dtype="float32")
    f16 = buf.data["obs"].nbytes + buf.data["state"].nbytes
    assert buf32.nbytes() - before == f16


def test_5000_8m_episodes_fit_in_2_gib():
    # Memory is linear in capacity with no other term, so a small buffer gives the 5000-episode
    # figure exactly without touching 2 GiB of RAM on a shared test machine.
    small, double = EpisodeBuffer(INFO_8M, capacity=10), EpisodeBuffer(INFO_8M, capacity=20)
    assert double.nbytes() == 2 * small.nbytes()
    assert small.data["obs"].shape == (10, 101, 8, 205)
    assert small.nbytes() >= sum(t.numel() * t.element_size() for t in small.data.values())
    nbytes = small.nbytes() * 500
    assert nbytes <= 2 * 2**30, f"{nbytes / 2**30:.2f} GiB"


def test_insert_and_ring_buffer_wrap_around():
    buf = EpisodeBuffer(INFO, capacity=4, obs_dtype="float32")
    ep1, len1 = make_episodes([2, 5, 3], seed=1)
    slots = buf.insert(ep1, len1)
    assert slots.tolist() == [0, 1, 2]
    assert (buf.position, buf.size, buf.inserted) == (3, 3, 3)
    ep2, len2 = make_episodes([4, 1, 6], seed=2)
    slots = buf.insert(ep2, len2)
    assert slots.tolist() == [3, 0, 1]  # wraps: the two oldest episodes are overwritten
    assert (buf.position, buf.size, buf.inserted) == (2, 4, 6)
    assert buf.lengths.tolist() == [1, 6, 3, 4]
    expected = {0: (ep2, 1), 1: (ep2, 2), 2: (ep1, 2), 3: (ep2, 0)}
    for slot, (src, i) in expected.items():
        for k, v in buf.data.items():
            torch.testing.assert_close(v[slot], src[k][i].to(v.dtype), msg=f"slot {slot} field {k}")


def test_sample_shapes_trimming_and_masks():
    buf = EpisodeBuffer(INFO, capacity=8, obs_dtype="float32", seed=3)
    ep, lengths = make_episodes([2, 9, 4, 6], seed=4)
    buf.insert(ep, lengths)
    a, n_act = INFO.n_agents, INFO.n_actions
    batch = buf.gather(torch.tensor([0, 2, 3]))
    L = 6  # the longest of the gathered episodes (2, 4, 6), not the limit 12 nor the buffer's 9
    assert batch.actions.shape[1] == L
    assert batch.obs.shape == (3, L + 1, a, INFO.obs_dim) and batch.obs.dtype == torch.float32
    assert batch.state.shape == (3, L + 1, INFO.state_dim) and batch.state.dtype == torch.float32
    assert batch.avail.shape == (3, L + 1, a, n_act) and batch.avail.dtype == torch.bool
    assert batch.actions.shape == (3, L, a) and batch.actions.dtype == torch.long
    for name in ("reward", "terminated", "mask"):
        t = getattr(batch, name)
        assert t.shape == (3, L) and t.dtype == torch.float32, name
    expected_mask = (torch.arange(L).unsqueeze(0) < torch.tensor([[2], [4], [6]])).float()
    torch.testing.assert_close(batch.mask, expected_mask)
    torch.testing.assert_close(batch.obs, ep["obs"][[0, 2, 3], : L + 1])
    torch.testing.assert_close(batch.reward, ep["reward"][[0, 2, 3], :L])
    torch.testing.assert_close(batch.actions, ep["actions"][[0, 2, 3], :L].long())
    # cut at a given length (the bench's probe times an update at the episode limit): the same
    # episodes, padded with masked steps, and never beyond the limit
    full = buf.gather(torch.tensor([0, 2, 3]), length=100)
    assert full.actions.shape[1] == INFO.episode_limit and full.obs.shape[1] == INFO.episode_limit + 1
    torch.testing.assert_close(full.mask[:, :L], batch.mask)
    assert full.mask[:, L:].sum() == 0 and full.reward[:, L:].abs().sum() == 0
    torch.testing.assert_close(full.obs[:, : L + 1], batch.obs)
    # random sampling: right size, drawn from the stored episodes, trimmed to the longest drawn
    for _ in range(5):
        b = buf.sample(5)
        assert b.actions.shape[0] == 5
        lens = b.mask.sum(1).long()
        assert set(lens.tolist()) <= set(lengths.tolist())
        assert b.actions.shape[1] == int(lens.max())


def test_float16_storage_error_is_bounded():
    buf16 = EpisodeBuffer(INFO, capacity=4, obs_dtype="float16")
    ep, lengths = make_episodes([12, 12], seed=5)
    buf16.insert(ep, lengths)
    batch = buf16.gather(torch.tensor([0, 1]))
    for name in ("obs", "state"):
        x, y = ep[name], getattr(batch, name)
        err = (x - y).abs()
        # round-to-nearest half precision: relative error <= 2^-11, plus subnormal slack near 0
        bound = x.abs() * 2.0 ** -11 + 2.0 ** -24
        assert (err <= bound).all(), f"{name}: worst error {err.max().item()}"
        assert err.max() > 0  # it really is stored in float16
    # everything else is exact
    torch.testing.assert_close(batch.reward, ep["reward"], rtol=0, atol=0)
    assert torch.equal(batch.avail, ep["avail"])
    assert torch.equal(batch.actions, ep["actions"].long())


def _assert_same_content(a: EpisodeBuffer, b: EpisodeBuffer) -> None:
    assert (a.position, a.size, a.inserted) == (b.position, b.size, b.inserted)
    assert torch.equal(a.lengths, b.lengths)
    for k in a.data:
        assert torch.equal(a.data[k], b.data[k]), k


def test_export_import_round_trip():
    src = EpisodeBuffer(INFO, capacity=5, seed=7)
    shards = []
    mark = 0
    for s, lens in enumerate([[3, 8], [5], [2, 12, 4], [7, 1]]):  # 8 episodes, wraps
        src.insert(*make_episodes(lens, seed=10 + s))
        shards.append(src.export_since(mark))
        mark = src.inserted
    # the latest shard holds only the new episodes, trimmed to their longest
    assert shards[-1]["slots"].tolist() == [1, 2]
    assert shards[-1]["obs"].shape[1] == 7 + 1
    dst = EpisodeBuffer(INFO, capacity=5, seed=123)
    dst.data["obs"].fill_(3.0)  # stale content must be overwritten, padding included
    for sh in shards:
        dst.import_shard(sh)
    dst.load_position_state(src.position_state())
    _assert_same_content(src, dst)
    # the sampling stream continues identically
    for _ in range(3):
        x, y = src.sample(4), dst.sample(4)
        assert torch.equal(x.obs, y.obs) and torch.equal(x.mask, y.mask)
    # a single export of everything still stored restores it as well
    full = src.export_since(0)
    assert sorted(full["slots"].tolist()) == [0, 1, 2, 3, 4]
    dst2 = EpisodeBuffer(INFO, capacity=5)
    dst2.import_shard(full)
    dst2.load_position_state(src.position_state())
    _assert_same_content(src, dst2)
