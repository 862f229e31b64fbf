"""Learning on SMAX: test win rate against env steps, per run, for long single-config budgets.

A thin layer over `mafac bench` (the same grid, workers, resume and tables), kept for what the bench
does not print: each run's whole learning curve and the env steps at which it first reached 95%.
Runs land in results/learning_smax/<preset>/ (a bench directory: `mafac table` and `mafac plot`
read it); an interrupted benchmark resumes.

    python benchmarks/learning_smax.py [--algos qmix,vdn] [--maps 3m,8m] [--steps 1000000]
                                       [--seeds 1] [--preset pymarl] [--workers 2] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

from mafac.benchmark.run import run_bench
from mafac.benchmark.spec import Bench, ConfigSource
from mafac.rundir import METRICS_CSV, RUNS_DIR


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", default="qmix,vdn")
    p.add_argument("--maps", default="3m,8m")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seeds", default="1", help="as `mafac bench --seeds`: a count, or ids with commas")
    p.add_argument("--preset", default="pymarl")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", default="results/learning_smax")
    a = p.parse_args()
    source = ConfigSource(preset=a.preset, overrides=a.overrides)
    code = 1 if run_bench(Bench.build(a.algos, a.maps, a.seeds, a.steps, source=source, workers=a.workers,
                                      name=a.preset, out_root=a.out)).failed else 0
    summary = []
    for run_dir in sorted((Path(a.out) / a.preset / RUNS_DIR).iterdir()):
        if not (run_dir / METRICS_CSV).exists():
            continue
        rows = pd.read_csv(run_dir / METRICS_CSV)
        print(f"\n{run_dir.name} ({a.preset}): {run_dir}")
        print(rows[["env_steps", "test_win_rate", "test_return", "epsilon", "wall_s"]].to_string(index=False))
        reached = rows.loc[rows["test_win_rate"] >= 0.95, "env_steps"]
        summary.append((run_dir.name, rows["test_win_rate"].iloc[-1], rows["test_win_rate"].max(),
                        int(reached.iloc[0]) if len(reached) else "never", rows["wall_s"].iloc[-1]))
    print("\nsummary")
    print(f"{'run':<20} {'final win':>9} {'best win':>8} {'first >=95%':>12} {'wall s':>7}")
    for name, final, best, first, wall in summary:
        print(f"{name:<20} {final:>9.3f} {best:>8.3f} {first:>12} {wall:>7.0f}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
