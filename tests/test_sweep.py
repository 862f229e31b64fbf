"""`mafac sweep` on matrix games (seconds a trial): the grid finds the known best setting, a sweep
killed with -9 continues without repeating finished trials, and a bad space file is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from conftest import checkpointed_at_most_half, sigkill_when  # noqa: E402
from mafac.cli import main  # noqa: E402

# An additive 8x8 game, best only at (0, 0) (8; the next best 5): VDN represents it exactly, so
# with a working learning rate every seed finds (0, 0); an untrained network's greedy joint
# action is (0, 0) with probability 1/64 per seed.
R = [4, 0, 1, 0, 1, 0, 1, 0]
PAYOFF = [[a + b for b in R] for a in R]
GRID = ["--algos", "vdn", "--maps", "custom", "--env", "matrix", "--preset", "matrix", "--workers", "1",
        "--set", f"env.kwargs.payoff={json.dumps(PAYOFF)}", "--set", "exploration.uniform=true",
        "--set", "run.test_interval=250"]


def sweep_cmd(root: Path, space: Path, *extra) -> list:
    return [sys.executable, "-m", "mafac", "sweep", *GRID, "--space", str(space), "--out-root", str(root), *extra]


def study(root: Path):
    import optuna

    return optuna.load_study(study_name=root.name, storage=f"sqlite:///{root / 'study.db'}")


@pytest.mark.slow
def test_grid_finds_the_known_best_setting(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learner.lr: [1.0e-7, 0.002]\n")
    proc = subprocess.run(sweep_cmd(tmp_path, space, "--seeds", "2", "--steps", "1500", "--trials", "2",
                                    "--sampler", "grid", "--no-prune", "--name", "g", "--workers", "2"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = study(tmp_path / "g")
    assert [t.state.name for t in s.trials] == ["COMPLETE", "COMPLETE"]
    assert s.best_params == {"learner.lr": 0.002} and s.best_value == 1.0
    worst = min(t.value for t in s.trials)
    assert worst < 1.0
    best = (tmp_path / "g" / "best_config.yaml").read_text()
    assert "lr: 0.002" in best and "algo: vdn" in best
    for f in ("trials.csv", "trials.md", "plots/history.png", "plots/objective_vs_params.png"):
        assert (tmp_path / "g" / f).stat().st_size > 0, f
    assert "| 0 | complete |" in (tmp_path / "g" / "trials.md").read_text()
    # the best config is a --config file that trains exactly that run
    shown = subprocess.run([sys.executable, "-m", "mafac", "config", "--config", str(tmp_path / "g" / "best_config.yaml")],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "lr: 0.002" in shown.stdout, shown.stderr
    listed = subprocess.run([sys.executable, "-m", "mafac", "sweep", "--show", str(tmp_path / "g")],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "Best: trial" in listed.stdout, listed.stderr


@pytest.mark.slow
def test_kill_9_mid_study_then_rerun_continues(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learner.lr: [0.002, 0.001, 0.0005]\n")
    steps = 2000
    cmd = sweep_cmd(tmp_path, space, "--seeds", "1", "--steps", str(steps), "--trials", "3", "--sampler", "grid",
                    "--no-prune", "--name", "k")
    root = tmp_path / "k"
    # kill once trial 0 is done and trial 1 has checkpointed, at most half way
    sigkill_when(cmd, lambda: (root / "trials/t000/summary.json").exists()
                 and checkpointed_at_most_half(root.glob("trials/t001/runs/*/run.json"), steps),
                 400, "trial 1 never reached a checkpoint")
    first = [(t.state.name, t.params["learner.lr"]) for t in study(root).trials]
    assert [state for state, _ in first] == ["COMPLETE", "RUNNING"]
    done_metrics = {p: p.stat().st_mtime_ns for p in root.glob("trials/t000/runs/*/metrics.csv")}
    assert done_metrics
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "1 of 3 trials finished, 1 to resume" in rerun.stderr
    again = study(root)
    assert [t.state.name for t in again.trials] == ["COMPLETE"] * 3  # resumed, not asked again
    assert [t.params["learner.lr"] for t in again.trials[:2]] == [lr for _, lr in first]
    assert done_metrics == {p: p.stat().st_mtime_ns for p in root.glob("trials/t000/runs/*/metrics.csv")}
    log = (root / "trials/t001/bench.log").read_text()
    assert log.count("mafac bench t001:") == 2  # trial 1's bench ran twice: killed, then resumed
    assert sorted({t.params["learner.lr"] for t in again.trials}) == [0.0005, 0.001, 0.002]


@pytest.mark.parametrize("space,needles", [
    ("learner.lrr: [0.1, 0.2]\n", ["learner.lrr", "unknown config key", "learner.lr"]),
    ("learner.lr: {log: [0.0, 0.1]}\n", ["learner.lr", "log", "low > 0"]),
    ("learner.lr: {range: [0.1, 0.01]}\n", ["learner.lr", "empty"]),
    ("learner.lr: {uniform: [0.1, 0.2]}\n", ["learner.lr", "bad spec", "{log: [low, high]}"]),
    ("learner.optimizer: [adam, sgd]\n", ["learner.optimizer", "'sgd'", "rmsprop"]),
    ("algo: [vdn, qmix]\n", ["'algo'", "--algos"]),
    ("- learner.lr\n", ["expected a mapping"]),
    ("learner.lr: {log: [1.0e-4, 1.0e-3]}\n", ["--sampler grid needs choices", "learner.lr"]),
])
def test_a_bad_space_is_one_line(tmp_path, capsys, space, needles):
    path = tmp_path / "space.yaml"
    path.write_text(space)
    code = main(["sweep", *GRID, "--space", str(path), "--trials", "2", "--sampler", "grid", "--steps", "100",
                 "--out-root", str(tmp_path), "--name", "bad"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "bad" / "trials").exists()  # nothing ran


@pytest.mark.parametrize("args,needle", [
    (["--objective", "best"], "bad --objective 'best'"),
    (["--sampler", "cmaes"], "unknown sampler 'cmaes'"),
    (["--budget", "soon"], "bad --budget 'soon'"),
    (["--trials", "0"], "bad --trials 0"),
])
def test_bad_sweep_options_are_one_line(tmp_path, capsys, args, needle):
    path = tmp_path / "space.yaml"
    path.write_text("learner.lr: [0.001, 0.002]\n")
    base = {"--trials": "2"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    flat = [x for kv in base.items() for x in kv]
    code = main(["sweep", *GRID, "--space", str(path), "--out-root", str(tmp_path), "--name", "bad", *flat])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and needle in err, err


def test_objectives_on_known_curves():
    """Each objective's value on hand-made curves, and intermediate values on a common step grid."""
    import pandas as pd

    from mafac.search.objective import parse_objective

    a = pd.DataFrame({"env_steps": [0, 10_000, 20_000, 30_000], "test_win_rate": [0.0, 0.5, 1.0, 1.0],
                      "wall_s": [0.0, 10.0, 20.0, 30.0]})
    b = pd.DataFrame({"env_steps": [0, 10_008, 20_016, 30_000], "test_win_rate": [0.0, 0.0, 0.5, 0.5],
                      "wall_s": [0.0, 12.0, 24.0, 36.0]})
    runs = [("a", a), ("b", b)]
    steps, per_eval = {"a": 30_000, "b": 30_000}, {"a": 32, "b": 32}
    final = parse_objective("final:2").trial_value(runs, steps, per_eval)
    assert final["value"] == pytest.approx((1.0 + 0.5) / 2) and final["episodes"] == 2 * 2 * 32
    auc = parse_objective("auc").trial_value(runs, steps, per_eval)["value"]
    assert auc == pytest.approx(((0.25 + 0.75 + 1.0) / 3 + (0 * 10_008 + 0.25 * 10_008 + 0.5 * 9_984) / 30_000) / 2, rel=1e-3)
    reach = parse_objective("time-to:0.8:2").trial_value(runs, steps, per_eval)
    assert reach["reached"] == 1 and reach["value"] == pytest.approx((30.0 + 2 * 36.0) / 2)  # b never: 2x its wall
    assert parse_objective("steps-to:0.5:1").trial_value(runs, steps, per_eval)["value"] == pytest.approx((10_000 + 20_016) / 2)
    inter = parse_objective("final").intermediate(runs, interval=10_000)
    assert [s for s, _ in inter] == [0, 10_000, 20_000, 30_000]  # 10,008 and 10,000 are one evaluation
    assert [v for _, v in inter] == pytest.approx([0.0, 0.25, 0.75, 0.75])
    assert parse_objective("time-to:0.9").intermediate(runs, 10_000)[1][1] == pytest.approx(0.75)  # 1 - mean
