"""`mafac plot`: five figures of one metric (default the runs' env metric: test win rate on SMAX,
test return on MPE), each as PNG (to look at) and PDF (for papers).

learning_curves, final_performance, aggregate, probability_of_improvement, performance_profiles.
Every figure colours a label the same way (one palette over the sorted labels), so a reader
learns the colours once. The statistics come from mafac.analysis.stats; this module only draws.
A rate (a metric named *_rate) is drawn on [0, 1], with rliable's optimality gap (distance below 1);
any other metric (a return) on the range its values span, and without an optimality gap, which
needs a score's best value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.analysis.stats import (REPS, aggregate_estimates, aggregate_scores, curve_estimates, improvement_matrix,
                                  performance_profiles, probability_of_improvement, task_estimates)
from mafac.atomic import write_atomic
from mafac.errors import MafacError

METRIC = "test_win_rate"  # the default where runs name none (the smax/sc2/matrix env metric)
FIGURES = ("learning_curves", "final_performance", "aggregate", "probability_of_improvement", "performance_profiles")
GRID_POINTS = 60
TAUS = np.linspace(0.0, 1.0, 51)
AGGREGATE_TITLES = {"median": "Median", "iqm": "IQM", "mean": "Mean", "optimality_gap": "Optimality gap"}
# Up to this many algorithms, probability of improvement is a bar per pair (6 bars for 4); beyond,
# a matrix of P(row > column) (36 bars for 9 algorithms were 3,155 px tall and hard to compare).
POI_BARS_UP_TO = 4

Colours = Dict[str, tuple]


def is_rate(metric: str) -> bool:
    return metric.endswith("_rate")


def _name(metric: str) -> str:
    """How titles name a metric: 'win rate' for the test win rate (as always), else its words."""
    return "win rate" if metric == METRIC else metric.replace("_", " ")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display, works on a headless node
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt


def palette(labels: Sequence[str]) -> Colours:
    """One colour per label, assigned in sorted order, so it is the same in every figure."""
    import seaborn as sns

    labels = sorted(set(labels))
    colours = sns.color_palette("colorblind" if len(labels) <= 10 else "husl", max(len(labels), 1))
    return dict(zip(labels, colours))


def _steps_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos) -> str:
        if abs(v) >= 1e6:
            return f"{v / 1e6:g}M"
        return f"{v / 1e3:g}k" if abs(v) >= 1e3 else f"{v:g}"

    return FuncFormatter(fmt)


def _save(fig, out: Path, name: str) -> List[Path]:
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        write_atomic(path, lambda f, ext=ext: fig.savefig(f, format=ext, dpi=150, bbox_inches="tight"), binary=True)
        paths.append(path)
    return paths


def _legend(fig, colours: Colours, labels: Sequence[str], names: Optional[Dict[str, str]] = None, spare=None) -> None:
    """One legend for the whole figure where it covers no data however many labels there are: in
    `spare`, an unused panel of the grid, if there is one, else outside the axes on the right
    (`_save` crops to include it)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours[lab], lw=3, label=(names or {}).get(lab, lab)) for lab in labels]
    if spare is not None:
        spare.set_visible(True)
        spare.axis("off")
        spare.legend(handles=handles, loc="upper left", frameon=False, fontsize="small")
        return
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.92), frameon=False, fontsize="small")


def _run_curves(runs: List[pd.DataFrame], metric: str = METRIC) -> Tuple[np.ndarray, np.ndarray]:
    """Each run's curve linearly interpolated onto one grid that every run covers (no extrapolation)."""
    lo = max(float(r["env_steps"].iloc[0]) for r in runs)
    hi = min(float(r["env_steps"].iloc[-1]) for r in runs)
    grid = np.linspace(lo, hi, GRID_POINTS) if hi > lo else np.array([hi])
    return grid, np.stack([np.interp(grid, r["env_steps"], r[metric]) for r in runs])


