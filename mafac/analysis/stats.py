"""Reliable statistics over seeds through rliable (Agarwal et al., 2021): IQM, median, mean and
optimality gap with 95% stratified-bootstrap CIs, probability of improvement, performance profiles.

A handful of seeds is all an RL bench can afford, so point estimates alone would mislead; these
are the estimators that stay honest at n=3..10.

rliable takes {label: scores[n_runs, n_tasks]}, one rectangular matrix per label. How unequal
seed counts are handled:
  * per map (table cells, final-performance figure, learning curves): one task, every seed of
    that (label, map) is used; rliable's stratified bootstrap over a single task is a plain
    bootstrap over seeds. With n=1 every resample is the same run, so the CI collapses to the point.
  * across maps (aggregate row and figure, probability of improvement, performance profiles): a
    label's matrix keeps the first k seeds (in seed order) of every map, k = its smallest seed
    count over the maps, so every map weighs the same. A label missing a map is left out of the
    aggregates (`aggregate_scores` says which).

rliable resamples with numpy's global RNG (it ignores its `random_state` argument), so each
bootstrap runs under `seeded()`, which sets a fixed seed and restores the caller's RNG state:
the same results always give the same numbers.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from mafac.analysis import REPS

SEED = 0
AGGREGATES = ("median", "iqm", "mean", "optimality_gap")

Interval = Tuple[float, float, float]  # point, low, high


@contextlib.contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # arch deprecations raised through rliable
            yield
    finally:
        np.random.set_state(state)


def _rly():
    from rliable import library as rly, metrics

    return rly, metrics


def _estimate(scores: Dict[object, object], func: Callable, reps: int) -> Dict[object, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{key: (points, lows, highs)}, each an array over the outputs of `func`."""
    rly, _ = _rly()
    out = {}
    for key, s in scores.items():  # one key at a time so that adding a label never moves another's CI
        with seeded():
            points, cis = rly.get_interval_estimates({key: s}, func, reps=reps)
        p = np.atleast_1d(np.asarray(points[key], dtype=float))
        ci = np.asarray(cis[key], dtype=float).reshape(2, -1)
        out[key] = (p, ci[0], ci[1])
    return out


def iqm(x: np.ndarray) -> float:
    """rliable's aggregate_iqm (scipy's trim_mean(x, 0.25) over every score) without scipy's
    per-call argument handling: the bootstrap calls it 2000 times per cell, and there that handling
    was three quarters of a bench's table time. tests/test_analysis.py holds the two equal."""
    a = np.sort(np.asarray(x, dtype=float), axis=None)
    cut = int(0.25 * a.size)
    return float(a[cut:a.size - cut].mean())


def iqm_over_runs(x: np.ndarray) -> np.ndarray:
    """IQM over runs (axis 0) of every remaining position; rliable's aggregate_iqm, column-wise."""
    return sps.trim_mean(x.reshape(x.shape[0], -1), 0.25, axis=0)


def task_estimates(final: pd.DataFrame, metric: str, reps: int = REPS) -> pd.DataFrame:
    """Median and IQM over seeds, with CIs, for every (map, label): one row each.

    The median is taken over seeds directly: rliable's aggregate_median is the median of per-task
    means, which for a single task would be the mean.
    """

    def median_and_iqm(x: np.ndarray) -> np.ndarray:
        return np.array([np.median(x), iqm(x)])

    groups = {(m, lab): g[metric].to_numpy(float)[:, None]
              for (m, lab), g in final.sort_values("seed").groupby(["map", "label"])}
    est = _estimate(groups, median_and_iqm, reps)
    rows = []
    for (m, lab), s in groups.items():
        p, lo, hi = est[(m, lab)]
        rows.append({"map": m, "label": lab, "n": len(s), "median": p[0], "median_low": lo[0],
                     "median_high": hi[0], "iqm": p[1], "iqm_low": lo[1], "iqm_high": hi[1]})
    return pd.DataFrame(rows)


def aggregate_scores(final: pd.DataFrame, metric: str, labels: List[str],
                     maps: List[str]) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """({label: scores[k seeds, n maps]}, labels left out because they miss a map); see module doc."""
    scores, left_out = {}, []
    for lab in labels:
        cols = [final[(final["label"] == lab) & (final["map"] == m)].sort_values("seed")[metric].to_numpy(float)
                for m in maps]
        if any(len(c) == 0 for c in cols):
            left_out.append(lab)
            continue
        k = min(len(c) for c in cols)
        scores[lab] = np.stack([c[:k] for c in cols], axis=1)
    return scores, left_out


