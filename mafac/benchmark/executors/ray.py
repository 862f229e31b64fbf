"""Ray executor: the same `run_job`, as Ray tasks of 1 CPU each, on a cluster or a local Ray.

No shared filesystem is assumed. Each task trains in its node's scratch directory
(`$MAFAC_SCRATCH`, default `<tmp>/mafac-scratch`) and ships its run directory, at every
evaluation and at the end, to a small actor pinned to the driver's node that writes it into the
bench's results directory (see `rundir_sync`). A task is started with the driver's copy of its
run directory, so a task whose node died is retried, on any node, from the last checkpoint that
reached the driver; after `RETRIES` lost attempts the run is reported failed with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Callable, Dict, List

from mafac import log as logs
from mafac.benchmark.executors import Executor
from mafac.errors import MafacError, describe

RETRIES = 2  # re-runs of a job whose task was lost (node or worker died), each from its last checkpoint


def _remote_job(job: Dict[str, object], seed: Dict[str, bytes], sink, bench_id: str) -> Dict[str, object]:
    import ray

    from mafac.benchmark import rundir_sync as rs
    from mafac.benchmark.worker import run_job

    work = rs.scratch_root() / bench_id / str(job["name"])
    rs.materialize(seed, work)
    shipper = rs.Shipper(work, seed)

    def ship() -> None:  # waits for the driver's copy to be written: then it is safe to go on
        present, changed = shipper.shipment()
        ray.get(sink.receive.remote(job["name"], present, changed))

    try:
        result = run_job(job, run_dir=work, on_record=ship)
        ship()  # the final run.json (done or failed) and error.txt
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dict(result, node=socket.gethostname(), scratch=str(work))


class _Sink:
    """Writes shipped run directories into the bench's results directory, on the driver's node."""

    def __init__(self, run_dirs: Dict[str, str]) -> None:
        self.run_dirs = run_dirs

    def receive(self, name: str, present: List[str], changed: Dict[str, bytes]) -> None:
        from mafac.benchmark.rundir_sync import apply_shipment

        apply_shipment(Path(self.run_dirs[name]), present, changed)


class RayExecutor(Executor):
    def run(self, jobs: List[Dict[str, object]], on_done: Callable[[Dict[str, object]], None],
            poll: Callable[[List[str]], None]) -> None:
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError:
            raise MafacError("ray is not installed; pip install 'mafac[ray]' (or pip install 'ray[default]')")
        from mafac.benchmark.rundir_sync import read_files

        address = self.address or os.environ.get("RAY_ADDRESS")
        started_here = not ray.is_initialized()
        if started_here:
            env = {"env_vars": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}}
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        sink = ray.remote(num_cpus=0, scheduling_strategy=here)(_Sink).remote(
            {str(j["name"]): str(j["run_dir"]) for j in jobs})
        task = ray.remote(num_cpus=1, max_retries=0)(_remote_job)  # retried here, from the latest checkpoint
        bench_id = uuid.uuid4().hex[:12]
        by_name = {str(j["name"]): j for j in jobs}
        pending = [str(j["name"]) for j in jobs]
        attempts: Dict[str, int] = {}
        futures: Dict[object, str] = {}
        # Seeds are whole run dirs (replay included): only as many in flight as the cluster can run.
        in_flight = max(self.workers, int(ray.cluster_resources().get("CPU", 1)))

        def submit(name: str) -> None:
            attempts[name] = attempts.get(name, 0) + 1
            job = by_name[name]
            futures[task.remote(job, read_files(Path(str(job["run_dir"]))), sink, bench_id)] = name

        try:
            while (pending and not self.stopped) or futures:
                while pending and len(futures) < in_flight and not self.stopped:
                    submit(pending.pop(0))
                ready, _ = ray.wait(list(futures), num_returns=1, timeout=1.0)
                for ref in ready:
                    name = futures.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:  # the task was lost: its node or worker died
                        if attempts[name] <= RETRIES:
                            logs.get("bench").info(f"  {name}: ray task lost ({describe(e)}); retrying from its "
                                                   f"last checkpoint (attempt {attempts[name] + 1} of {RETRIES + 1})")
                            submit(name)
                            continue
                        result = {"name": name, "status": "failed",
                                  "error": f"ray task lost {attempts[name]} times, last: {describe(e)}"}
                    on_done(dict(result, attempts=attempts[name]))
                poll(list(futures.values()))
        finally:
            for ref in futures:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()
