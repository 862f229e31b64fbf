"""Time to a win rate, per run: the wall seconds and env steps until the mean of K consecutive
evaluations (default 3: 96 greedy episodes) first reaches X (default 0.95), as `mafac sweep
--objective time-to:X:K` scores it. Each run trains on one core (run.torch_threads=1, one worker).

    python benchmarks/time_to.py results/<bench> [--target 0.95] [--k 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mafac.rundir import METRICS_CSV, RUNS_DIR


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dir", type=Path)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()
    from mafac.search.objective import Objective

    steps, wall = Objective("steps-to", k=args.k, target=args.target), Objective("time-to", k=args.k, target=args.target)
    print(f"| run | env steps to {args.target:g} (mean of {args.k} evals) | wall s to it | best mean of {args.k} | "
          f"final env steps | final wall s |")
    print("|---|---|---|---|---|---|")
    for run in sorted((args.bench_dir / RUNS_DIR).iterdir()):
        try:
            frame = pd.read_csv(run / METRICS_CSV)
        except (OSError, ValueError):
            continue
        s, _, reached = steps.run_value(frame, int(frame["env_steps"].iloc[-1]))
        w, _, _ = wall.run_value(frame, int(frame["env_steps"].iloc[-1]))
        best = frame["test_win_rate"].rolling(args.k).mean().max()
        shown = (f"{int(s):,}", f"{w:.0f}") if reached else ("not reached", "not reached")
        print(f"| {run.name} | {shown[0]} | {shown[1]} | {best:.3f} | {int(frame['env_steps'].iloc[-1]):,} | "
              f"{frame['wall_s'].iloc[-1]:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
