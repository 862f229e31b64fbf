"""`mafac export --format marl-eval`: the JSON layout InstaDeep's marl-eval reads, so our runs can
go through the community's aggregation and plots next to published results.

    {env_name: {task_name: {algo_name: {"run_<seed>": {
        "step_0": {"step_count": int, "test_win_rate": [v], "test_return": [v]},
        ...,
        "absolute_metrics": {"test_win_rate": [per-episode outcomes], "test_return": [...]}}}}}}

env_name is the run's env backend, task_name its map, algo_name the label (`algo (source)` when
several RESULTS dirs are merged). marl-eval lower-cases the env and task names it is asked for,
so those keys are written lower-case. It also takes a run's keys in file order and treats the
last one as the absolute metrics, so "step_<i>" come in evaluation order and "absolute_metrics"
last (the keys are deliberately not sorted).

marl-eval's checker (`DiagnoseData.check_data`) wants, within an env, the same algorithms in every
task, the same number of runs per algorithm and task, and the same number of steps in every run.
A bench whose maps have different budgets (3m: 31 evaluations at 300k, 8m: 41 at 400k) breaks
the last, so every run is resampled onto a common grid of `points` evaluation points (default:
the fewest any run of the env has), evenly spaced from 0 to the run's own last evaluation, by
linear interpolation in env steps; `step_count` is the grid point. Runs already on such a grid are
unchanged. Each step's metric is a one-element list: mafac logs the mean over its test episodes.

The absolute metric is the protocol's (Gorsane et al. 2022): the final policy over at least 10x the
per-evaluation episodes, from each run's final_eval.json (`mafac bench --final-episodes`), one
value per episode. A run without one falls back to its last periodic evaluation, and the export
says how many did. Whatever is dropped or resampled to make the file valid is said in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.atomic import write_text
from mafac.errors import MafacError, unknown

FORMATS = ("marl-eval",)
EXPORTED = ("test_win_rate", "test_return")
# final_eval.json's per-episode list behind each exported metric
PER_EPISODE = {"test_win_rate": "won", "test_return": "returns"}


def _grid_entry(run: pd.DataFrame, metrics: Sequence[str], points: int) -> Dict[str, dict]:
    """The run's evaluations on `points` evenly spaced env-step points from 0 to its last."""
    run = run.sort_values("env_steps")
    steps = run["env_steps"].to_numpy(dtype=float)
    grid = np.rint(np.linspace(0.0, steps[-1], points)).astype(int)
    values = {}
    for m in metrics:
        known = run[["env_steps", m]].dropna()
        values[m] = np.interp(grid, known["env_steps"].to_numpy(dtype=float), known[m].to_numpy(dtype=float))
    return {f"step_{i}": {"step_count": int(g), **{m: [round(float(values[m][i]), 6)] for m in metrics}}
            for i, g in enumerate(grid)}


def _absolute(run: pd.DataFrame, final: Optional[dict], metrics: Sequence[str]) -> Dict[str, List[float]]:
    if final is not None:
        return {m: [float(x) for x, a in zip(final[PER_EPISODE[m]], final["aborted"]) if not a] for m in metrics}
    last = run.sort_values("env_steps")
    return {m: [float(last[m].dropna().iloc[-1])] for m in metrics}


def marl_eval_tree(res: Results, points: Optional[int] = None, say: Callable[[str], None] = print) -> Dict[str, dict]:
    """The marl-eval tree of `res`, valid for marl-eval's checker; `say` gets one line per change
    made to get there (resampling, runs or algorithms left out, missing final evaluations)."""
    if points is not None and points < 2:
        raise MafacError(f"bad --points {points!r}; it must be >= 2")
    finals = {} if res.finals.empty else {r["run_dir"]: r for r in res.finals.to_dict("records")}
    tree: Dict[str, dict] = {}
    for env, data in res.data.groupby("env", sort=True):
        # metrics measured somewhere in every run of the env: marl-eval wants the same in every step
        per_run = data.groupby("run_dir")
        metrics = [m for m in EXPORTED if m in data and per_run[m].apply(lambda s: s.notna().any()).all()]
        if not metrics:
            raise MafacError(f"no run of env {env!r} measured any of {', '.join(EXPORTED)}")
        # the same algorithms in every task, the same runs per algorithm and task
        tasks = sorted(data["map"].unique())
        algos = sorted(set.intersection(*(set(data[data["map"] == t]["label"]) for t in tasks)))
        dropped_algos = sorted(set(data["label"]) - set(algos))
        if dropped_algos:
            say(f"note: {env}: left out {', '.join(dropped_algos)} (marl-eval needs every algorithm on every task)")
        data = data[data["label"].isin(algos)]
        seeds = data.groupby(["map", "label"])["seed"].apply(lambda s: sorted(set(s)))
        n_runs = min(len(s) for s in seeds)
        if any(len(s) > n_runs for s in seeds):
            say(f"note: {env}: {n_runs} runs per algorithm and task (the first {n_runs} seeds of each; "
                f"marl-eval needs the same number everywhere)")
        keep = {(t, a): set(s[:n_runs]) for (t, a), s in seeds.items()}
        data = data[[keep[(t, a)].__contains__(s) for t, a, s in zip(data["map"], data["label"], data["seed"])]]
        counts = data.groupby("run_dir")["env_steps"].nunique()
        n_points = points or int(counts.min())
        if points is not None or counts.nunique() > 1:
            say(f"note: {env}: every run resampled onto {n_points} evenly spaced evaluation points from 0 to its "
                f"last (linear interpolation; runs had {int(counts.min())}-{int(counts.max())} evaluations)")
        no_final = sorted(r for r in counts.index if r not in finals)
        if no_final:
            say(f"warning: {env}: {len(no_final)} of {len(counts)} runs have no final evaluation (final_eval.json): "
                f"their absolute metric is their last periodic evaluation; rerun the bench (same arguments) or "
                f"benchmarks/final_eval.py to add them")
        for (m, lab, seed), run in data.groupby(["map", "label", "seed"], sort=True):
            entry = _grid_entry(run, metrics, n_points)
            entry["absolute_metrics"] = _absolute(run, finals.get(run["run_dir"].iloc[0]), metrics)
            tree.setdefault(env.lower(), {}).setdefault(m.lower(), {}).setdefault(lab, {})[f"run_{seed}"] = entry
    return tree


def export(paths: Sequence[str | Path], fmt: str = "marl-eval", out: Optional[str | Path] = None,
           points: Optional[int] = None, say: Callable[[str], None] = print) -> Path:
    """Write the results under `paths` in `fmt` to `out` (default <first RESULTS>/marl_eval.json)."""
    if fmt not in FORMATS:
        raise unknown("export format", fmt, FORMATS)
    tree = marl_eval_tree(load_results(paths), points, say)
    target = Path(out) if out else Path(paths[0]) / "marl_eval.json"
    write_text(target, json.dumps(tree, indent=2, allow_nan=False) + "\n")
    return target
