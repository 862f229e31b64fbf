"""Final win rates that resolve 0.95: many greedy episodes on every run's final checkpoint.

`mafac bench` now does this itself at the end of each run (`--final-episodes`, default 10 x the
per-evaluation episodes) into each run's final_eval.json, which tables and exports use. This script
adds the same final evaluation (the same code and seeds: mafac.evaluation.final_evaluation) to the
runs of a bench that lack it (benches from before, or another --episodes), prints one line per
run and a table of the median (and all seeds) per map and algorithm, and writes
`final_eval_<N>.csv` into the bench directory. A run's stored final evaluation of more episodes
(the bench's own 320) is kept: fewer episodes are played for the CSV, never written over it.

    python benchmarks/final_eval.py results/reference [--episodes 320]
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
    ap.add_argument("--episodes", type=int, default=None, help="default: 10 x env.test_n_envs (320)")
    args = ap.parse_args()
    from mafac.evaluation import final_evaluation
    from mafac.rundir import CHECKPOINT, RunInfo

    runs = sorted(p for p in (args.bench_dir / "runs").glob("*") if (p / CHECKPOINT).is_file())
    if not runs:
        print(f"error: no run with a checkpoint under {args.bench_dir / 'runs'}", file=sys.stderr)
        return 2
    rows = []
    for run in runs:
        try:
            info = RunInfo.load(run)
            r = final_evaluation(run, episodes=args.episodes)
        except MafacError as e:
            print(f"{run.name}: skipped ({e})", flush=True)
            continue
        rows.append({"run": run.name, "algo": info.algo, "map": info.map, "seed": info.seed, "env_steps": r["env_steps"],
                     "episodes": r["episodes"], "test_win_rate": r["test_win_rate"],
                     "test_timeout_rate": r["test_timeout_rate"], "test_episode_length": r["test_episode_length"]})
        print(f"{run.name}: win {r['test_win_rate']:.3f} (time-outs {r['test_timeout_rate']:.3f}, mean length "
              f"{r['test_episode_length']:.1f}) over {r['episodes']} episodes at {r['env_steps']:,} env steps", flush=True)
    if not rows:
        print("error: no run could be evaluated (each is named above)", file=sys.stderr)
        return 2
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    episodes = rows[0]["episodes"] if rows else args.episodes
    out = args.bench_dir / f"final_eval_{episodes}.csv"
    write_text(out, buf.getvalue())
    cells = {}
    for r in rows:
        cells.setdefault((r["map"], r["algo"]), []).append(r["test_win_rate"])
    print(f"\n| map | algo | median final win rate ({episodes} greedy episodes per seed) | seeds |")
    print("|---|---|---|---|")
    for (m, a), v in sorted(cells.items()):
        print(f"| {m} | {a} | {statistics.median(v):.3f} | {' / '.join(f'{x:.3f}' for x in v)} |")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
