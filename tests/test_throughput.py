"""The bench's wall-time estimate: measured by a short probe of each (algo, map) at the bench's
config on this machine, cached per machine and versions, or "unknown" when nothing is measured."""

from __future__ import annotations

import json

import pytest

from conftest import _tiny_overrides
from mafac.benchmark.run import _estimate
from mafac.benchmark.spec import Bench, ConfigSource, longest_first
from mafac.benchmark.throughput import cache_key, contention, estimate_bench, schedule_seconds

SECONDS = 0.2  # per timed phase: enough for a few dozen steps and updates of the tiny shape


def _bench(tmp_path, maps="3m", algos="qmix", extra=(), steps=20_000, **kw) -> Bench:
    sets = _tiny_overrides(**{"run.test_interval": 1000}) + list(extra)
    return Bench.build(algos, maps, 1, steps, workers=1, out_root=tmp_path, source=ConfigSource(overrides=sets), **kw)


MATRIX = ConfigSource(backend="matrix", preset="matrix")


def _plan(bench: Bench, skip=None):
    said: list = []
    jobs = bench.jobs()
    est = estimate_bench(jobs, {j.name: j.config() for j in jobs}, bench.workers, skip, said.append, SECONDS)
    return est, said


@pytest.mark.slow
def test_a_probe_is_cached_per_cost_and_reused(tmp_path, monkeypatch):
    """Matrix games (a probe is under a second): each (algo, map) is probed once, then the cache
    answers, for longer runs too; a config key that changes a cost is a new measurement."""
    cache = tmp_path / "tp.json"
    monkeypatch.setenv("MAFAC_THROUGHPUT_CACHE", str(cache))
    bench = Bench.build("vdn,qmix", "climbing", 1, 2_000, workers=2, out_root=tmp_path, source=MATRIX)
    est, said = _plan(bench)
    assert [line.split(" (")[0] for line in said if "probed" in line] == ["  probed vdn on climbing",
                                                                          "  probed qmix on climbing"]
    assert est.seconds["vdn__climbing__s0"] > 0 and est.seconds["qmix__climbing__s0"] > 0
    assert " s probe of 2 (algo, map) pair(s) on this machine now" in est.lines[0]
    assert est.lines[-1].startswith("    climbing, runs of 2,000 env steps: vdn ~") and "qmix ~" in est.lines[-1]
    # the range: every batch at the episode limit costs at least what the probe's episodes cost
    assert all(est.high[k] >= v for k, v in est.seconds.items()) and "the episode limit" in est.lines[1]
    # 2 workers: the costliest pair's learner was also timed twice at once, and the runs scaled by that ratio
    corun = [line for line in said if "at once" in line]
    assert len(corun) == 1 and corun[0].startswith("  timing 2 learners of ") and "on climbing alone and at once" in corun[0]
    assert "measured for 2 learners at once" in est.lines[0]
    entries = json.loads(cache.read_text())
    probes = [e for e in entries.values() if "throughput" in e]
    coruns = [e for k, e in entries.items() if k.endswith("/corun2")]
    assert sorted(e["cost"]["algo"] for e in probes) == ["qmix", "vdn"] and len(coruns) == 1 == len(entries) - 2
    assert coruns[0]["corun"] >= 1.0
    assert all(e["machine"]["host"] and e["machine"]["cpu"] is not None and e["machine"]["mafac"]
               and e["throughput"]["process_s"] > 0 and e["throughput"]["episode_limit"] == 1
               and e["throughput"]["update_limit_s"] >= e["throughput"]["update_s"]
               for e in probes)

    again, said = _plan(bench)  # the same bench again: no probe, the cached figures
    assert said == [] and again.seconds == est.seconds
    assert "2 cached probe(s) on this machine" in again.lines[0] and str(cache) in again.lines[0]
    longer, said = _plan(Bench.build("vdn,qmix", "climbing", 1, 20_000, workers=2, out_root=tmp_path, source=MATRIX))
    assert said == [] and longer.seconds["vdn__climbing__s0"] > 2 * est.seconds["vdn__climbing__s0"]
    cfg = bench.jobs()[0].config().to_dict()
    wider = dict(cfg, agent=dict(cfg["agent"], hidden_dim=32))
    other_lr = dict(cfg, learner=dict(cfg["learner"], lr=0.1))
    assert cache_key(wider) != cache_key(cfg) == cache_key(other_lr)


