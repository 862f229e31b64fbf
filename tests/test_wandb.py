"""run.wandb: the local W&B files hold metrics.csv's values, the update losses TensorBoard gets and
the resolved config; a resumed run keeps its W&B run; a bench groups its runs and does not count
run.wandb as part of its identity; offline unless W&B is set up; without the package, one line.

Everything here runs W&B offline (no network, no account): the files are read back with wandb's
own reader of its transaction log, `wandb leet inspect --json`."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mafac.config import build_config
from mafac.errors import MafacError
from mafac.rundir import CONFIG_YAML, METRIC_COLUMNS, METRICS_CSV, RUNS_DIR
from mafac.trainer import train_run
from mafac.wandb_log import WANDB_DIR, WANDB_ID, WandbLog, wandb_mode

MAFAC = [sys.executable, "-m", "mafac"]
MATRIX = ["--env", "matrix", "--preset", "matrix", "--algos", "qmix", "--maps", "qtran_game", "--seeds", "1",
          "--workers", "1", "--set", "run.test_interval=500"]


def go_offline(mp: pytest.MonkeyPatch, home: Path) -> None:
    """W&B offline, its config and caches in a temporary folder (not the user's), no credentials."""
    for var, value in {"WANDB_MODE": "offline", "WANDB_DIR": home, "WANDB_CONFIG_DIR": home / "config",
                       "WANDB_CACHE_DIR": home / "cache", "WANDB_DATA_DIR": home / "data",
                       "NETRC": home / "netrc"}.items():
        mp.setenv(var, str(value))
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_PROJECT", "WANDB_SILENT"):
        mp.delenv(var, raising=False)


@pytest.fixture
def offline(tmp_path_factory, monkeypatch):
    go_offline(monkeypatch, tmp_path_factory.mktemp("wandb_home"))


def read_attempts(run_dir: Path) -> list:
    """Each attempt's W&B offline run, oldest first: {'run': its run record, 'history': [rows]}."""
    attempts = []
    for folder in sorted((run_dir / WANDB_DIR).glob("offline-run-*")):
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(folder)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        runs = [r["run"] for r in records if r["type"] == "run"]
        assert len(runs) == 1, folder
        attempts.append({"run": runs[0], "history": [r["history"]["item"] for r in records if r["type"] == "history"],
                         "exit": [r["exit"] for r in records if r["type"] == "exit"]})
    return attempts


def csv_rows(run_dir: Path) -> list:
    with open(run_dir / METRICS_CSV, newline="") as f:
        return list(csv.DictReader(f))


def assert_rows_match(logged: list, rows: list) -> None:
    """The `metrics/*` history rows against metrics.csv, row by row, every column (an empty cell:
    not logged)."""
    assert [int(h["env_steps"]) for h in logged] == [int(r["env_steps"]) for r in rows]
    for h, r in zip(logged, rows):
        for column in METRIC_COLUMNS[1:]:
            if r[column] == "":
                assert f"metrics/{column}" not in h, (r["env_steps"], column)
            else:
                assert h[f"metrics/{column}"] == pytest.approx(float(r[column]), rel=1e-6, abs=1e-6), (
                    r["env_steps"], column)


def split(history: list):
    metrics = [h for h in history if any(k.startswith("metrics/") for k in h)]
    updates = [h for h in history if any(k.startswith("update/") for k in h)]
    assert len(metrics) + len(updates) == len(history)  # a row is one or the other
    return metrics, updates


@pytest.fixture(scope="module")
def matrix_run(tmp_path_factory):
    """A matrix-game QMIX run with W&B and TensorBoard on, stopped at 600 env steps, then resumed
    to 1200 (as `mafac train --out` on an existing run dir does)."""
    mp = pytest.MonkeyPatch()
    go_offline(mp, tmp_path_factory.mktemp("wandb_home"))
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    pytest.importorskip("tensorboard", reason="pip install 'mafac[tensorboard]' (CI installs it)")
    run_dir = tmp_path_factory.mktemp("wandb") / "qmix__qtran_game__s0"
    sets = ["run.wandb=true", "run.tensorboard=true", "run.test_interval=300", "learner.batch_size=16",
            "learner.start_episodes=16"]
    try:
        train_run(build_config(algo="qmix", preset="matrix", overrides=sets + ["run.t_max=600"]), run_dir)
        first_id = (run_dir / WANDB_ID).read_text().strip()
        train_run(build_config(algo="qmix", preset="matrix", overrides=sets + ["run.t_max=1200"]), run_dir)
        yield {"dir": run_dir, "first_id": first_id, "attempts": read_attempts(run_dir)}
    finally:
        mp.undo()


def test_metrics_updates_and_config_are_logged(matrix_run):
    run_dir, attempts = matrix_run["dir"], matrix_run["attempts"]
    rows = csv_rows(run_dir)
    assert [int(r["env_steps"]) for r in rows] == [0, 304, 608, 912, 1200]
    metrics = [m for a in attempts for m in split(a["history"])[0]]
    assert_rows_match(metrics, rows)
    # each attempt's resolved config, as config.yaml holds it (the resume ran on to a larger t_max)
    resolved = yaml.safe_load((run_dir / CONFIG_YAML).read_text())
    for a, t_max in zip(attempts, (600, 1200)):
        config = {k: v for k, v in a["run"]["config"]["update"].items() if k != "_wandb"}
        assert config == dict(resolved, run=dict(resolved["run"], t_max=t_max))
        assert a["run"]["display_name"] == run_dir.name and a["run"]["project"] == "mafac"
        assert "run_group" not in a["run"]  # a lone run: no bench to group by
        assert len(a["exit"]) == 1 and a["exit"][0].get("exit_code", 0) == 0


def test_updates_are_the_tensorboard_ones(matrix_run):
    """The same per-update stats, at the same env steps, as the TensorBoard log (one hook)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mafac.tensorboard_log import TENSORBOARD_DIR

    run_dir, attempts = matrix_run["dir"], matrix_run["attempts"]
    rows = csv_rows(run_dir)
    # the first attempt ended at its checkpoint, so the two together are every update once
    updates = [u for a in attempts for u in split(a["history"])[1]]
    assert len(updates) == int(rows[-1]["updates"]) > 0
    names = {k for u in updates for k in u if k.startswith("update/")}
    assert {"update/loss", "update/td_loss", "update/grad_norm"} <= names
    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR), size_guidance={"scalars": 0})
    events.Reload()
    assert {f"update/{n.split('/', 1)[1]}" for n in names} == {t for t in events.Tags()["scalars"] if t.startswith("update/")}
    for name in names:
        tb = [(e.step, e.value) for e in events.Scalars(name)]
        wb = [(int(u["env_steps"]), u[name]) for u in updates if name in u]
        assert [s for s, _ in wb] == [s for s, _ in tb], name
        assert [v for _, v in wb] == pytest.approx([v for _, v in tb], rel=1e-6), name  # TensorBoard keeps float32
        assert all(math.isfinite(v) for _, v in wb)
    # within an attempt, env steps never go back (metrics rows and updates on one axis)
    for a in attempts:
        steps = [int(h["env_steps"]) for h in a["history"]]
        assert steps == sorted(steps)


def test_resumed_run_keeps_its_wandb_run(matrix_run):
    run_dir, attempts = matrix_run["dir"], matrix_run["attempts"]
    rid = (run_dir / WANDB_ID).read_text().strip()
    assert rid == matrix_run["first_id"] and len(rid) == 8
    assert len(attempts) == 2  # offline: one folder per attempt, one run id
    assert [a["run"]["run_id"] for a in attempts] == [rid, rid]
    assert all(a["run"]["resume"] for a in attempts)  # resume="allow": the second continues the first online
    first, second = (split(a["history"])[0] for a in attempts)
    assert [int(m["env_steps"]) for m in first] == [0, 304, 608]
    assert [int(m["env_steps"]) for m in second] == [912, 1200]  # from the checkpoint on, not from 0


@pytest.mark.slow
def test_smax_run_logs_its_metrics(tmp_path, tiny_overrides, offline):
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    run_dir = tmp_path / "run"
    train_run(build_config(algo="vdn", overrides=tiny_overrides(**{"run.wandb": True, "run.t_max": 400})), run_dir)
    (attempt,) = read_attempts(run_dir)
    metrics, updates = split(attempt["history"])
    rows = csv_rows(run_dir)
    assert len(rows) == 3
    assert_rows_match(metrics, rows)
    assert len(updates) == int(rows[-1]["updates"]) > 0
    assert attempt["run"]["config"]["update"]["env"]["map"] == "3m"


def test_a_bench_worker_groups_its_run(tmp_path, offline, monkeypatch):
    """What every executor runs for a cell (worker.run_job), told its bench by the driver."""
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    from mafac.benchmark.worker import run_job

    for var in ("XLA_FLAGS", "OMP_NUM_THREADS"):  # run_job sets them for its process; keep ours
        monkeypatch.setenv(var, os.environ.get(var, ""))
    run_dir = tmp_path / "wb" / RUNS_DIR / "qmix__qtran_game__s0"
    cfg = build_config(algo="qmix", preset="matrix", overrides=["run.wandb=true", "run.t_max=500", "run.test_interval=500"])
    result = run_job({"name": run_dir.name, "run_dir": str(run_dir), "config": cfg.to_dict(), "bench": "wb"})
    assert result["status"] == "done", result
    (attempt,) = read_attempts(run_dir)
    assert attempt["run"]["run_group"] == "wb" and attempt["run"]["display_name"] == run_dir.name
    assert_rows_match(split(attempt["history"])[0], csv_rows(run_dir))


@pytest.mark.slow
def test_bench_groups_its_runs_and_ignores_run_wandb(tmp_path, offline):
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    common = MAFAC + ["bench"] + MATRIX + ["--steps", "500", "--out-root", str(tmp_path), "--name", "wb", "--no-probe"]
    out = subprocess.run(common + ["--set", "run.wandb=true"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    run_dir = tmp_path / "wb" / RUNS_DIR / "qmix__qtran_game__s0"
    (attempt,) = read_attempts(run_dir)
    assert attempt["run"]["run_group"] == "wb" and attempt["run"]["display_name"] == run_dir.name
    assert_rows_match(split(attempt["history"])[0], csv_rows(run_dir))
    # the same bench without W&B: a resume (nothing left to run), not "a different bench"
    again = subprocess.run(common, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "different bench" not in again.stderr, again.stderr[-2000:]


def test_run_wandb_is_not_part_of_a_bench_identity():
    """Neither in the resolved configs nor as the --set text or setting that asked for it."""
    from mafac.benchmark.manifest import differences

    def manifest(overrides=(), settings=None, **run):
        grid = {"algos": ["qmix"], "overrides": ["run.test_interval=500", *overrides]}
        if settings:
            grid["settings"] = settings
        return {"grid": grid, "configs": {"r": {"run": {"t_max": 1, **run}}}}

    old = manifest()  # recorded before the key existed
    for value in (True, False):
        assert differences(old, manifest([f"run.wandb={str(value).lower()}"], wandb=value)) == []
        assert differences(old, manifest(settings={"run.wandb": value}, wandb=value)) == []
    assert differences(old, manifest(["run.wandb=true", " run.tensorboard = true", "run.device=cuda"],
                                     wandb=True, tensorboard=True, device="cuda")) == []
    # what the run computes still counts, next to them
    assert differences(old, manifest(["run.wandb=true", "learner.lr=0.01"], wandb=True)) == [
        "grid.overrides: ['run.test_interval=500'] -> ['run.test_interval=500', 'learner.lr=0.01']"]
    assert differences(old, manifest(settings={"run.wandb": True, "learner.lr": 0.01})) == [
        "grid.settings: None -> {'learner.lr': 0.01}"]


def test_offline_unless_wandb_is_set_up(tmp_path):
    none = str(tmp_path / "no_netrc")
    assert wandb_mode({"NETRC": none}) == "offline"
    assert wandb_mode({"NETRC": none, "WANDB_MODE": "online"}) is None  # wandb obeys WANDB_MODE itself
    assert wandb_mode({"NETRC": none, "WANDB_MODE": "disabled"}) is None
    assert wandb_mode({"NETRC": none, "WANDB_API_KEY": "k" * 40}) is None
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert wandb_mode({"NETRC": str(netrc)}) is None  # what `wandb login` writes
    assert wandb_mode({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example.org"}) == "offline"
    netrc.write_text("machine wandb.example.org login user password secret\n")
    assert wandb_mode({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example.org"}) is None
    netrc.write_text("machine api.wandb.ai login user\n")  # no key
    assert wandb_mode({"NETRC": str(netrc)}) == "offline"


def test_missing_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(MafacError) as exc:
        WandbLog(tmp_path, build_config(algo="qmix", preset="matrix"))
    assert str(exc.value) == "run.wandb=true needs the wandb package: pip install 'mafac[wandb]'"
    assert not (tmp_path / WANDB_ID).exists()


def test_a_sweep_trial_groups_its_runs_by_sweep_and_trial(tmp_path):
    """Trial names (t000, t001, ...) repeat from one sweep to the next; their W&B group does not."""
    import json

    from mafac.benchmark.spec import Bench
    from mafac.search.study import Search

    space = tmp_path / "space.yaml"
    space.write_text("learner.lr: {log: [1.0e-4, 1.0e-2]}\n")
    sweep = Search(Bench.build("qmix", "3m", 1, name="s1", out_root=tmp_path, workers=1), str(space), trials=4)
    tdir = sweep.root / "trials" / "t003"
    tdir.mkdir(parents=True)
    sweep._bench_command(tdir, {"learner.lr": 0.01})
    data = json.loads((tdir / "bench.json").read_text())  # what the trial's bench process reads
    trial = Bench.from_dict(data["bench"])
    assert (data["group"], trial.name, trial.source.settings) == ("s1/t003", "t003", {"learner.lr": 0.01})


def test_a_remote_run_ships_its_wandb_files(matrix_run, tmp_path):
    """A Ray task's run dir reaches the driver file by file (rundir_sync): the W&B logs with it,
    W&B's links (wandb/latest-run, wandb/debug.log) not."""
    from mafac.benchmark.rundir_sync import list_files, materialize, read_files

    run_dir = matrix_run["dir"]
    files = list_files(run_dir)
    assert WANDB_ID in files and len([f for f in files if f.endswith(".wandb")]) == 2
    assert not any((run_dir / f).is_symlink() for f in files) and (run_dir / WANDB_DIR / "debug.log").is_symlink()
    copy = tmp_path / "driver" / run_dir.name
    materialize(read_files(run_dir), copy)
    assert read_attempts(copy) == matrix_run["attempts"]


def test_a_failed_run_finishes_its_wandb_run_as_failed(tmp_path, offline):
    """A payoff so large that the loss overflows: the run fails (run.json says so), and so does its
    W&B run (exit code 1), with what it logged before."""
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    from mafac.learner import NonFiniteLoss
    from mafac.rundir import RunInfo

    run_dir = tmp_path / "run"
    cfg = build_config(algo="vdn", preset="matrix", map_name="custom",
                       overrides=["run.wandb=true", "run.t_max=300", "run.test_interval=100",
                                  "env.kwargs.payoff=[[3.0e+38,0],[0,0]]"])
    with pytest.raises(NonFiniteLoss):
        train_run(cfg, run_dir)
    assert RunInfo.load(run_dir).status == "failed"
    (attempt,) = read_attempts(run_dir)
    assert [e.get("exit_code") for e in attempt["exit"]] == [1]
    assert_rows_match(split(attempt["history"])[0], csv_rows(run_dir))


def test_a_bad_wandb_setting_is_one_line(tmp_path, offline, monkeypatch):
    """In a fresh process: wandb reads its environment once per process."""
    pytest.importorskip("wandb", reason="pip install 'mafac[wandb]' (CI installs it)")
    monkeypatch.setenv("WANDB_MODE", "bogus")
    code = ("import sys; from mafac.config import Config; from mafac.errors import MafacError; "
            "from mafac.wandb_log import WandbLog\n"
            "try: WandbLog(sys.argv[1], Config())\n"
            "except MafacError as e: print(e); sys.exit(1)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert out.returncode == 1, out.stderr[-2000:]
    (line,) = out.stdout.splitlines()
    assert line.startswith("run.wandb=true: wandb.init failed: ") and "'bogus'" in line and "offline" in line
