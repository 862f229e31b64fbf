"""Does a new results directory agree with the reference results, within statistical tolerance?

For every (map, algorithm) present in both, the 95% stratified-bootstrap CIs of the final test
win rate's median (the same numbers `mafac table` prints) must overlap. Overlapping CIs is a
deliberately lenient test: with 3 seeds the CIs are wide, so a DIFF here is a real change in the
learner's behaviour, not seed noise. Prints one line per cell and exits 1 if any cell disagrees
(or none could be compared), so it can gate a change to the learner; bad input exits 2.

    python benchmarks/check_reference.py results/<new> [--reference results/reference] [--at STEPS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mafac.analysis.load import load_results, source_names
from mafac.analysis.table import ALL_MAPS, table_frame
from mafac.errors import MafacError


def compare(new: Path, ref: Path, at: int | None = None) -> int:
    """Print the per-cell verdicts; returns the number of cells outside tolerance (-1: none shared)."""
    res = load_results([ref, new], by_source=True)  # every cell's two sources apart, even with no overlap
    ref_name, new_name = source_names([ref, new])
    # The loader knows each label's algo and source; parsing them back out of "algo (source)"
    # would break on a source path that itself contains " (".
    who = res.data[["label", "algo", "source"]].drop_duplicates()
    frame = table_frame(res, at=at).merge(who, on="label")
    frame = frame[frame["map"] != ALL_MAPS]
    bad = compared = 0
    for (m, algo), cell in frame.groupby(["map", "algo"]):
        rows = {r["source"]: r for _, r in cell.iterrows()}
        if ref_name not in rows or new_name not in rows:
            continue
        r, n = rows[ref_name], rows[new_name]
        ok = r["median_low"] <= n["median_high"] and n["median_low"] <= r["median_high"]
        compared += 1
        bad += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {m:<10} {algo:<8} reference {r['median']:.2f} [{r['median_low']:.2f}, "
              f"{r['median_high']:.2f}] n={int(r['n'])}   new {n['median']:.2f} [{n['median_low']:.2f}, "
              f"{n['median_high']:.2f}] n={int(n['n'])}")
    return bad if compared else -1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--reference", default="results/reference")
    p.add_argument("--at", type=int, default=None, help="compare at this many env steps (default: final)")
    a = p.parse_args()
    try:
        bad = compare(Path(a.results), Path(a.reference), a.at)
    except MafacError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if bad < 0:
        print(f"no (map, algorithm) cell is in both {a.reference} and {a.results}: nothing compared")
        return 1
    print(f"{bad} cell(s) outside tolerance" if bad else "all cells within tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
