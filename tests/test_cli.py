"""The `mafac` console script, run as a real subprocess: one-line errors, list, train, failures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mafac.rundir import METRIC_COLUMNS

MAFAC = Path(sys.executable).with_name("mafac")
CMD = [str(MAFAC)] if MAFAC.exists() else [sys.executable, "-m", "mafac"]


def mafac(*args, cwd=None, timeout=240):
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "default"})


class InProcess:
    """`mafac ...` through the CLI's own main() in this process: what a subprocess would show
    (exit code, stdout, stderr) for the error-message tests, without a second interpreter start."""

    def __init__(self, capsys, *args):
        from mafac.cli import main

        capsys.readouterr()
        self.returncode = main([str(a) for a in args])
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err


def assert_one_line_error(proc, *needles, code=None):
    assert proc.returncode != 0, proc
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("args,needles", [
    (["train", "--algo", "qmixx"], ["'qmixx'", "vdn", "qmix", "iql"]),
    (["train", "--map", "4m"], ["'4m'", "3m", "8m"]),
    (["train", "--set", "learner.lrr=0.1"], ["learner.lrr", "learner.lr"]),
    (["train", "--set", "learner.lr=abc"], ["'abc'", "learner.lr"]),
    (["train", "--set", "learner.optimizer=sgd"], ["'sgd'", "learner.optimizer", "rmsprop", "adam"]),
    (["train", "--set", "learner.lr"], ["learner.lr", "="]),
    (["config", "--set", "agent.hidden_dim=0"], ["agent.hidden_dim", "0"]),
    (["config", "--preset", "fast", "--set", "learner.n_step=3"], ["learner.n_step=3", "learner.td_lambda=0.6"]),
])
def test_bad_values_are_one_line_errors(args, needles, tmp_path, capsys):
    proc = InProcess(capsys, *args, "--out", tmp_path / "run") if args[0] == "train" else InProcess(capsys, *args)
    assert_one_line_error(proc, *needles, code=1)
    assert not (tmp_path / "run").exists()  # nothing ran


def test_config_file_errors(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(InProcess(capsys, "train", "--config", missing), str(missing), code=1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("learner: {lr: 0.1\nrun: [\n")
    assert_one_line_error(InProcess(capsys, "train", "--config", bad), "bad.yaml", "YAML", code=1)
    typo = tmp_path / "typo.yaml"
    typo.write_text("learner:\n  gama: 0.9\n")
    assert_one_line_error(InProcess(capsys, "train", "--config", typo), "learner.gama", code=1)


def test_usage_error_exit_code():  # a real process: the exit code is what a shell sees
    proc = mafac("train", "--no-such-option")
    assert_one_line_error(proc, "--no-such-option", code=2)


def test_list_shows_algorithms_and_smax_maps():
    proc = mafac("list")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for algo in ("iql", "vdn", "qmix"):
        assert f"  {algo} " in out
    smax = [line for line in out.splitlines() if line.strip().startswith("smax")]
    assert smax
    maps_line = out.splitlines()[out.splitlines().index(smax[0]) + 1]
    for m in ("3m", "8m", "2s3z", "3s5z", "smacv2_5_units", "smacv2_10_units", "smacv2_20_units"):
        assert m in maps_line.replace(",", " ").split()


def test_train_writes_a_run_dir(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    sets = [x for o in tiny_overrides(**{"run.t_max": 9999}) for x in ("--set", o)]
    proc = mafac("train", "--algo", "vdn", "--map", "3m", "--steps", 300, *sets, "--out", out, "--quiet",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert "test win rate" in proc.stdout
    with open(out / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames[: len(METRIC_COLUMNS)] == METRIC_COLUMNS
    # --steps wins over an earlier --set run.t_max; evaluations at 0, 200 and the end
    assert [int(r["env_steps"]) for r in rows] == [0, 200, 300]
    info = json.loads((out / "run.json").read_text())
    assert (info["status"], info["algo"], info["env_steps"]) == ("done", "vdn", 300)


def test_nan_loss_fails_the_run_with_one_error_line(tmp_path):
    # The matrix game: the subject is the error path, and it needs no SMAX compile to get there.
    out = tmp_path / "nan"
    proc = mafac("train", "--algo", "vdn", "--env", "matrix", "--preset", "matrix", "--map", "qtran_game",
                 "--steps", 400, "--set", "learner.lr=1e30", "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # the start banner, then exactly one line: the error
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("mafac train: ")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: non-finite loss"), lines[0]
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed"
    assert "NonFiniteLoss" in info["error"] and "non-finite loss" in info["error"]
    assert 0 < info["env_steps"] < 400
    assert "Traceback" in (out / "error.txt").read_text()  # the details are kept for debugging