def learning_curves(res: Results, colours: Colours, plt, reps: int, metric: str = METRIC) -> object:
    maps = res.maps
    ncol = 3 if len(maps) in (5, 6, 9) else min(len(maps), 4)  # a spare panel for the legend where it costs none
    nrow = -(-len(maps) // ncol)
    width = 6.0 if ncol == 1 else 4.5  # one map: room for many curves
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol, 3.6 * nrow + 0.6), squeeze=False, sharey=True)
    data = res.data.dropna(subset=[metric]).sort_values("env_steps")
    seeds: Dict[str, set] = {lab: set() for lab in res.labels}  # seed counts per map, for the legend
    for ax, m in zip(axes.flat, maps):
        for lab in res.labels:
            runs = [r for _, r in data[(data["map"] == m) & (data["label"] == lab)].groupby("seed")]
            if not runs:
                continue
            seeds[lab].add(len(runs))
            grid, curves = _run_curves(runs, metric)
            point, low, high = curve_estimates(curves, reps)
            ax.plot(grid, point, color=colours[lab], lw=2, marker="o" if len(grid) == 1 else None)
            ax.fill_between(grid, low, high, color=colours[lab], alpha=0.2, lw=0)
        ax.set_title(m)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(_steps_formatter())
        if is_rate(metric):
            ax.set_ylim(-0.02, 1.02)
    for ax in axes.flat[len(maps):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(f"{metric.replace('_', ' ')}\n(IQM over seeds, 95% CI)")
    fig.suptitle("Learning curves")
    fig.tight_layout()
    counts = {lab: "-".join(str(k) for k in sorted({min(n), max(n)})) for lab, n in seeds.items() if n}
    spare = axes.flat[len(maps)] if len(maps) < axes.size else None
    _legend(fig, colours, list(counts), {lab: f"{lab} (n={k})" for lab, k in counts.items()}, spare)
    return fig


def final_performance(res: Results, colours: Colours, plt, reps: int, metric: str = METRIC) -> object:
    final = res.final(metric)
    est = task_estimates(final, metric, reps).set_index(["map", "label"])
    maps, labels = res.maps, res.labels
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 + 0.4 * len(maps) * len(labels) + 0.6 * len(maps)), 4.2))
    rng = np.random.default_rng(0)  # jitter of the seed dots only
    for i, lab in enumerate(labels):
        offset = (i - (len(labels) - 1) / 2) * width
        for j, m in enumerate(maps):
            if (m, lab) not in est.index:
                continue
            e = est.loc[(m, lab)]
            x = j + offset
            ax.errorbar(x, e["iqm"], yerr=[[e["iqm"] - e["iqm_low"]], [e["iqm_high"] - e["iqm"]]], fmt="o",
                        color=colours[lab], ms=8, capsize=4, lw=2, zorder=3)
            seeds = final[(final["map"] == m) & (final["label"] == lab)][metric].to_numpy()
            ax.scatter(x + rng.uniform(-width / 5, width / 5, len(seeds)), seeds, s=12, color=colours[lab],
                       alpha=0.5, edgecolor="none", zorder=2)
    ax.set_xticks(range(len(maps)))
    ax.set_xticklabels(maps)
    ax.set_xlim(-0.5, len(maps) - 0.5)
    ax.grid(False, axis="x")  # a tick's grid line would run through the middle algorithm's point
    for j in range(1, len(maps)):
        ax.axvline(j - 0.5, color="lightgrey", lw=1)
    ax.set_ylabel(f"final {metric.replace('_', ' ')}")
    if is_rate(metric):
        ax.set_ylim(-0.03, 1.03)
    fig.suptitle("Final performance: IQM over seeds, 95% CI (dots: single seeds)", fontsize="medium")
    fig.tight_layout()
    _legend(fig, colours, labels)
    return fig


