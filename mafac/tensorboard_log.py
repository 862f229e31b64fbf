"""The optional TensorBoard log of a run (`run.tensorboard=true`): metrics.csv stays the source
of truth, this is a live view of it, so `tensorboard --logdir results/` follows a bench as it runs.

The tags are mafac/live_log.py's (`metrics/<column>`, `update/<name>`), with env steps as the
TensorBoard step for both: one x-axis, so that a resumed run can drop (purge) what it logged past
its checkpoint before logging it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from mafac.errors import MafacError
from mafac.live_log import row_scalars, update_scalars

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
        for tag, value in update_scalars(stats).items():
            self.writer.add_scalar(tag, value, global_step=env_steps)

    def record(self, row: Mapping[str, float]) -> None:
        steps = int(row["env_steps"])
        for tag, value in row_scalars(row).items():
            self.writer.add_scalar(tag, value, global_step=steps)
        self.writer.flush()  # a row is what a live view waits for

    def close(self, failed: bool = False) -> None:
        self.writer.close()
