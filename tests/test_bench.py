"""`mafac bench`: grid expansion, a real tiny bench, kill -9 and resume, failure isolation, Ray.

Every bench here runs real worker processes on the tiny shared SMAX shape (see conftest)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import checkpointed_at_most_half, sigkill_when
from mafac.errors import MafacError
from mafac.benchmark.spec import default_name, expand, parse_seeds

MAFAC = [sys.executable, "-m", "mafac"]


def _bench(tmp: Path, name: str, *extra: str, algos="vdn,qmix", seeds="2", steps=400, tiny, probe=False):
    """A tiny SMAX bench; without `probe`, --no-probe (the wall-time estimate's few-second probe per
    algorithm is this file's end-to-end test's and test_throughput.py's subject, not every bench's)."""
    sets = [x for o in tiny(**{"run.t_max": steps}) if not o.startswith("run.t_max") for x in ("--set", o)]
    return MAFAC + ["bench", "--algos", algos, "--maps", "3m", "--seeds", seeds, "--steps", str(steps), "--workers", "2",
                    "--out-root", str(tmp), "--name", name] + sets + list(extra) + ([] if probe else ["--no-probe"])


def _metrics(root: Path) -> dict:
    return {p.parent.name: pd.read_csv(p).drop(columns=["wall_s"]) for p in sorted(root.glob("runs/*/metrics.csv"))}


def test_grid_expansion_and_naming(tmp_path):
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,4,7") == [0, 4, 7]
    assert parse_seeds("5,") == [5]
    with pytest.raises(MafacError, match="--seeds 1 runs seed 0, --seeds 0, runs seed 0 alone"):
        parse_seeds("0")
    for bad in ("0", "a,b", "1,1", "-2"):
        with pytest.raises(MafacError, match="--seeds"):
            parse_seeds(bad)
    jobs = expand(["vdn", "qmix"], ["3m", "8m"], [0, 1], None, tmp_path)
    assert [j.name for j in jobs][:4] == ["vdn__3m__s0", "vdn__3m__s1", "qmix__3m__s0", "qmix__3m__s1"]
    assert len(jobs) == 8 and len({j.run_dir for j in jobs}) == 8
    assert all(Path(j.run_dir).parent == tmp_path / "runs" for j in jobs)
    assert default_name(["vdn", "qmix"], ["3m"], datetime.date(2026, 1, 2)) == "vdn-qmix_3m_20260102"


@pytest.mark.slow
def test_tiny_bench_end_to_end_then_resume_is_a_no_op(tmp_path, tiny_overrides):
    cmd = _bench(tmp_path, "tiny", tiny=tiny_overrides, probe=True)
    fresh = {**os.environ, "MAFAC_THROUGHPUT_CACHE": str(tmp_path / "throughput.json")}  # whatever ran before
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=fresh)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "probed vdn on 3m" in out.stderr and "probed qmix on 3m" in out.stderr  # the wall-time estimate's probes
    assert "estimated wall time" in out.stderr and "3m, runs of 400 env steps: vdn ~" in out.stderr
    root = tmp_path / "tiny"
    runs = sorted(p.name for p in (root / "runs").iterdir())
    assert runs == ["qmix__3m__s0", "qmix__3m__s1", "vdn__3m__s0", "vdn__3m__s1"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["grid"]["algos"] == ["vdn", "qmix"] and set(manifest["configs"]) == set(runs)
    assert manifest["versions"]["torch"] and manifest["machine"]["cores"]
    summary = json.loads((root / "summary.json").read_text())["runs"]
    assert all(r["status"] == "done" and r["env_steps"] == 400 for r in summary.values())
    assert (root / "table.md").read_text().count("3m") >= 1
    assert str(tmp_path) not in (root / "table.md").read_text()  # committed files name no absolute path
    assert (root / "plots" / "learning_curves.png").stat().st_size > 1000
    before = {p: p.stat().st_mtime_ns for p in root.glob("runs/*/metrics.csv")}
    plots_before = (root / "plots" / "learning_curves.png").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "4 already done" in again.stderr
    assert "probe" not in again.stderr and "estimated wall time 0 s (every run is done)" in again.stderr
    sessions = json.loads((root / "summary.json").read_text())["sessions"]  # the bench's own cost, per invocation
    assert len(sessions) == 2 and all(s["wall_s"] > 0 for s in sessions) and sessions[0]["wall_s"] > sessions[1]["wall_s"]
    assert before == {p: p.stat().st_mtime_ns for p in root.glob("runs/*/metrics.csv")}
    assert "up to date" in again.stderr  # and the table and plots are not drawn again
    assert (root / "plots" / "learning_curves.png").stat().st_mtime_ns == plots_before


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, tiny_overrides):
    steps = 1200
    ref = subprocess.run(_bench(tmp_path / "a", "b", algos="qmix", steps=steps, tiny=tiny_overrides),
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    cmd = _bench(tmp_path / "k", "b", algos="qmix", steps=steps, tiny=tiny_overrides)
    root = tmp_path / "k" / "b"
    sigkill_when(cmd, lambda: checkpointed_at_most_half(root.glob("runs/*/run.json"), steps), 300,
                 "no run reached a checkpoint")
    infos = [json.loads(p.read_text()) for p in root.glob("runs/*/run.json")]
    assert any(i["status"] != "done" for i in infos), "the kill came too late to test anything"
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for out in (ref, resumed):  # jaxmarl's import chatter must not reach the user, fresh or resumed
        assert "Importing submoduled" not in out.stdout + out.stderr
    a, b = _metrics(tmp_path / "a" / "b"), _metrics(root)
    assert a.keys() == b.keys() and len(a) == 2
    for run in a:
        pd.testing.assert_frame_equal(a[run], b[run])


@pytest.mark.slow
def test_ctrl_c_records_the_session_then_resume_adds_one(tmp_path, tiny_overrides):
    """Ctrl-C is not kill -9: the bench says how to resume and records the interrupted session's wall
    time in summary.json, so the bench's total cost (mafac table's footer) counts every session."""
    steps = 1200
    cmd = _bench(tmp_path, "c", algos="qmix", seeds="1", steps=steps, tiny=tiny_overrides)
    root = tmp_path / "c"
    code = sigkill_when(cmd, lambda: checkpointed_at_most_half(root.glob("runs/*/run.json"), steps), 300,
                        "no run reached a checkpoint", sig=2, stderr=tmp_path / "err.txt")
    err = (tmp_path / "err.txt").read_text()
    assert code == 130 and f"interrupted; rerun the same command to resume ({root})" in err, err[-2000:]
    assert "Traceback" not in err
    summary = json.loads((root / "summary.json").read_text())
    [session] = summary["sessions"]
    assert session["interrupted"] is True and session["wall_s"] > 0
    assert summary["runs"]["qmix__3m__s0"]["status"] == "running"
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((root / "summary.json").read_text())
    assert [s.get("interrupted", False) for s in summary["sessions"]] == [True, False]
    assert summary["runs"]["qmix__3m__s0"]["status"] == "done"
    assert "over 2 session(s)" in (root / "table.md").read_text()


@pytest.mark.slow
def test_failed_run_is_isolated_and_reported(tmp_path, tiny_overrides):
    # an absurd learning rate, given through --config: the loss is non-finite at the first update
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("learner:\n  lr: 1.0e+30\n")
    cmd = _bench(tmp_path, "f", "--config", str(cfg), algos="vdn", seeds="1", tiny=tiny_overrides)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "estimated wall time unknown (--no-probe: nothing measured)" in out.stderr
    assert "failed: vdn__3m__s0" in out.stderr and "Traceback" not in out.stderr
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())["runs"]
    assert summary["vdn__3m__s0"]["status"] == "failed" and "non-finite" in summary["vdn__3m__s0"]["error"]
    assert (tmp_path / "f" / "runs" / "vdn__3m__s0" / "error.txt").exists()


@pytest.mark.slow
def test_one_failure_does_not_stop_the_others(tmp_path):
    """The payoff kwarg only affects the `custom` map: its huge payoff overflows the loss to inf,
    so that run fails with a non-finite loss while `qtran_game` trains to the end."""
    cmd = MAFAC + ["bench", "--algos", "vdn", "--maps", "custom,qtran_game", "--env", "matrix", "--preset", "matrix",
                   "--seeds", "1", "--steps", "300", "--workers", "2", "--out-root", str(tmp_path), "--name", "mixed", "--no-probe",
                   "--set", "run.test_interval=100", "--set", "env.kwargs.payoff=[[3.0e+38,0],[0,0]]"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "failed: vdn__custom__s0" in out.stderr and "Traceback" not in out.stderr
    summary = json.loads((tmp_path / "mixed" / "summary.json").read_text())["runs"]
    assert summary["vdn__custom__s0"]["status"] == "failed"
    assert summary["vdn__qtran_game__s0"]["status"] == "done" and summary["vdn__qtran_game__s0"]["env_steps"] >= 300


@pytest.mark.slow
def test_plan_prints_the_header_and_estimate_and_runs_nothing(tmp_path):
    env = dict(os.environ, MAFAC_THROUGHPUT_CACHE=str(tmp_path / "tp.json"))
    cmd = MAFAC + ["bench", "--plan", "--algos", "vdn,qmix", "--env", "matrix", "--preset", "matrix", "--maps", "climbing",
                   "--seeds", "2", "--steps", "300", "--workers", "2", "--out-root", str(tmp_path), "--name", "p"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "mafac bench p: 2 algos x 1 map x 2 seeds = 4 runs (0 already done)" in out.stderr
    assert "  estimated wall time " in out.stderr and "climbing, runs of 300 env steps: vdn ~" in out.stderr
    assert not (tmp_path / "p").exists()  # nothing ran, nothing was written but the probe's cache
    assert (tmp_path / "tp.json").exists()
    bad = subprocess.run([("vdn,nope" if a == "vdn,qmix" else a) for a in cmd], capture_output=True, text=True,
                         timeout=120, env=env)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "nope" in bad.stderr


def test_changed_grid_is_refused_unless_forced(tmp_path):
    # Also the CI tier's one whole `mafac bench` (on the matrix game: no SMAX compile): runs, manifest,
    # a finished run counted as done, the end's tables.
    common = ["--env", "matrix", "--preset", "matrix", "--maps", "qtran_game", "--seeds", "1", "--steps", "200",
              "--workers", "1", "--out-root", str(tmp_path), "--name", "g", "--set", "run.test_interval=100", "--no-probe"]
    assert subprocess.run(MAFAC + ["bench", "--algos", "vdn"] + common, capture_output=True, timeout=300).returncode == 0
    out = subprocess.run(MAFAC + ["bench", "--algos", "vdn,qmix"] + common, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "different bench" in out.stderr and "grid.algos" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    forced = subprocess.run(MAFAC + ["bench", "--algos", "vdn,qmix", "--force"] + common, capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads((tmp_path / "g" / "manifest.json").read_text())["grid"]["algos"] == ["vdn", "qmix"]
    table = (tmp_path / "g" / "table.md").read_text()
    assert "vdn" in table and "qmix" in table and "qtran_game" in table
    assert {p.name for p in (tmp_path / "g" / "runs").iterdir()} == {"vdn__qtran_game__s0", "qmix__qtran_game__s0"}


FULL_DISK = """
disk=$1; shift
mount -t tmpfs -o size=600k tmpfs "$disk" || exit 77
python -m mafac "$@" --out-root "$disk"; echo "exit $?" >&2
mount -o remount,size=16m "$disk"
python -m mafac "$@" --out-root "$disk"; echo "exit $?" >&2
"""


@pytest.mark.slow
def test_a_full_disk_stops_the_bench_and_a_rerun_resumes(tmp_path):
    """A real full disk: a 600 KiB tmpfs (in a user and mount namespace of its own) holds the first
    run's first checkpoint, not its second. That run fails in one line, the bench starts no other
    and says what they need; on a larger disk the same command runs them all."""
    args = ["bench", "--algos", "vdn", "--maps", "climbing", "--env", "matrix", "--preset", "matrix", "--seeds", "3",
            "--steps", "200", "--workers", "1", "--name", "full", "--no-probe", "--set", "run.test_interval=100"]
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        out = subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK, "sh", str(disk)] + args, capture_output=True,
                             text=True, timeout=600)
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if out.returncode == 77 or "exit" not in out.stderr:
        pytest.skip(f"no tmpfs of our own here: {out.stderr.strip()[-200:]}")
    assert "exit 1\n" in out.stderr, out.stderr[-3000:]
    first, second = out.stderr.split("exit 1\n", 1)
    assert "  disk: up to " in first and "vdn__climbing__s0: failed (OSError: [Errno 28] No space left on device)" in first
    stop = [line for line in first.splitlines() if "not started" in line and line.startswith("warning:")]
    assert len(stop) == 1 and "no space left on device: 2 run(s) not started, needing up to " in stop[0]
    assert "failed: vdn__climbing__s1: not started: no space left on device" in first
    assert "Traceback" not in out.stderr
    assert "exit 0" in second and "bench full: 3/3 runs done" in second


@pytest.mark.parametrize("args,needle", [
    (["--algos", "vdn,nope"], "nope"),
    (["--maps", "3x"], "3x"),
    (["--seeds", "a,b"], "a,b"),
    (["--executor", "foo"], "foo"),
    (["--workers", "0"], "--workers"),
    (["--steps", "-5"], "--steps"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, needle, capsys):
    from mafac.cli import main  # in process: the message is the point, not a second interpreter

    code = main(["bench", "--out-root", str(tmp_path)] + args)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "runs").exists()
