"""Reliable statistics over seeds, through rliable (Agarwal et al. 2021): IQM, median, mean,
optimality gap with stratified-bootstrap CIs, probability of improvement, performance profiles.

rliable takes {label: scores[n_runs, n_tasks]}. Per map that is one task over seeds (a plain
bootstrap over seeds). Across maps, labels may have different seed counts per map; the aggregate
uses the first k seeds of every map, k = the smallest count, so every map weighs the same.
Bootstraps are seeded, so the same results give the same numbers.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

REPS = 2000
SEED = 0


def _rly():
    import warnings

    # rliable 1.2 still passes `random_state` to arch, which warns on every call
    warnings.filterwarnings("ignore", category=FutureWarning, module="arch")
    from rliable import library as rly, metrics

    return rly, metrics


def score_matrix(final: pd.DataFrame, metric: str, label: str, maps: List[str]) -> Optional[np.ndarray]:
    cols = []
    for m in maps:
        vals = final[(final["label"] == label) & (final["map"] == m)].sort_values("seed")[metric].to_numpy(float)
        if len(vals) == 0:
            return None
        cols.append(vals)
    k = min(len(c) for c in cols)
    return np.stack([c[:k] for c in cols], axis=1)


def scores_by_label(final: pd.DataFrame, metric: str, labels: List[str], maps: List[str]) -> Dict[str, np.ndarray]:
    """{label: scores[n_seeds, n_maps]} for every label that has runs on all of `maps`."""
    out = {}
    for label in labels:
        scores = score_matrix(final, metric, label, maps)
        if scores is not None:
            out[label] = scores
    return out


def interval_estimates(scores: Dict[str, np.ndarray], funcs: Dict[str, callable]) -> Dict[str, Dict[str, Tuple[float, float, float]]]:
    """{label: {stat: (point, low, high)}}."""
    rly, _ = _rly()
    out: Dict[str, Dict[str, Tuple[float, float, float]]] = {k: {} for k in scores}
    for name, f in funcs.items():
        agg = lambda x, f=f: np.array([f(x)])  # noqa: E731
        points, cis = rly.get_interval_estimates(scores, agg, reps=REPS, random_state=np.random.RandomState(SEED))
        for k in scores:
            out[k][name] = (float(points[k][0]), float(cis[k][0][0]), float(cis[k][1][0]))
    return out


def standard_funcs() -> Dict[str, callable]:
    _, metrics = _rly()
    return {"median": metrics.aggregate_median, "iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean,
            "optimality_gap": metrics.aggregate_optimality_gap}


def probability_of_improvement(scores: Dict[str, np.ndarray]) -> Dict[Tuple[str, str], Tuple[float, float, float]]:
    rly, metrics = _rly()
    pairs = {}
    labels = sorted(scores)
    for i, x in enumerate(labels):
        for y in labels[i + 1:]:
            key = f"{x},{y}"
            pairs[key] = [scores[x], scores[y]]
    if not pairs:
        return {}
    points, cis = rly.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=REPS,
                                             random_state=np.random.RandomState(SEED))
    out = {}
    for k in pairs:
        lo, hi = np.ravel(cis[k])[:2]
        out[tuple(k.split(","))] = (float(np.ravel(points[k])[0]), float(lo), float(hi))
    return out


def performance_profiles(scores: Dict[str, np.ndarray], taus: np.ndarray):
    rly, _ = _rly()
    np.random.seed(SEED)
    return rly.create_performance_profile(scores, taus, reps=REPS)


def steps_to(run_curve: pd.DataFrame, metric: str, threshold: float) -> Optional[float]:
    hit = run_curve[run_curve[metric] >= threshold]
    return float(hit["env_steps"].min()) if len(hit) else None
