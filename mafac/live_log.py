"""The optional live logs of a run (`run.tensorboard`, `run.wandb`): one interface, one set of tags.

metrics.csv stays the source of truth; a live log is a view of it that a dashboard can follow as
the run goes. The trainer tells every open log the same two things: each update's losses (the
learner's stats) at the env steps it happened, and each metrics.csv row at its evaluation. What
they become is decided here once, so TensorBoard and W&B show the same names and values: every
metrics.csv column but `env_steps` as `metrics/<column>`, every update stat as `update/<name>`,
both against env steps; an empty cell (NaN, e.g. no loss before the first update) is left out.

Each backend lives in its own module, imported only when its flag is on (mafac/trainer.py opens
them), so neither package is needed by a run that does not ask for it.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Protocol

from mafac.rundir import metric_columns


class LiveLog(Protocol):
    def update(self, stats: Mapping[str, float], env_steps: int) -> None: ...

    def record(self, row: Mapping[str, float]) -> None: ...

    def close(self, failed: bool = False) -> None: ...


def _value(value) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def update_scalars(stats: Mapping[str, float]) -> Dict[str, float]:
    """One update's stats as {tag: value}."""
    out = {f"update/{name}": _value(v) for name, v in stats.items()}
    return {tag: v for tag, v in out.items() if v is not None}


def row_scalars(row: Mapping[str, float]) -> Dict[str, float]:
    """One metrics.csv row (as the trainer holds it) as {tag: value}; its step is row['env_steps']."""
    out = {f"metrics/{column}": _value(row.get(column)) for column in metric_columns([row]) if column != "env_steps"}
    return {tag: v for tag, v in out.items() if v is not None}
