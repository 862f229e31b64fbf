"""Does a new results directory agree with the reference results, within statistical tolerance?

For every (map, algorithm) present in both, the 95% stratified-bootstrap CIs of the final test
win rate's median (the same numbers `mafac table` prints) must overlap. Prints one line per cell
and exits 1 if any cell disagrees, so it can gate a change to the learner.

    python benchmarks/check_reference.py results/<new> [--reference results/reference] [--at STEPS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mafac.analysis.load import load_results
from mafac.analysis.table import table_frame


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--reference", default="results/reference")
    p.add_argument("--at", type=int, default=None, help="compare at this many env steps (default: final)")
    a = p.parse_args()
    new, ref = Path(a.results), Path(a.reference)
    frame = table_frame(load_results([ref, new]), at=a.at)
    frame = frame[frame["map"] != "all maps"]
    frame["algo"] = frame["label"].str.rsplit(" (", n=1).str[0]
    frame["source"] = frame["label"].str.rsplit(" (", n=1).str[1].str.rstrip(")")
    bad = 0
    for (m, algo), cell in frame.groupby(["map", "algo"]):
        rows = {r["source"]: r for _, r in cell.iterrows()}
        if len(rows) < 2:
            continue
        r, n = rows[ref.resolve().name], rows[new.resolve().name]
        ok = r["median_low"] <= n["median_high"] and n["median_low"] <= r["median_high"]
        bad += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {m:<10} {algo:<8} reference {r['median']:.2f} [{r['median_low']:.2f}, "
              f"{r['median_high']:.2f}] n={int(r['n'])}   new {n['median']:.2f} [{n['median_low']:.2f}, "
              f"{n['median_high']:.2f}] n={int(n['n'])}")
    print(f"{bad} cell(s) outside tolerance" if bad else "all cells within tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
