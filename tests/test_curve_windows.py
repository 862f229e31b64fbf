"""benchmarks/curve_windows.py: the window means the recipe's per-CPU-minute comparison rests on."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd

from benchmarks.curve_windows import windows
from conftest import ROOT


def _curve(points):
    """A metrics frame: evaluations at (env_steps, win rate), with training rows (NaN win rate) between."""
    rows = []
    for steps, rate in points:
        rows.append({"env_steps": steps - 1, "test_win_rate": float("nan")})
        rows.append({"env_steps": steps, "test_win_rate": rate})
    return pd.DataFrame(rows)


def test_windows_average_only_the_evaluations_in_range():
    frame = _curve([(0, 0.0), (90_000, 0.2), (100_000, 0.4), (150_000, 0.6), (151_000, 1.0)])
    got = windows(frame, [100_000, 150_000, 400_000], 50_000)
    assert math.isclose(got[0], (0.2 + 0.4 + 0.6) / 3)  # 50k..150k, both ends in; 151k out
    assert math.isclose(got[1], (0.4 + 0.6 + 1.0) / 3)  # 100k..200k
    assert math.isnan(got[2])  # no evaluation there: NaN, never 0


def test_script_prints_per_run_and_mean_rows(tmp_path):
    for seed, rate in ((0, 0.5), (1, 0.7)):
        run = tmp_path / "bench" / "runs" / f"qmix__3m__s{seed}"
        run.mkdir(parents=True)
        _curve([(100_000, rate), (300_000, rate + 0.2)]).to_csv(run / "metrics.csv", index=False)
    out = subprocess.run([sys.executable, "benchmarks/curve_windows.py", str(tmp_path / "bench"), "--at", "100000,300000"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "| bench/qmix__3m__s0 | 0.500 | 0.700 |" in out.stdout
    assert "| **bench: mean of 2 runs** | **0.600** | **0.800** |" in out.stdout
