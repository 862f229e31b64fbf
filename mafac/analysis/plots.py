"""`mafac plot`: the five figures, PNG and PDF, one colour per algorithm throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.analysis.stats import (interval_estimates, performance_profiles, probability_of_improvement,
                                  score_matrix, scores_by_label, standard_funcs)

METRIC = "test_win_rate"


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def palette(labels: Sequence[str]) -> Dict[str, tuple]:
    import seaborn as sns

    labels = sorted(labels)
    return dict(zip(labels, sns.color_palette("colorblind", max(len(labels), 3))))


def _save(fig, out: Path, name: str) -> List[Path]:
    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{name}.{ext}"
        tmp = p.with_name(f".{p.name}.tmp.{ext}")
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        tmp.replace(p)
        paths.append(p)
    return paths


def _iqm(x: np.ndarray) -> float:
    from scipy import stats

    return float(stats.trim_mean(x, 0.25)) if len(x) else float("nan")


def _interval(ax, y: float, estimate, colour) -> None:
    """A horizontal CI bar with a tick at the point estimate."""
    point, low, high = estimate
    ax.barh(y, high - low, left=low, height=0.6, color=colour, alpha=0.7)
    ax.vlines(point, y - 0.3, y + 0.3, color="black")


def learning_curves(res: Results, colours, plt, out: Path) -> List[Path]:
    maps = res.maps
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4), squeeze=False, sharey=True)
    rng = np.random.RandomState(0)
    for ax, m in zip(axes[0], maps):
        sub = res.data[res.data["map"] == m]
        for lab in res.labels:
            runs = [r.sort_values("env_steps") for _, r in sub[sub["label"] == lab].groupby("seed")]
            if not runs:
                continue
            grid = np.linspace(0, min(r["env_steps"].max() for r in runs), 50)
            curves = np.stack([np.interp(grid, r["env_steps"], r[METRIC]) for r in runs])
            point = np.array([_iqm(c) for c in curves.T])
            boots = np.stack([[_iqm(c[rng.randint(len(c), size=len(c))]) for c in curves.T] for _ in range(200)])
            lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
            ax.plot(grid, point, color=colours[lab], label=f"{lab} (n={len(runs)})")
            ax.fill_between(grid, lo, hi, color=colours[lab], alpha=0.2)
        ax.set_title(m)
        ax.set_xlabel("env steps")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("test win rate (IQM, 95% CI)")
    axes[0][-1].legend(loc="lower right", fontsize="small")
    fig.suptitle("Learning curves")
    paths = _save(fig, out, "learning_curves")
    plt.close(fig)
    return paths


def final_performance(res: Results, colours, plt, out: Path) -> List[Path]:
    final = res.final(METRIC)
    funcs = {"iqm": standard_funcs()["iqm"]}
    fig, ax = plt.subplots(figsize=(1.5 + 1.6 * len(res.maps) * max(1, len(res.labels)) / 2, 4))
    width = 0.8 / max(1, len(res.labels))
    for i, lab in enumerate(res.labels):
        xs, ys, lo, hi = [], [], [], []
        for j, m in enumerate(res.maps):
            s = score_matrix(final, METRIC, lab, [m])
            if s is None:
                continue
            e = interval_estimates({lab: s}, funcs)[lab]["iqm"]
            xs.append(j + (i - (len(res.labels) - 1) / 2) * width)
            ys.append(e[0]), lo.append(e[0] - e[1]), hi.append(e[2] - e[0])
        ax.bar(xs, ys, width=width, color=colours[lab], label=lab, yerr=[lo, hi], capsize=3)
    ax.set_xticks(range(len(res.maps)), res.maps)
    ax.set_ylabel("final test win rate (IQM, 95% CI)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    ax.set_title("Final performance per map")
    paths = _save(fig, out, "final_performance")
    plt.close(fig)
    return paths


def aggregate(res: Results, colours, plt, out: Path) -> List[Path]:
    scores = scores_by_label(res.final(METRIC), METRIC, res.labels, res.maps)
    est = interval_estimates(scores, standard_funcs())
    names = ["median", "iqm", "mean", "optimality_gap"]
    fig, axes = plt.subplots(1, 4, figsize=(14, 0.6 + 0.5 * len(scores)), sharey=True)
    for ax, name in zip(axes, names):
        for y, lab in enumerate(sorted(scores)):
            _interval(ax, y, est[lab][name], colours[lab])
        ax.set_title(name.replace("_", " ").replace("iqm", "IQM"))
        ax.set_xlabel("test win rate")
    axes[0].set_yticks(range(len(scores)), sorted(scores))
    fig.suptitle(f"Aggregate over maps ({', '.join(res.maps)}), 95% stratified-bootstrap CIs", y=1.05)
    paths = _save(fig, out, "aggregate")
    plt.close(fig)
    return paths


def improvement(res: Results, colours, plt, out: Path) -> List[Path]:
    scores = scores_by_label(res.final(METRIC), METRIC, res.labels, res.maps)
    probs = probability_of_improvement(scores)
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.5 * max(1, len(probs))))
    for y, ((x, _), estimate) in enumerate(sorted(probs.items())):
        _interval(ax, y, estimate, colours[x])
    ax.set_yticks(range(len(probs)), [f"P({x} > {z})" for (x, z) in sorted(probs)])
    ax.axvline(0.5, color="grey", linestyle="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of improvement (95% CI)")
    ax.set_title("Probability of improvement")
    paths = _save(fig, out, "probability_of_improvement")
    plt.close(fig)
    return paths


def profiles(res: Results, colours, plt, out: Path) -> List[Path]:
    scores = scores_by_label(res.final(METRIC), METRIC, res.labels, res.maps)
    taus = np.linspace(0.0, 1.0, 51)
    prof, cis = performance_profiles(scores, taus)
    fig, ax = plt.subplots(figsize=(6, 4))
    for lab in sorted(scores):
        ax.plot(taus, prof[lab], color=colours[lab], label=lab)
        ax.fill_between(taus, cis[lab][0], cis[lab][1], color=colours[lab], alpha=0.2)
    ax.set_xlabel("final test win rate τ")
    ax.set_ylabel("fraction of runs with win rate > τ")
    ax.set_title("Performance profiles")
    ax.legend(fontsize="small")
    paths = _save(fig, out, "performance_profiles")
    plt.close(fig)
    return paths


def write_plots(paths: Sequence[str | Path], out_dir: Optional[str | Path] = None) -> List[Path]:
    res = load_results(paths)
    res.require(METRIC)
    out = Path(out_dir) if out_dir else Path(paths[0]) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    plt, _ = _setup()
    colours = palette(res.labels)
    written: List[Path] = []
    for fig in (learning_curves, final_performance, aggregate, improvement, profiles):
        written += fig(res, colours, plt, out)
    return written
