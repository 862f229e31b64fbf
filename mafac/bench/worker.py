"""The function every executor runs for one grid cell, in its own process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

from mafac.errors import describe


def limit_threads() -> None:
    """One core per run: K workers should use about K cores, not K times all of them."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_job(job: Dict[str, object]) -> Dict[str, object]:
    """Train (or resume) one cell; never raises for a failed run: the failure is the result."""
    limit_threads()
    from mafac.bench.spec import Job
    from mafac.train import train_run

    try:
        cfg = Job.from_dict(job).config()
        rows = train_run(cfg, Path(job["run_dir"]))
    except Exception as e:  # recorded in run.json by train_run; reported by the bench
        return {"run": Path(job["run_dir"]).name, "status": "failed", "error": describe(e)}
    last = rows[-1]
    return {"run": Path(job["run_dir"]).name, "status": "done", "test_win_rate": last["test_win_rate"],
            "env_steps": last["env_steps"], "wall_s": last["wall_s"]}
