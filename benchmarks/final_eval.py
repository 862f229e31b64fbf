"""Final win rates that resolve 0.95: many greedy episodes on every run's final checkpoint.

`mafac bench` now does this itself at the end of each run (`--final-episodes`, default 10 x the
per-evaluation episodes) into each run's final_eval.json, which tables and exports use. This script
adds the same final evaluation (the same code and seeds: mafac.evaluation.final_evaluation) to the
runs of a bench that lack it (benches from before, or another --episodes), prints one line per
run and a table of the median (and all seeds) per map and algorithm, and writes
`final_eval_<N>.csv` into the bench directory. A run's stored final evaluation of more episodes
(the bench's own 320) is kept: fewer episodes are read off it (the same seeded rounds, so the first
128 of 320 are the 128), or played where the stored file predates per-episode lengths; never written
over it.

A bench finished over two sessions on two machines is the case this serves: runs committed without
checkpoints are answered from their stored final evaluation, unfinished runs are skipped (named),
and a run that can be neither played nor read off keeps its row from an earlier final_eval_<N>.csv,
so the CSV grows with the bench instead of losing what was evaluated before.

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
    from mafac.rundir import RUN_JSON, STATUS_DONE, RunInfo

    runs = sorted(p for p in (args.bench_dir / "runs").glob("*") if (p / RUN_JSON).is_file())
    if not runs:
        print(f"error: no run under {args.bench_dir / 'runs'}", file=sys.stderr)
        return 2
    earlier = _earlier_rows(args.bench_dir)
    rows = []
    for run in runs:
        try:
            info = RunInfo.load(run)
            if info.status != STATUS_DONE or info.env_steps < info.t_max:
                print(f"{run.name}: skipped (not finished: {info.status}, {info.env_steps:,} of {info.t_max:,} env steps)")
                continue
            r = final_evaluation(run, episodes=args.episodes)
        except MafacError as e:
            kept = [row for row in earlier.get(run.name, []) if int(row["env_steps"]) == info.env_steps
                    and (args.episodes is None or int(row["episodes"]) == args.episodes)]
            if kept:
                rows.append(kept[0])
                print(f"{run.name}: kept from {kept[0].pop('_file')} (cannot be evaluated here: {e})", flush=True)
            else:
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
    sizes = sorted({int(r["episodes"]) for r in rows})
    if len(sizes) > 1:
        print(f"error: the runs' final evaluations are of {sizes} episodes; pass --episodes to have one size", file=sys.stderr)
        return 2
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    episodes = sizes[0]
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


FIELDS = ["run", "algo", "map", "seed", "env_steps", "episodes", "test_win_rate", "test_timeout_rate",
          "test_episode_length"]
TYPES = {"seed": int, "env_steps": int, "episodes": int, "test_win_rate": float, "test_timeout_rate": float,
         "test_episode_length": float}


def _earlier_rows(bench_dir: Path) -> dict:
    """Rows of earlier final_eval_<N>.csv files by run name (each row tagged with its file), so that a
    run evaluated before, on a machine that had its checkpoint, keeps its figure."""
    rows: dict = {}
    for path in sorted(bench_dir.glob("final_eval_*.csv")):
        try:
            with path.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    if set(FIELDS) <= set(row):
                        typed = {k: TYPES.get(k, str)(row[k]) for k in FIELDS}
                        rows.setdefault(row["run"], []).append({**typed, "_file": path.name})
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as e:
            print(f"warning: {path} unreadable ({type(e).__name__}: {e}); its rows are not kept", file=sys.stderr)
    return rows


if __name__ == "__main__":
    sys.exit(main())
