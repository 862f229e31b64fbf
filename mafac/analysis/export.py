"""`mafac export --format marl-eval`: the JSON layout InstaDeep's marl-eval reads.

{env: {task: {algo: {"run_<seed>": {"step_<i>": {"step_count": n, metric: [v]}, "absolute_metrics": {metric: [v]}}}}}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from mafac.analysis.load import load_results
from mafac.atomic import write_json
from mafac.errors import MafacError

FORMATS = ("marl-eval",)
EXPORTED = ("test_win_rate", "test_return")


def export(paths: Sequence[str | Path], fmt: str = "marl-eval", out: Optional[str | Path] = None) -> Path:
    if fmt not in FORMATS:
        raise MafacError(f"unknown export format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    res = load_results(paths)
    tree: dict = {}
    for (env, m, lab, seed), run in res.data.groupby(["env", "map", "label", "seed"]):
        run = run.sort_values("env_steps")
        steps = {f"step_{i}": {"step_count": int(r["env_steps"]), **{k: [float(r[k])] for k in EXPORTED if k in run}}
                 for i, (_, r) in enumerate(run.iterrows())}
        last = run.iloc[-1]
        steps["absolute_metrics"] = {k: [float(last[k])] for k in EXPORTED if k in run}
        tree.setdefault(env, {}).setdefault(m, {}).setdefault(lab, {})[f"run_{seed}"] = steps
    target = Path(out) if out else Path(paths[0]) / "marl_eval.json"
    write_json(target, tree)
    return target