@pytest.mark.slow
def test_maps_of_different_sizes_get_their_own_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("MAFAC_THROUGHPUT_CACHE", str(tmp_path / "tp.json"))
    # runs long enough for the per-step costs to outweigh the start-up (which the first probe of
    # a process may pay more of)
    est, said = _plan(_bench(tmp_path, maps="3m,8m", steps=500_000))
    assert [line.split(" (")[0] for line in said if "probed" in line] == ["  probed qmix on 3m", "  probed qmix on 8m"]
    small, large = est.seconds["qmix__3m__s0"], est.seconds["qmix__8m__s0"]
    assert 0 < small < large  # 8 agents against 8 cost more per env step than 3 against 3
    per_map = [line.strip() for line in est.lines if "runs of 500,000 env steps" in line]
    assert [line.split(",")[0] for line in per_map] == ["3m", "8m"]


def test_unknown_when_nothing_may_be_measured(tmp_path, monkeypatch):
    cache = tmp_path / "tp.json"
    monkeypatch.setenv("MAFAC_THROUGHPUT_CACHE", str(cache))
    for bench, probe, why in ((_bench(tmp_path), False, "--no-probe"), (_bench(tmp_path, executor="ray"), True,
                                                                       "executor ray")):
        todo = bench.jobs()
        est = _estimate(bench, todo, {j.name: j.config() for j in todo}, probe)
        assert est.seconds is None and len(est.lines) == 1
        assert est.lines[0].startswith("  estimated wall time unknown (") and why in est.lines[0]
    assert not cache.exists()  # nothing was probed


@pytest.mark.slow
def test_a_failing_probe_leaves_the_estimate_unknown_not_the_bench_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("MAFAC_THROUGHPUT_CACHE", str(tmp_path / "tp.json"))
    bench = Bench.build("vdn", "climbing", 1, 2_000, workers=1, out_root=tmp_path,  # the loss is not finite
                        source=ConfigSource(backend="matrix", preset="matrix", overrides=["learner.lr=1e30"]))
    est, said = _plan(bench)
    assert est.seconds is None and "unknown (a probe failed" in est.lines[0]
    assert len(said) == 2 and said[1].startswith("  probe of vdn on climbing failed (NonFiniteLoss")


def test_schedule_and_order():
    assert schedule_seconds([10.0, 10.0], 2) == pytest.approx(schedule_seconds([10.0, 10.0], 1) / 2)
    assert schedule_seconds([6.0, 5.0, 4.0, 3.0], 2) == 9.0  # longest first: 6+3, 5+4
    assert contention(2, 1.0, cores=2) == 1.0 and contention(4, 1.0, cores=2) == 2.0
    jobs = Bench.build("vdn,qmix", "3m,8m", 1, None).jobs()
    by_steps = [j.name for j in longest_first(jobs)]  # unknown durations: the longest budgets first
    steps = {j.map: j.steps for j in jobs}  # the bench defaults (mafac/benchmark/spec.py's BENCH_STEPS)
    assert steps["3m"] != steps["8m"]
    big, small = sorted(steps, key=lambda m: -steps[m])
    assert by_steps == [f"vdn__{big}__s0", f"qmix__{big}__s0", f"vdn__{small}__s0", f"qmix__{small}__s0"]
    seconds = {"vdn__3m__s0": 4.0, "qmix__3m__s0": 9.0, "vdn__8m__s0": 1.0, "qmix__8m__s0": 2.0}
    assert [j.name for j in longest_first(jobs, seconds)] == ["qmix__3m__s0", "vdn__3m__s0", "qmix__8m__s0", "vdn__8m__s0"]
