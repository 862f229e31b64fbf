"""Learning on SMAX: trains QMIX and VDN on 3m and 8m and prints test win rate against env steps.

Each run goes through `mafac.train.train_run`, exactly as `mafac train` does, into
results/learning_smax/<preset>/<algo>__<map>__s<seed>/ (an interrupted benchmark resumes).
The issue's target: QMIX and VDN reach >= 95% test win rate on 3m within 1M env steps with the
default config.

    python benchmarks/learning_smax.py [--algos qmix,vdn] [--maps 3m,8m] [--steps 1000000]
                                       [--seeds 0] [--preset pymarl] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mafac.config import build_config
from mafac.rundir import run_name
from mafac.train import train_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", default="qmix,vdn")
    p.add_argument("--maps", default="3m,8m")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seeds", default="0")
    p.add_argument("--preset", default="pymarl")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", default="results/learning_smax")
    a = p.parse_args()
    summary = []
    for map_name in a.maps.split(","):
        for algo in a.algos.split(","):
            for seed in [int(s) for s in a.seeds.split(",")]:
                cfg = build_config(algo=algo, map_name=map_name, seed=seed, preset=a.preset,
                                   overrides=[f"run.t_max={a.steps}"] + a.overrides)
                run_dir = Path(a.out) / a.preset / run_name(algo, map_name, seed)
                start = time.time()
                rows = train_run(cfg, run_dir)
                wall = rows[-1]["wall_s"]
                print(f"\n{algo} on {map_name}, seed {seed} ({a.preset}): {run_dir}")
                print(f"{'env steps':>10} {'test win':>9} {'return':>7} {'epsilon':>7} {'wall s':>7}")
                for r in rows:
                    print(f"{r['env_steps']:>10,} {r['test_win_rate']:>9.3f} {r['test_return']:>7.2f} {r['epsilon']:>7.3f} {r['wall_s']:>7.0f}")
                first95 = next((r["env_steps"] for r in rows if r["test_win_rate"] >= 0.95), None)
                summary.append((algo, map_name, seed, rows[-1]["test_win_rate"], max(r["test_win_rate"] for r in rows),
                                first95, wall, time.time() - start))
    print("\nsummary")
    print(f"{'algo':<6} {'map':<5} {'seed':>4} {'final win':>9} {'best win':>8} {'first >=95%':>12} {'wall s':>7}")
    for algo, m, seed, final, best, first, wall, _ in summary:
        print(f"{algo:<6} {m:<5} {seed:>4} {final:>9.3f} {best:>8.3f} {first if first is not None else 'never':>12} {wall:>7.0f}")


if __name__ == "__main__":
    main()
