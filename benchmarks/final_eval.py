"""Final win rates that resolve 0.95: many greedy episodes on every run's final checkpoint.

A bench's table reads each run's last periodic evaluation (32 episodes: +-0.07 at a win rate of
0.85). This evaluates every run's checkpoint of a bench with `mafac eval`'s code on many episodes,
prints one line per run and a table of the median (and all seeds) per map and algorithm, and
writes `final_eval_<N>.csv` into the bench directory.

    python benchmarks/final_eval.py results/reference [--episodes 128] [--seed 12345]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
from pathlib import Path

from mafac.atomic import write_text
from mafac.errors import MafacError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dir", type=Path)
    ap.add_argument("--episodes", type=int, default=128)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args()
    from mafac.evaluation import evaluate_checkpoint
    from mafac.rundir import CHECKPOINT, RunInfo

    runs = sorted(p for p in (args.bench_dir / "runs").glob("*") if (p / CHECKPOINT).is_file())
    if not runs:
        print(f"error: no run with a checkpoint under {args.bench_dir / 'runs'}", file=sys.stderr)
        return 2
    rows = []
    for run in runs:
        try:
            info = RunInfo.load(run)
            r = evaluate_checkpoint(run, episodes=args.episodes, seed=args.seed)
        except MafacError as e:
            print(f"{run.name}: skipped ({e})", flush=True)
            continue
        rows.append({"run": run.name, "algo": info.algo, "map": info.map, "seed": info.seed, "env_steps": r["env_steps"],
                     "episodes": r["episodes"], "test_win_rate": r["test_win_rate"],
                     "test_timeout_rate": r["test_timeout_rate"], "test_episode_length": r["test_episode_length"]})
        print(f"{run.name}: win {r['test_win_rate']:.3f} (time-outs {r['test_timeout_rate']:.3f}, mean length "
              f"{r['test_episode_length']:.1f}) over {r['episodes']} episodes at {r['env_steps']:,} env steps", flush=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out = args.bench_dir / f"final_eval_{args.episodes}.csv"
    write_text(out, buf.getvalue())
    cells = {}
    for r in rows:
        cells.setdefault((r["map"], r["algo"]), []).append(r["test_win_rate"])
    print(f"\n| map | algo | median final win rate ({args.episodes} greedy episodes per seed) | seeds |")
    print("|---|---|---|---|")
    for (m, a), v in sorted(cells.items()):
        print(f"| {m} | {a} | {statistics.median(v):.3f} | {' / '.join(f'{x:.3f}' for x in v)} |")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
