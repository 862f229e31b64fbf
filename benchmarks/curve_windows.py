"""The mean test win rate in a window of env steps around given points, per run and over runs.

One 32-episode evaluation is +-0.08; the mean of the ~11 evaluations within +-50k env steps of a
point is +-0.03, so two settings can be compared along their learning curves, not only at their
final checkpoints. With each setting's cost per env step (the bench's probe prints it), this is
how the recipe search compares settings at equal CPU time: setting A at N steps against setting
B at the steps B reaches for the same CPU minutes (results/recipe/NOTES.md).

    python benchmarks/curve_windows.py results/<bench> [results/<bench> ...] [--at 300000,500000]
        [--half-width 50000] [--filter qmix__3m]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mafac.rundir import METRICS_CSV, RUNS_DIR


def windows(frame: pd.DataFrame, points, half_width: int) -> list:
    """Mean test win rate of the evaluations within +-half_width env steps of each point (NaN if none)."""
    evals = frame.dropna(subset=["test_win_rate"])
    out = []
    for p in points:
        near = evals[(evals["env_steps"] >= p - half_width) & (evals["env_steps"] <= p + half_width)]
        out.append(float(near["test_win_rate"].mean()) if len(near) else float("nan"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dirs", type=Path, nargs="+")
    ap.add_argument("--at", default="300000,400000,500000,600000", help="comma-separated env steps")
    ap.add_argument("--half-width", type=int, default=50_000)
    ap.add_argument("--filter", default="", help="only runs whose name contains this")
    args = ap.parse_args()
    points = [int(float(x)) for x in args.at.split(",") if x.strip()]
    head = " | ".join(f"{p / 1e3:g}k" for p in points)
    print(f"mean test win rate within +-{args.half_width:,} env steps of each point\n")
    print(f"| run | {head} |")
    print("|---|" + "---|" * len(points))
    for bench in args.bench_dirs:
        rows = []
        for run in sorted((bench / RUNS_DIR).iterdir()):
            if args.filter not in run.name or not (run / METRICS_CSV).is_file():
                continue
            rows.append(windows(pd.read_csv(run / METRICS_CSV), points, args.half_width))
            print(f"| {bench.name}/{run.name} | " + " | ".join(f"{v:.3f}" for v in rows[-1]) + " |")
        if len(rows) > 1:
            mean = pd.DataFrame(rows).mean(axis=0, skipna=False)
            print(f"| **{bench.name}: mean of {len(rows)} runs** | " + " | ".join(f"**{v:.3f}**" for v in mean) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
