"""Tables, plots and exports from synthetic results with known values, written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from mafac.analysis import load_results, write_plots, write_table
from mafac.analysis.export import export
from mafac.analysis.table import table_frame
from mafac.errors import MafacError
from mafac.rundir import RunInfo

STEPS = np.arange(0, 100_001, 10_000)


def _run(root: Path, algo: str, map_name: str, seed: int, curve) -> Path:
    d = root / "runs" / f"{algo}__{map_name}__s{seed}"
    d.mkdir(parents=True)
    RunInfo(algo, map_name, "smax", seed, "done", int(STEPS[-1]), int(STEPS[-1])).save(d)
    pd.DataFrame({"env_steps": STEPS, "episodes": STEPS // 20, "test_win_rate": curve, "test_return": np.asarray(curve) * 20,
                  "loss": 0.1, "epsilon": 0.05, "wall_s": STEPS / 500}).to_csv(d / "metrics.csv", index=False)
    return d


def _ramp(final: float, reach80_at: int | None):
    """A curve ending at `final` that first reaches 0.8 at `reach80_at` env steps (None: never)."""
    curve = np.zeros(len(STEPS))
    if reach80_at is not None:
        curve[STEPS >= reach80_at] = 0.8
    curve[-1] = final
    return curve


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "bench"
    finals = {"qmix": [0.9, 1.0, 0.95, 0.85, 0.92], "vdn": [0.5, 0.6, 0.55, 0.4, 0.45]}
    for algo, vals in finals.items():
        for seed, v in enumerate(vals):
            for m in ("3m", "8m"):
                _run(root, algo, m, seed, _ramp(v, 30_000 if algo == "qmix" else None))
    return root, finals


def test_table_numbers(results):
    root, finals = results
    frame = table_frame(load_results([root]))
    row = frame[(frame["map"] == "3m") & (frame["label"] == "qmix")].iloc[0]
    vals = np.array(finals["qmix"])
    assert row["median"] == pytest.approx(np.median(vals))
    s = np.sort(vals)
    assert row["iqm"] == pytest.approx(np.mean(s[1:4]), abs=1e-9) or row["iqm"] == pytest.approx(np.mean(s[1:-1]))
    assert row["median_low"] <= np.median(vals) <= row["median_high"]
    assert row["n"] == 5 and row["steps_to_80"] == 30_000
    vdn = frame[(frame["map"] == "3m") & (frame["label"] == "vdn")].iloc[0]
    assert vdn["steps_to_80"] is None or np.isnan(vdn["steps_to_80"])
    assert "all maps" in set(frame["map"])
    text = write_table([root])
    assert (root / "table.md").read_text() == text
    line = next(l for l in text.splitlines() if l.startswith("| 3m"))
    assert "**0.92**" in line and "80%@30k" in line and "80%@never" in line


def test_every_figure_is_a_real_image(results):
    root, _ = results
    paths = write_plots([root])
    names = {p.stem for p in paths}
    assert names == {"learning_curves", "final_performance", "aggregate", "probability_of_improvement", "performance_profiles"}
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            img = mpimg.imread(p)
            assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0.01
        else:
            assert data[:4] == b"%PDF" and len(data) > 1000


def test_merging_two_result_directories(results, tmp_path):
    root, _ = results
    other = tmp_path / "reference"
    for seed in range(3):
        _run(other, "qmix", "3m", seed, _ramp(0.7, 50_000))
    res = load_results([root, other])
    assert "qmix (bench)" in res.labels and "qmix (reference)" in res.labels
    text = write_table([root, other], out=tmp_path / "t.md")
    assert "qmix (reference)" in text and "vdn (bench)" in text


def test_marl_eval_export(results):
    root, finals = results
    tree = json.loads(export([root]).read_text())
    run = tree["smax"]["3m"]["qmix"]["run_1"]
    assert run["absolute_metrics"]["test_win_rate"] == [finals["qmix"][1]]
    assert run["step_0"]["step_count"] == 0 and len([k for k in run if k.startswith("step_")]) == len(STEPS)
    assert isinstance(run["step_3"]["test_win_rate"], list)


@pytest.mark.parametrize("damage,needle", [
    (lambda d: (d / "metrics.csv").unlink(), "missing"),
    (lambda d: (d / "metrics.csv").write_text((d / "metrics.csv").read_text()[:-25]), "truncated"),
    (lambda d: (d / "run.json").write_text("{not json"), "corrupt"),
    (lambda d: (d / "metrics.csv").write_text("env_steps,test_win_rate\n0,abc\n"), "non-numeric"),
    (lambda d: (d / "metrics.csv").write_text(""), "empty"),
])
def test_corrupt_inputs_are_named_and_skipped(results, capsys, damage, needle):
    root, _ = results
    bad = root / "runs" / "vdn__8m__s4"
    damage(bad)
    text = write_table([root])
    err = capsys.readouterr().err
    assert needle in err and "vdn__8m__s4" in err and len(err.strip().splitlines()) == 1
    assert "Skipped runs" in text and "vdn__8m__s4" in text
    assert "n=5" in next(l for l in text.splitlines() if l.startswith("| 3m"))


def test_bad_metric_and_path(results, tmp_path):
    root, _ = results
    with pytest.raises(MafacError, match="unknown metric 'nope'.*test_win_rate"):
        write_table([root], metric="nope")
    with pytest.raises(MafacError, match="does not exist"):
        write_table([tmp_path / "missing"])
    with pytest.raises(MafacError, match="no loadable runs"):
        (tmp_path / "empty").mkdir()
        write_table([tmp_path / "empty"])
