"""run.tensorboard: the event files hold metrics.csv's values; without the package, one line."""

from __future__ import annotations

import csv
import math
import sys

import pytest

from mafac.config import build_config
from mafac.errors import MafacError
from mafac.rundir import METRIC_COLUMNS, METRICS_CSV
from mafac.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from mafac.trainer import train_run


def test_events_hold_the_metrics(tmp_path, tiny_overrides):
    pytest.importorskip("tensorboard", reason="pip install 'mafac[tensorboard]' (CI installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    train_run(build_config(algo="qmix", overrides=tiny_overrides(**{"run.tensorboard": True, "run.t_max": 400})),
              run_dir)
    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    with open(run_dir / METRICS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for column in METRIC_COLUMNS[1:]:
        expect = [(int(r["env_steps"]), float(r[column])) for r in rows if r[column] != ""]
        got = [(e.step, e.value) for e in events.Scalars(f"metrics/{column}")] if expect else []
        assert [s for s, _ in got] == [s for s, _ in expect], column
        assert [v for _, v in got] == pytest.approx([v for _, v in expect], rel=1e-6, abs=1e-6), column
    # every update's losses, at the env steps they were made
    updates = events.Scalars("update/td_loss")
    assert len(updates) == int(rows[-1]["updates"]) and {"update/loss", "update/grad_norm"} <= tags
    assert all(math.isfinite(e.value) for e in updates)


def test_missing_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    with pytest.raises(MafacError) as exc:
        TensorBoardLog(tmp_path)
    assert str(exc.value) == "run.tensorboard=true needs the tensorboard package: pip install 'mafac[tensorboard]'"


@pytest.mark.slow
def test_resumed_run_keeps_what_it_logged_up_to_its_checkpoint(tmp_path):
    """A run stopped at its checkpoint (1008 env steps) and resumed: the events hold every
    metrics.csv row once, the checkpoint's own row and the updates made at its env steps included
    (the resumed run drops only what was logged after the checkpoint)."""
    pytest.importorskip("tensorboard", reason="pip install 'mafac[tensorboard]' (CI installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    sets = ["run.tensorboard=true", "run.test_interval=500"]
    for t_max in (1000, 2000):
        train_run(build_config(algo="qmix", preset="matrix", overrides=sets + [f"run.t_max={t_max}"]), run_dir)
    with open(run_dir / METRICS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_steps"]) for r in rows] == [0, 512, 1008, 1504, 2000]
    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/test_return")] == [0, 512, 1008, 1504, 2000]
    assert [e.value for e in events.Scalars("metrics/updates")] == [float(r["updates"]) for r in rows]
    updates = [e.step for e in events.Scalars("update/td_loss")]
    assert len(updates) == int(rows[-1]["updates"]) and 1008 in updates and updates == sorted(updates)