def _interval_rows(ax, rows: List[Tuple[str, Tuple[float, float, float]]], colour_of: Callable[[str], tuple]) -> None:
    """rliable's plot_interval_estimates look: a bar spanning the CI, a black tick at the point."""
    for y, (lab, (point, low, high)) in enumerate(rows):
        ax.barh(y, max(high - low, 1e-3), left=low, height=0.6, color=colour_of(lab), alpha=0.75)
        ax.vlines(point, y - 0.3, y + 0.3, color="black", lw=2)
    lows, highs = [r[1][1] for r in rows], [r[1][2] for r in rows]
    pad = max(0.05, 0.1 * (max(highs) - min(lows)))
    ax.set_xlim(min(lows) - pad, max(highs) + pad)
    ax.set_yticks(range(len(rows)))
    ax.set_ylim(len(rows) - 0.4, -0.6)  # the first row on top


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def aggregate(res: Results, colours: Colours, plt, reps: int, metric: str = METRIC) -> object:
    scores, left_out = aggregate_scores(res.final(metric), metric, res.labels, res.maps)
    est = aggregate_estimates(scores, reps)
    labels = sorted(scores)
    fig, axes = plt.subplots(1, 4, figsize=(15, 1.6 + 0.5 * max(len(labels), 1)), sharey=True)
    for ax, (name, title) in zip(axes, AGGREGATE_TITLES.items()):
        if not labels:
            _note(ax, "no algorithm has runs on every map")
            continue
        ax.set_title(title)
        if name == "optimality_gap" and not is_rate(metric):  # the y axis is shared: keep its ticks
            ax.text(0.5, 0.5, f"defined for rates only,\nnot {metric}", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            continue
        _interval_rows(ax, [(lab, est[lab][name]) for lab in labels], colours.get)
        label = metric.replace("_", " ")
        ax.set_xlabel(f"1 - {label}" if name == "optimality_gap" else label)
    if labels:
        axes[0].set_yticklabels(labels)
        for tick, lab in zip(axes[0].get_yticklabels(), labels):
            tick.set_color(colours[lab])
    counts = {lab: scores[lab].shape[0] for lab in labels}
    seeds = (f"{counts[labels[0]]} each" if len(set(counts.values())) == 1
             else ", ".join(f"{lab}: {k}" for lab, k in counts.items()))
    title = (f"Aggregate final {_name(metric)} over {len(res.maps)} map(s), 95% stratified-bootstrap CIs "
             f"(seeds per map: {seeds})")
    if left_out:
        title += f"\nleft out (not on every map): {', '.join(left_out)}"
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


def improvement(res: Results, colours: Colours, plt, reps: int, metric: str = METRIC) -> object:
    """Probability of improvement over maps: a bar per pair up to POI_BARS_UP_TO algorithms, a
    matrix of P(row > column) beyond; both drawn from one `probability_of_improvement` call."""
    scores, _ = aggregate_scores(res.final(metric), metric, res.labels, res.maps)
    probs = probability_of_improvement(scores, reps)
    if len(scores) > POI_BARS_UP_TO:
        return improvement_matrix_figure(probs, plt, metric)
    return improvement_bars(probs, colours, plt, metric)


def improvement_bars(probs, colours: Colours, plt, metric: str = METRIC) -> object:
    pairs = sorted(probs)
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.55 * max(len(pairs), 1)))
    ax.set_title(f"Probability of improvement, final {_name(metric)} (95% CI)")
    if not pairs:
        _note(ax, "fewer than two algorithms with runs on every map: nothing to compare")
        return fig
    _interval_rows(ax, [(x, probs[(x, y)]) for x, y in pairs], colours.get)
    ax.set_xlim(-0.02, 1.02)  # a certain 0 or 1 stays visible at the edge
    ax.set_yticklabels([x for x, _ in pairs])
    right = ax.twinx()
    right.grid(False)
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(pairs)))
    right.set_yticklabels([y for _, y in pairs])
    for tick, (x, _) in zip(ax.get_yticklabels(), pairs):
        tick.set_color(colours[x])
    for tick, (_, y) in zip(right.get_yticklabels(), pairs):
        tick.set_color(colours[y])
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_xlabel("P(left algorithm > right algorithm) over maps")
    fig.tight_layout()
    return fig


