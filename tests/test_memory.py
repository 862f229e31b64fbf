"""Peak-memory estimates before a run starts: exact for the replay, refused in one line when a run
or a bench's concurrent runs would not fit, and fitted to a `--memory` budget when asked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mafac.config import build_config
from mafac.envs import describe_env
from mafac.errors import MafacError
from mafac.memory import GiB, check_fits, estimate, fit_capacity, parse_size
from mafac.replay import EpisodeBuffer

MAFAC = [sys.executable, "-m", "mafac"]


@pytest.mark.parametrize("map_name,dtype", [("3m", "float16"), ("27m_vs_30m", "float32"), ("2s3z", "float16"),
                                                  ("smacv2_20_units", "float16")])
def test_replay_estimate_equals_the_buffer_it_describes(map_name, dtype):
    cfg = build_config(algo="qmix", map_name=map_name, preset="fast", overrides=[f"replay.obs_dtype={dtype}", "replay.capacity=37"])
    info = describe_env("smax", map_name, cfg.env.kwargs)
    assert estimate(info, cfg).replay == EpisodeBuffer(info, 37, dtype).nbytes()


def test_the_large_maps_match_the_sizes_users_hit():
    """27m_vs_30m's default 5000-episode float16 replay is about 20 GiB; 25m's about 16 GiB."""
    for map_name, lo, hi in (("27m_vs_30m", 19.5, 21.5), ("25m", 15.5, 17.5)):
        cfg = build_config(algo="qmix", map_name=map_name, preset="fast")
        assert lo * GiB < estimate(describe_env("smax", map_name, cfg.env.kwargs), cfg).replay < hi * GiB


def test_a_run_that_does_not_fit_is_one_line_with_the_fix():
    cfg = build_config(algo="qmix", map_name="8m", preset="fast")  # the replay learner's 5000 episodes
    mem = estimate(describe_env("smax", "8m", cfg.env.kwargs), cfg)
    budget = mem.total - 1
    with pytest.raises(MafacError) as e:
        check_fits("this run", mem, cfg.replay.capacity, budget=budget)
    msg = str(e.value)
    assert "\n" not in msg and f"replay.capacity={fit_capacity(mem, budget)}" in msg and "5000 episodes" in msg
    assert fit_capacity(mem, budget) == cfg.replay.capacity - 1  # one byte short costs one episode
    check_fits("this run", mem, cfg.replay.capacity, budget=mem.total)  # exactly enough is enough


@pytest.mark.slow
def test_train_refuses_an_oversized_replay_before_anything_runs(tmp_path):
    proc = subprocess.run(MAFAC + ["train", "--map", "27m_vs_30m", "--preset", "fast", "--set", "replay.capacity=200000", "--out",
                                   tmp_path / "run"], capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "needs about" in lines[0] and "200000 episodes" in lines[0] and "--set replay.capacity=" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_bench_fits_the_replay_to_a_memory_budget(tmp_path):
    """Two concurrent runs whose replays (10^8 one-step episodes) would not fit a 2.2 GiB budget:
    each replay is cut to fit 1.1 GiB per run, and the manifest records the capacity the runs
    really use (the storage is committed lazily, so the runs themselves stay small)."""
    sets = ["--set", "replay.capacity=100000000"]
    proc = subprocess.run(MAFAC + ["bench", "--env", "matrix", "--preset", "matrix", "--algos", "vdn", "--maps",
                                   "climbing", "--seeds", "2", "--steps", "64", "--workers", "2", "--memory", "2.2G",
                                   "--out-root", tmp_path, "--name", "m", "--no-probe", *sets],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "memory: up to" in proc.stderr
    cfg = build_config(algo="vdn", map_name="climbing", preset="matrix", overrides=["replay.capacity=100000000"])
    per_run = estimate(describe_env("matrix", "climbing", cfg.env.kwargs), cfg)
    assert per_run.total > parse_size("2.2G") // 2  # it really had to be cut
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    caps = {c["replay"]["capacity"] for c in manifest["configs"].values()}
    assert caps == {fit_capacity(per_run, parse_size("2.2G") // 2)} and 0 < caps.pop() < 100_000_000


def test_sizes_parse_and_bad_ones_are_named():
    assert parse_size("20G") == 20 * GiB and parse_size("1.5GiB") == int(1.5 * GiB) and parse_size("512m") == 512 * 2**20
    with pytest.raises(MafacError, match="'lots'"):
        parse_size("lots")


def test_the_hard_map_table_fits_two_workers_in_24_gib():
    """Issue 27's grid (5 algorithms x 2s3z, 3s5z, 10m_vs_11m, 5m_vs_6m, 3s_vs_5z, default replay):
    the bench's memory line names the largest pair of concurrent runs, 10m_vs_11m, and nothing
    has to be cut to fit 24 GiB."""
    from mafac.memory import gib, plan_bench

    maps = ("2s3z", "3s5z", "10m_vs_11m", "5m_vs_6m", "3s_vs_5z")
    cfgs = {f"{a}__{m}": build_config(algo=a, map_name=m, preset="fast")
            for a in ("vdn", "qmix", "qtran", "qplex", "cw_qmix") for m in maps}
    line = plan_bench(cfgs, 2, budget=24 * GiB)
    assert {c.replay.capacity for c in cfgs.values()} == {5000}
    worst = estimate(describe_env("smax", "10m_vs_11m", {}), cfgs["qmix__10m_vs_11m"])
    assert "10m_vs_11m" in line and f"up to {gib(2 * worst.total)} at once (2 x" in line
    assert 4 * GiB < worst.total < 4.5 * GiB and worst.replay > 2.9 * GiB
    others = [estimate(describe_env("smax", m, {}), cfgs[f"qmix__{m}"]).total for m in maps if m != "10m_vs_11m"]
    assert max(others) < worst.total
