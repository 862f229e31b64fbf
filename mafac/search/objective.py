"""What a trial is scored on, said in its name.

- `final[:K]` (default K=3): per run, the mean of its last K evaluations; the trial's value is the
  mean over its runs (algos x maps x seeds). Maximised.
- `auc`: per run, the area under the evaluation curve over env steps divided by the steps
  covered (the mean win rate over training, weighted by steps). Maximised.
- `time-to:X[:K]`: per run, the wall seconds at which the mean of K (default 3) consecutive
  evaluations first reaches X: what a CPU-minute buys. A run that never gets there counts as
  twice its whole wall time (censored, and penalised so that reaching it always wins). Minimised.
- `steps-to:X[:K]`: the same in env steps (censored at twice the run's budget): not disturbed by
  other work on the machine.

Every trial also records how much evidence its value rests on: runs, evaluations and greedy
episodes behind it, and for the `*-to` objectives how many runs reached the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mafac.errors import MafacError

KINDS = ("final", "auc", "time-to", "steps-to")


@dataclass(frozen=True)
class Objective:
    kind: str
    k: int = 3
    target: float = 0.0
    metric: str = "test_win_rate"

    @property
    def name(self) -> str:
        if self.kind == "auc":
            return "auc"
        if self.kind == "final":
            return f"final:{self.k}"
        return f"{self.kind}:{self.target:g}:{self.k}"

    @property
    def direction(self) -> str:
        return "maximize" if self.kind in ("final", "auc") else "minimize"

    def describe(self) -> str:
        m = self.metric
        return {
            "final": f"mean over runs of each run's mean {m} over its last {self.k} evaluations (maximised)",
            "auc": f"mean over runs of each run's step-weighted mean {m} over training (maximised)",
            "time-to": (f"mean over runs of the wall seconds until the mean {m} of {self.k} consecutive evaluations "
                        f"first reaches {self.target:g}; never: 2 x the run's wall time (minimised)"),
            "steps-to": (f"mean over runs of the env steps until the mean {m} of {self.k} consecutive evaluations "
                         f"first reaches {self.target:g}; never: 2 x the run's budget (minimised)"),
        }[self.kind]

    # -- one run ---------------------------------------------------------------------------------
    def run_value(self, frame, t_max: int) -> Tuple[float, int, bool]:
        """(value, evaluations it used, whether a `*-to` target was reached)."""
        values = frame[self.metric].to_numpy(dtype=float)
        steps = frame["env_steps"].to_numpy(dtype=float)
        if len(values) == 0 or np.isnan(values).all():
            raise MafacError(f"no {self.metric} evaluations to score")
        if self.kind == "final":
            last = values[-self.k:]
            return float(np.nanmean(last)), len(last), True
        if self.kind == "auc":
            if len(values) == 1 or steps[-1] <= steps[0]:
                return float(values[0]), 1, True
            area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(steps)))
            return area / float(steps[-1] - steps[0]), len(values), True
        clock = frame["wall_s"].to_numpy(dtype=float) if self.kind == "time-to" else steps
        if len(values) >= self.k:
            window = np.convolve(values, np.ones(self.k) / self.k, mode="valid")
            hit = np.flatnonzero(window >= self.target - 1e-12)
            if hit.size:
                return float(clock[hit[0] + self.k - 1]), len(values), True
        censored = 2.0 * (float(clock[-1]) if self.kind == "time-to" else float(t_max))
        return censored, len(values), False

    # -- a trial ---------------------------------------------------------------------------------
    def trial_value(self, frames: Sequence, t_max: Dict[str, int], episodes_per_eval: Dict[str, int]) -> Dict[str, float]:
        """The trial's value and the evidence behind it, from its runs' metrics (keyed by run name)."""
        vals, evals, episodes, reached = [], 0, 0, 0
        for name, frame in frames:
            v, n, ok = self.run_value(frame, t_max[name])
            vals.append(v)
            evals += n
            episodes += n * episodes_per_eval[name]
            reached += int(ok)
        out = {"value": float(np.mean(vals)), "runs": len(vals), "evaluations": evals, "episodes": episodes,
               "run_values": [round(v, 6) for v in vals]}
        if self.kind in ("time-to", "steps-to"):
            out["reached"] = reached
        return out

    def intermediate(self, frames: Sequence, interval: int = 1) -> List[Tuple[int, float]]:
        """(env steps, value) at each evaluation every run has reached: the mean metric over runs,
        as 1 - mean where the objective is minimised (the pruner then compares like with like).
        Evaluation steps are snapped to multiples of `interval` (run.test_interval): a run of 16
        envs evaluates at 10,000 when one of 12 envs evaluates at 10,008, and the pruner must
        compare trials at the same step."""
        if not frames:
            return []

        def snapped(f):
            return (f["env_steps"].astype(float) / interval).round().astype(int) * interval

        common = set(snapped(frames[0][1]))
        for _, f in frames[1:]:
            common &= set(snapped(f))
        out = []
        for step in sorted(common):
            mean = float(np.nanmean([f.loc[snapped(f) == step, self.metric].iloc[0] for _, f in frames]))
            if not np.isnan(mean):
                out.append((step, mean if self.direction == "maximize" else 1.0 - mean))
        return out


def parse_objective(text: str, metric: str = "test_win_rate") -> Objective:
    """'final', 'final:5', 'auc', 'time-to:0.9', 'time-to:0.95:3', 'steps-to:0.9'."""
    parts = (text or "").strip().split(":")
    kind, args = parts[0], parts[1:]
    usage = "valid: final[:K], auc, time-to:X[:K], steps-to:X[:K] (e.g. final:3, time-to:0.9)"
    try:
        if kind == "final" and len(args) <= 1:
            k = int(args[0]) if args else 3
            if k >= 1:
                return Objective("final", k=k, metric=metric)
        elif kind == "auc" and not args:
            return Objective("auc", metric=metric)
        elif kind in ("time-to", "steps-to") and 1 <= len(args) <= 2:
            target, k = float(args[0]), int(args[1]) if len(args) > 1 else 3
            if k >= 1:
                return Objective(kind, k=k, target=target, metric=metric)
    except ValueError:
        pass
    raise MafacError(f"bad --objective {text!r}; {usage}")