def _taus(metric: str, scores: Dict[str, np.ndarray]) -> np.ndarray:
    """Thresholds over [0, 1] for a rate, over the scores' own span for any other metric."""
    values = np.concatenate([s.ravel() for s in scores.values()]) if scores else np.zeros(1)
    if is_rate(metric):
        return TAUS
    lo, hi = float(values.min()), float(values.max())
    pad = max(1e-6, 0.02 * (hi - lo))
    return np.linspace(lo - pad, hi + pad, len(TAUS))


def improvement_matrix_figure(probs, plt, metric: str = METRIC) -> object:
    """Cell (row, column): P(row > column) and its 95% CI, blue where the row is likely better,
    red where worse, in bold where the CI excludes 0.5; the best-ranked algorithm first."""
    labels, point, low, high = improvement_matrix(probs)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(2.2 + 1.05 * n, 1.6 + 0.8 * n))
    ax.grid(False)
    image = ax.imshow(point, cmap="RdBu", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if i == j:
                ax.text(j, i, "-", ha="center", va="center", color="grey")
                continue
            p, lo, hi = point[i, j], low[i, j], high[i, j]
            clear = lo > 0.5 or hi < 0.5
            ax.text(j, i, f"{p:.2f}\n[{lo:.2f}, {hi:.2f}]", ha="center", va="center", fontsize="x-small",
                    fontweight="bold" if clear else "normal", color="white" if abs(p - 0.5) > 0.3 else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=35, ha="right")  # black: a palette's yellow is unreadable as text
    ax.set_yticklabels(labels)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("P(row > column)")
    ax.set_title(f"Probability of improvement over maps, final {_name(metric)}: P(row > column) [95% CI]\n"
                 "(bold: the CI excludes 0.5; rows and columns by mean P(row > others))", fontsize="medium")
    fig.tight_layout()
    return fig


def profiles(res: Results, colours: Colours, plt, reps: int, metric: str = METRIC) -> object:
    scores, _ = aggregate_scores(res.final(metric), metric, res.labels, res.maps)
    taus = _taus(metric, scores)
    prof = performance_profiles(scores, taus, reps)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for lab in sorted(prof):
        point, low, high = prof[lab]
        ax.plot(taus, point, color=colours[lab], lw=2)
        ax.fill_between(taus, low, high, color=colours[lab], alpha=0.2, lw=0)
    ax.set_xlabel(f"final {metric.replace('_', ' ')} τ")
    ax.set_ylabel(f"fraction of runs with {_name(metric)} > τ")
    ax.set_xlim(taus[0], taus[-1])
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Performance profiles over all maps (95% CI)")
    fig.tight_layout()
    if prof:
        _legend(fig, colours, sorted(prof), {lab: f"{lab} ({scores[lab].size} runs)" for lab in prof})
    else:
        _note(ax, "no algorithm has runs on every map")
    return fig


DRAWERS = dict(zip(FIGURES, (learning_curves, final_performance, aggregate, improvement, profiles)))


def write_plots(paths: Sequence[str | Path], out_dir: Optional[str | Path] = None, reps: int = REPS,
                metric: Optional[str] = None) -> List[Path]:
    """Draw every figure of `metric` (default the runs' env metric, `Results.default_metric`) from
    the results under `paths` into `out_dir` (default, for one RESULTS path: <RESULTS>/plots/;
    several need `out_dir`, since a bench's plots/ are its own)."""
    if out_dir is None and len(paths) > 1:
        raise MafacError(f"{len(paths)} RESULTS paths: say where their plots go with --out DIR "
                         f"(the default, <RESULTS>/plots/, is one bench's own)")
    res = load_results(paths)
    metric = metric or res.default_metric()
    res.require(metric)
    first = Path(paths[0])
    out = Path(out_dir) if out_dir else (first if first.is_dir() else first.parent) / "plots"
    plt = _pyplot()
    colours = palette(res.labels)
    written: List[Path] = []
    for name, draw in DRAWERS.items():
        fig = draw(res, colours, plt, reps, metric)
        try:
            written += _save(fig, out, name)
        finally:
            plt.close(fig)
    return written
