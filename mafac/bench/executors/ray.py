"""Ray executor: the same `run_job`, as Ray tasks of 1 CPU each, on a cluster or a local Ray."""

from __future__ import annotations

import os
from typing import Callable, Dict, List

from mafac.errors import MafacError
from mafac.bench.executors import Executor


def _remote_job(job: Dict[str, object]) -> Dict[str, object]:
    from mafac.bench.worker import run_job

    return run_job(job)


class RayExecutor(Executor):
    def run(self, jobs: List[Dict[str, object]], on_done: Callable[[Dict[str, object]], None],
            poll: Callable[[List[str]], None]) -> None:
        try:
            import ray
        except ImportError:
            raise MafacError("ray is not installed; pip install 'mafac[ray]' (or pip install 'ray[default]')")
        address = self.address or os.environ.get("RAY_ADDRESS")
        started_here = not ray.is_initialized()
        if started_here:
            env = {"env_vars": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}}
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
        task = ray.remote(num_cpus=1, max_retries=0)(_remote_job)
        futures = {task.remote(job): str(job["run_dir"]) for job in jobs}
        try:
            while futures:
                ready, _ = ray.wait(list(futures), num_returns=1, timeout=1.0)
                for ref in ready:
                    run_dir = futures.pop(ref)
                    try:
                        on_done(ray.get(ref))
                    except Exception as e:  # the task itself crashed (worker died)
                        on_done({"run": run_dir.rsplit("/", 1)[-1], "status": "failed",
                                 "error": f"ray task failed: {type(e).__name__}"})
                poll(list(futures.values()))
        finally:
            for ref in futures:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()
