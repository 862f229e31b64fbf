"""Two benches compared at equal wall time, cell by cell (algo x map), medians over seeds.

The question a CPU user asks of a learner is what it buys per minute, not per env step. For each
(algo, map) present in both benches, W = the median over the first bench's seeds of its runs'
final wall_s (the reference budget). Per bench it prints, medians over seeds:
  - window: the mean test win rate of the evaluations whose wall_s lies in [W - 60 s, W]
    (about 20 x 32 greedy episodes for a run evaluated every 10k env steps); a run that ended
    before W is read over its own last 60 s (it had less time, which counts against it);
  - final: the final checkpoint's win rate over the first 128 of its stored final episodes,
    with the median wall_s at which that final was taken (equal to W only if the runs were sized so);
  - time to 0.8 / 0.9 / 0.95: wall seconds until the mean of 3 consecutive evaluations first
    reaches it (n/r: not reached; the count says how many seeds reached it).

    python benchmarks/equal_wall.py results/reference_replay results/online_3m results/online_8m [--half 60]
The first path is the reference; the others are pooled as the challenger.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import median

import pandas as pd

from mafac.rundir import METRICS_CSV, RUNS_DIR

FINAL_EPISODES = 128
TARGETS = (0.8, 0.9, 0.95)


def runs(paths):
    """{(algo, map): [(frame, final win rate over 128 or None), ...]} over the bench dirs."""
    out = {}
    for path in paths:
        for run in sorted((Path(path) / RUNS_DIR).iterdir()):
            try:
                frame = pd.read_csv(run / METRICS_CSV)
            except (OSError, ValueError):
                continue
            algo, map_name, _ = run.name.split("__")
            final = None
            try:
                won = json.loads((run / "final_eval.json").read_text())["won"][:FINAL_EPISODES]
                final = sum(won) / len(won) if len(won) == FINAL_EPISODES else None
            except (OSError, ValueError, KeyError):
                pass
            out.setdefault((algo, map_name), []).append((frame, final))
    return out


def time_to(frame: pd.DataFrame, target: float, k: int = 3):
    rolled = frame["test_win_rate"].rolling(k).mean()
    hit = frame.loc[rolled >= target, "wall_s"]
    return float(hit.iloc[0]) if len(hit) else None


def window(frame: pd.DataFrame, lo: float, hi: float) -> float:
    near = frame[(frame["wall_s"] >= lo) & (frame["wall_s"] <= hi)]["test_win_rate"].dropna()
    return float(near.mean()) if len(near) else float("nan")


def med(xs):
    xs = [x for x in xs if x is not None and x == x]
    return median(xs) if xs else float("nan")


def describe(cell, wall: float, half: float) -> str:
    # a run that ended before W is read over its own last `half` seconds: it had less time, not more
    ends = [min(wall, float(f["wall_s"].iloc[-1])) for f, _ in cell]
    wins = [window(f, end - half, end) for (f, _), end in zip(cell, ends)]
    finals = [fin for _, fin in cell if fin is not None]
    walls = [float(f["wall_s"].iloc[-1]) for f, _ in cell]
    steps = [int(f["env_steps"].iloc[-1]) for f, _ in cell]
    parts = [f"{med(wins):.3f} ({' / '.join(f'{w:.2f}' for w in wins)})",
             f"{med(finals):.3f} at {med(walls):.0f} s, {med(steps) / 1e6:.2f}M steps" if finals else "n/a"]
    for t in TARGETS:
        hits = [time_to(f, t) for f, _ in cell]
        reached = [h for h in hits if h is not None]
        parts.append(f"{med(reached):.0f} s ({len(reached)}/{len(hits)})" if reached else f"n/r (0/{len(hits)})")
    return " | ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("challengers", type=Path, nargs="+")
    ap.add_argument("--half", type=float, default=60.0, help="seconds before W that the window covers")
    args = ap.parse_args()
    ref, new = runs([args.reference]), runs(args.challengers)
    print(f"reference: {args.reference}; challenger: {', '.join(map(str, args.challengers))}")
    print("| algo | map | bench | W (s) | window win rate, median (seeds) | final 128 ep. | to 0.8 | to 0.9 | to 0.95 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(set(ref) & set(new)):
        wall = med([float(f["wall_s"].iloc[-1]) for f, _ in ref[key]])
        for label, cell in (("reference", ref[key]), ("challenger", new[key])):
            print(f"| {key[0]} | {key[1]} | {label} | {wall:.0f} | {describe(cell, wall, args.half)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
