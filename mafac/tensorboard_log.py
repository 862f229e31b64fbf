"""The optional TensorBoard log of a run (`run.tensorboard=true`): metrics.csv stays the source
of truth, this is a live view of it, so `tensorboard --logdir results/` follows a bench as it runs.

Every metrics.csv column goes under `metrics/<column>` at its row's env steps, and every update's
losses under `update/<name>` at the env steps it happened: one x-axis for both, so that a resumed
run can drop (purge) what it logged past its checkpoint before logging it again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Mapping

from mafac.errors import MafacError
from mafac.rundir import METRIC_COLUMNS

TENSORBOARD_DIR = "tensorboard"
INSTALL = "pip install 'mafac[tensorboard]'"


def _summary_writer():
    try:
        import tensorboard  # noqa: F401  (torch's writer needs it, and says so less plainly)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MafacError(f"run.tensorboard=true needs the tensorboard package: {INSTALL}")
    return SummaryWriter


class TensorBoardLog:
    def __init__(self, run_dir: Path, resume_from_steps: int = 0) -> None:
        """`resume_from_steps`: a resumed run's checkpoint; what the previous attempt logged after
        it is dropped, as the resumed run logs it again. Not what it logged at those very env
        steps: the checkpoint was saved after them (its evaluation row, the updates just before
        it), and the resumed run's first step is already past them."""
        writer = _summary_writer()
        self.writer = writer(log_dir=str(Path(run_dir) / TENSORBOARD_DIR),
                             purge_step=resume_from_steps + 1 if resume_from_steps > 0 else None)

    def update(self, stats: Mapping[str, float], env_steps: int) -> None:
        for name, value in stats.items():
            self._scalar(f"update/{name}", value, env_steps)

    def record(self, row: Dict[str, float]) -> None:
        steps = int(row["env_steps"])
        for column in METRIC_COLUMNS:
            if column != "env_steps":
                self._scalar(f"metrics/{column}", row.get(column), steps)
        self.writer.flush()  # a row is what a live view waits for

    def _scalar(self, tag: str, value, steps: int) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            self.writer.add_scalar(tag, float(value), global_step=steps)

    def close(self) -> None:
        self.writer.close()