def aggregate_estimates(scores: Dict[str, np.ndarray], reps: int = REPS) -> Dict[str, Dict[str, Interval]]:
    """{label: {median|iqm|mean|optimality_gap: (point, low, high)}} over maps, rliable's definitions."""
    _, metrics = _rly()

    def all_four(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_median(x), iqm(x), metrics.aggregate_mean(x),
                         metrics.aggregate_optimality_gap(x)])

    est = _estimate(scores, all_four, reps)
    return {lab: {name: (float(p[i]), float(lo[i]), float(hi[i])) for i, name in enumerate(AGGREGATES)}
            for lab, (p, lo, hi) in est.items()}


def probability_of_improvement(scores: Dict[str, np.ndarray], reps: int = REPS) -> Dict[Tuple[str, str], Interval]:
    """P(X > Y) for every unordered pair X < Y of labels (P(Y > X) = 1 - P(X > Y)).

    The two score matrices are resampled independently, so their seed counts may differ.
    """
    _, metrics = _rly()
    labels = sorted(scores)
    pairs = {(x, y): [scores[x], scores[y]] for i, x in enumerate(labels) for y in labels[i + 1:]}
    est = _estimate(pairs, metrics.probability_of_improvement, reps)
    return {pair: (float(p[0]), float(lo[0]), float(hi[0])) for pair, (p, lo, hi) in est.items()}


def improvement_matrix(probs: Dict[Tuple[str, str], Interval]) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
    """P(row > column) with its CI for every ordered pair of labels, read off
    `probability_of_improvement`'s unordered pairs (P(y > x) = 1 - P(x > y), the CI mirrored), so
    the matrix and the bar chart show the same numbers. Rows and columns in the same order: the
    highest mean P(row > other) first; NaN on the diagonal. Returns (labels, point, low, high)."""
    labels = sorted({lab for pair in probs for lab in pair})
    n = len(labels)
    at = {lab: i for i, lab in enumerate(labels)}
    point, low, high = (np.full((n, n), np.nan) for _ in range(3))
    for (x, y), (p, lo, hi) in probs.items():
        i, j = at[x], at[y]
        point[i, j], low[i, j], high[i, j] = p, lo, hi
        point[j, i], low[j, i], high[j, i] = 1.0 - p, 1.0 - hi, 1.0 - lo
    if n > 1:
        order = sorted(range(n), key=lambda i: (-np.nanmean(point[i]), labels[i]))
        labels = [labels[i] for i in order]
        point, low, high = (m[np.ix_(order, order)] for m in (point, low, high))
    return labels, point, low, high


def performance_profiles(scores: Dict[str, np.ndarray], taus: np.ndarray,
                         reps: int = REPS) -> Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{label: (fraction of runs scoring above each tau, low, high)}."""
    rly, _ = _rly()
    out = {}
    for lab, s in scores.items():
        with seeded():
            prof, cis = rly.create_performance_profile({lab: s}, taus, reps=reps)
        out[lab] = (np.asarray(prof[lab]), np.asarray(cis[lab][0]), np.asarray(cis[lab][1]))
    return out


def curve_estimates(curves: np.ndarray, reps: int = REPS) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over runs at every step of `curves[n_runs, n_steps]`, with a stratified-bootstrap band."""
    (p, lo, hi), = _estimate({"curve": curves[:, None, :]}, iqm_over_runs, reps).values()
    return p, lo, hi


def first_reach(steps: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """Env steps of the first evaluation at or above `threshold`; inf if it never got there."""
    hit = np.nonzero(np.asarray(values) >= threshold)[0]
    return float(np.asarray(steps)[hit[0]]) if len(hit) else float("inf")


def median_steps_to(reaches: List[float]) -> Optional[float]:
    """Median over seeds, a seed that never reached counting as infinitely slow: None if the
    median seed never reached (so "80% @ 120k" means at least half the seeds got there by 120k)."""
    if not reaches:
        return None
    m = float(np.median(np.asarray(reaches, dtype=float)))
    return m if np.isfinite(m) else None
