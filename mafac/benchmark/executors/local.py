"""Local executor: one spawned process per running job (JAX is not fork-safe)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
from typing import Callable, Dict, List

from mafac.benchmark.executors import Executor


def _child(job: Dict[str, object], results, bench_pid: int) -> None:
    from mafac.benchmark.worker import run_job

    # A bench killed with -9 cannot stop its workers; each notices its parent is gone and stops
    # (resumable, not failed), so no orphan keeps writing into a run a new bench may resume.
    try:
        results.put(run_job(job, stop_if=lambda: os.getppid() != bench_pid))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the bench reports it once
        pass


class LocalExecutor(Executor):
    def run(self, jobs: List[Dict[str, object]], on_done: Callable[[Dict[str, object]], None],
            poll: Callable[[List[str]], None]) -> None:
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        pending = list(jobs)
        running: Dict[str, mp.Process] = {}  # by job name, the job's one identity
        try:
            while (pending and not self.stopped) or running:
                while pending and len(running) < self.workers and not self.stopped:
                    job = pending.pop(0)
                    proc = ctx.Process(target=_child, args=(job, results, os.getpid()), daemon=True)
                    proc.start()
                    running[str(job["name"])] = proc
                try:
                    result = results.get(timeout=1.0)
                except queue_mod.Empty:
                    result = None
                if result is not None and result["name"] in running:  # else already reported as dead
                    running.pop(result["name"]).join(timeout=30)
                    on_done(result)
                for name, proc in list(running.items()):  # a worker that died without a result
                    if not proc.is_alive() and proc.exitcode not in (0, None):
                        running.pop(name)
                        on_done({"name": name, "status": "failed",
                                 "error": f"worker process died (exit code {proc.exitcode})"})
                poll(list(running))
        finally:
            for proc in running.values():
                if proc.is_alive():
                    proc.terminate()
            for proc in running.values():
                proc.join(timeout=10)
