"""`mafac export --format marl-eval`: the JSON layout InstaDeep's marl-eval reads, so our runs can
go through the community's aggregation and plots next to published results.

    {env_name: {task_name: {algo_name: {"run_<seed>": {
        "step_0": {"step_count": int, "test_win_rate": [v], "test_return": [v]},
        ...,
        "absolute_metrics": {"test_win_rate": [final], "test_return": [final]}}}}}}

env_name is the run's env backend, task_name its map, algo_name the label (`algo (source)` when
several RESULTS dirs are merged). marl-eval lower-cases the env and task names it is asked for,
so those keys are written lower-case. It also takes a run's keys in file order and treats the
last one as the absolute metrics, so "step_<i>" come in evaluation order and "absolute_metrics"
last (the keys are deliberately not sorted). Each metric is a one-element list: mafac logs the
mean over its test episodes, not every episode. An unmeasured value is written as null.
marl-eval assumes every algorithm has the same runs and evaluation steps; a bench gives that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, Optional, Sequence

import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.atomic import write_text
from mafac.errors import unknown

FORMATS = ("marl-eval",)
EXPORTED = ("test_win_rate", "test_return")


def _value(v: float) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) else v


def _run_entry(run: pd.DataFrame, metrics: Sequence[str]) -> Dict[str, dict]:
    run = run.sort_values("env_steps")
    entry: Dict[str, dict] = {}
    for i, r in enumerate(run[["env_steps", *metrics]].to_dict("records")):
        entry[f"step_{i}"] = {"step_count": int(r["env_steps"]), **{m: [_value(r[m])] for m in metrics}}
    entry["absolute_metrics"] = {m: [_value(run[m].dropna().iloc[-1]) if run[m].notna().any() else None]
                                 for m in metrics}
    return entry


def marl_eval_tree(res: Results) -> Dict[str, dict]:
    metrics = [m for m in EXPORTED if m in res.metrics()]
    tree: Dict[str, dict] = {}
    for (env, m, lab, seed), run in res.data.groupby(["env", "map", "label", "seed"], sort=True):
        tree.setdefault(env.lower(), {}).setdefault(m.lower(), {}).setdefault(lab, {})[f"run_{seed}"] = \
            _run_entry(run, metrics)
    return tree


def export(paths: Sequence[str | Path], fmt: str = "marl-eval", out: Optional[str | Path] = None) -> Path:
    """Write the results under `paths` in `fmt` to `out` (default <first RESULTS>/marl_eval.json)."""
    if fmt not in FORMATS:
        raise unknown("export format", fmt, FORMATS)
    tree = marl_eval_tree(load_results(paths))
    target = Path(out) if out else Path(paths[0]) / "marl_eval.json"
    write_text(target, json.dumps(tree, indent=2, allow_nan=False) + "\n")
    return target
