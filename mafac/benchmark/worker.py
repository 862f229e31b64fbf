"""What every executor runs for one grid cell, in its own process.

A job arrives as a plain dict keyed by its run name, with the config the driver already resolved:
resolving it again in the worker could disagree with the manifest (another plugin set, another
working directory for a relative --config), and the name is the job's one identity end to end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Optional

from mafac.errors import describe, no_space


def limit_threads() -> None:
    """One core per run: K workers should use about K cores, not K times all of them."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_job(job: Dict[str, object], run_dir: Optional[Path] = None,
            on_record: Optional[Callable[[], None]] = None,
            stop_if: Optional[Callable[[], bool]] = None) -> Dict[str, object]:
    """Train (or resume) one cell in `run_dir` (default: the job's own); never raises for a failed
    run: the failure, with its reason, is the result. `stop_if()` is polled as the run goes: a
    worker whose bench is gone stops as if interrupted (its checkpoint stays resumable)."""
    limit_threads()
    from mafac.config import config_from_dict
    from mafac.trainer import train_run

    name = str(job["name"])
    progress = None
    if stop_if is not None:
        def progress(_p) -> None:
            if stop_if():
                raise KeyboardInterrupt
    try:
        cfg = config_from_dict(job["config"])
        rows = train_run(cfg, Path(run_dir or job["run_dir"]), progress=progress, on_record=on_record,
                         bench=job.get("bench"))
    except Exception as e:  # recorded in run.json by train_run; reported by the bench
        return {"name": name, "status": "failed", "error": describe(e), "no_space": no_space(e)}
    last = rows[-1]
    return {"name": name, "status": "done", "test_win_rate": last["test_win_rate"], "test_return": last["test_return"],
            "env_steps": last["env_steps"], "wall_s": last["wall_s"]}
