"""Whole tiny training runs on SMAX 3m: determinism, exact resume, run-dir contents, eval."""

from __future__ import annotations


import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from mafac.checkpoint import REPLAY_DIR
from mafac.cli import main
from mafac.config import build_config, config_from_dict
from mafac.envs.smax import SMAXConfig
from mafac.errors import MafacError
from mafac.evaluation import evaluate_checkpoint
from mafac.rundir import CHECKPOINT, CONFIG_YAML, METRIC_COLUMNS, METRICS_CSV, RUN_JSON, RunInfo
from mafac.trainer import train_run

ALGO = "qmix"


def read_metrics(run_dir: Path):
    with open(Path(run_dir) / METRICS_CSV, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def without_wall(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def diff_rows(a, b):
    """Which (row, column) cells differ, for a precise failure message."""
    out = []
    for i, (ra, rb) in enumerate(zip(a, b)):
        out += [f"row {i} {k}: {ra[k]!r} != {rb.get(k)!r}" for k in ra if k != "wall_s" and ra[k] != rb.get(k)]
    if len(a) != len(b):
        out.append(f"{len(a)} rows != {len(b)} rows")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_overrides):
    """Three tiny runs shared by the tests below (each takes a few seconds)."""
    root = tmp_path_factory.mktemp("runs")

    def cfg(t_max, seed=0):
        # a constant lr: a decay over t_max would differ between the 400- and 800-step runs by design
        sets = tiny_overrides(**{"run.t_max": t_max, "learner.lr_schedule": "constant"})
        return build_config(algo=ALGO, map_name="3m", seed=seed, overrides=sets)

    out = {"root": root, "cfg": cfg}
    # A: interrupted after its checkpoint at 400 steps, then resumed to 800
    train_run(cfg(400), root / "A")
    out["A400"] = read_metrics(root / "A")
    out["A400_run"] = RunInfo.load(root / "A")
    seen = []  # progress reports of the resumed part: it must start at 400, not from scratch
    train_run(cfg(800), root / "A", progress=lambda p: seen.append(p.env_steps))
    out["A_resumed_steps"] = seen
    # B: the same seed and config, uninterrupted (its first 400 steps replay A's: determinism)
    train_run(cfg(800), root / "B")
    # D: another seed
    train_run(cfg(200, seed=1), root / "D")
    return out


def test_same_seed_same_metrics(runs):
    cols_a, rows_a = runs["A400"]  # A before its interruption: a separate run from B
    cols_b, rows_b = read_metrics(runs["root"] / "B")
    assert cols_a == cols_b
    assert len(rows_a) == 3  # evaluations at 0, 200, 400 env steps
    diffs = diff_rows(rows_a, rows_b[:3])
    assert not diffs, "; ".join(diffs)
    # learning really happened by then, so the comparison covers the learner too
    assert int(rows_a[-1]["updates"]) > 0 and rows_a[-1]["td_loss"] != ""


def test_different_seed_different_metrics(runs):
    _, rows_b = read_metrics(runs["root"] / "B")
    _, rows_d = read_metrics(runs["root"] / "D")
    assert len(rows_d) == 2 and int(rows_d[-1]["updates"]) > 0
    assert without_wall(rows_b[:2]) != without_wall(rows_d)
    assert rows_b[1]["loss"] != rows_d[1]["loss"]
    assert rows_b[1]["train_return"] != rows_d[1]["train_return"]


def test_resumed_run_equals_uninterrupted_run(runs):
    assert runs["A400_run"].status == "done" and runs["A400_run"].env_steps == 400
    steps = runs["A_resumed_steps"]
    assert steps[0] == 400 + 4 and steps[-1] == 800, "the second run did not resume from the checkpoint"
    _, rows_a = read_metrics(runs["root"] / "A")
    _, rows_b = read_metrics(runs["root"] / "B")
    assert len(rows_b) == 5 and [int(r["env_steps"]) for r in rows_b] == [0, 200, 400, 600, 800]
    diffs = diff_rows(rows_b, rows_a)
    assert not diffs, "resumed run differs from the uninterrupted one: " + "; ".join(diffs)
    # the rows written before the interruption are kept as they were (wall_s included)
    assert rows_a[:3] == runs["A400"][1]
    info = RunInfo.load(runs["root"] / "A")
    assert (info.status, info.env_steps, info.t_max) == ("done", 800, 800)


def test_run_dir_contents(runs):
    run_dir = runs["root"] / "B"
    info = json.loads((run_dir / RUN_JSON).read_text())
    assert info["status"] == "done" and info["error"] is None
    assert (info["algo"], info["map"], info["env"], info["seed"]) == (ALGO, "3m", "smax", 0)
    assert info["env_steps"] == info["t_max"] == 800
    cfg = runs["cfg"](800)
    loaded = config_from_dict(yaml.safe_load((run_dir / CONFIG_YAML).read_text()))
    assert loaded == cfg
    assert loaded.env.kwargs.max_steps == 16 and loaded.mixer == cfg.mixer
    # every env option is recorded, not just the overridden ones: the run can be read and rerun
    recorded = yaml.safe_load((run_dir / CONFIG_YAML).read_text())["env"]["kwargs"]
    assert recorded == dataclasses.asdict(SMAXConfig(max_steps=16))
    assert recorded["reward_scale"] == 10.0 and recorded["normalize_state"] is True
    cols, rows = read_metrics(run_dir)
    assert cols[: len(METRIC_COLUMNS)] == METRIC_COLUMNS
    for r in rows:
        assert 0.0 <= float(r["test_win_rate"]) <= 1.0
        assert float(r["wall_s"]) >= 0.0
    eps = [float(r["epsilon"]) for r in rows]
    assert eps == sorted(eps, reverse=True) and eps[0] == 1.0
    assert (run_dir / CHECKPOINT).is_file() and (run_dir / CHECKPOINT).stat().st_size > 0
    assert list((run_dir / REPLAY_DIR).glob("shard_*.pt"))
    assert not list(run_dir.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_corrupt_checkpoint_is_a_user_error_naming_the_file(runs, tmp_path):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(runs["root"] / "B", run_dir)
    ckpt = run_dir / CHECKPOINT
    data = ckpt.read_bytes()
    for garbage in (data[: len(data) // 2], b"not a checkpoint at all"):
        ckpt.write_bytes(garbage)
        with pytest.raises(MafacError) as exc:
            train_run(runs["cfg"](600), run_dir)  # resuming reads the checkpoint
        assert str(ckpt) in str(exc.value) and "\n" not in str(exc.value)
        info = RunInfo.load(run_dir)
        assert info.status == "failed" and str(ckpt) in info.error
        with pytest.raises(MafacError) as exc:
            evaluate_checkpoint(run_dir)
        assert str(ckpt) in str(exc.value)


def test_eval_reports_a_win_rate(runs, capsys):
    run_dir = runs["root"] / "B"
    result = evaluate_checkpoint(run_dir, episodes=4, seed=5)
    assert 0.0 <= result["test_win_rate"] <= 1.0
    assert result["episodes"] == 4 and result["env_steps"] == 800
    # a win is never a time-out; lengths are whole steps within SMAX's limit
    assert 0.0 <= result["test_timeout_rate"] <= 1.0 - result["test_win_rate"]
    assert 1.0 <= result["test_episode_length"] <= 100.0 and (result["test_episode_length"] * 4) % 1 == 0
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "test win rate" in out and "timed out" in out and "over 4 episodes" in out and "800" in out
    # a missing run dir is a one-line user error
    assert main(["eval", str(run_dir.parent / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


def test_evaluate_counts_time_outs_and_lengths():
    """With a 5-step limit no 3m battle can end in time: every test episode is a time-out of 5 steps."""
    import torch

    from mafac.agent import build_agent
    from mafac.envs import make_env
    from mafac.runner import Runner

    cfg = build_config(algo="qmix", map_name="3m", seed=0)
    env = make_env("smax", "3m", 6, 0, {"max_steps": 5})
    try:
        torch.manual_seed(0)
        agent = build_agent(env.info, cfg.agent)
        result = Runner(env, agent, cfg.agent, None, seed=0).play_greedy(seed=3).summary()
    finally:
        env.close()
    assert result["test_timeout_rate"] == 1.0 and result["test_win_rate"] == 0.0
    assert result["test_episode_length"] == 5.0
