"""Env steps per second on the MPE maps (the mpe backend), as benchmarks/throughput.py measures SMAX:

  raw        the batched env alone, random available actions, at n_envs (8: the runner's default)
  acting     the runner's epsilon-greedy rollouts into the replay (DRQN inference, staging, inserts)
  training   the real loop (Trainer.run, QMIX, `fast` preset) once warm, evaluation excluded

Compilation is excluded (every figure is taken after warm-up). One torch thread, JAX single-threaded,
as in a bench worker; the machine's load is printed with the figures, since a shared machine skews them.

    python benchmarks/mpe_throughput.py [--maps simple_spread_v3] [--n-envs 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import throughput  # noqa: E402 (benchmarks/throughput.py, beside this script)
from throughput import acting, machine, training  # noqa: E402


def raw_env(map_name: str, n_envs: int, seconds: float) -> float:
    return throughput.raw_env(map_name, n_envs, seconds, backend="mpe")


def trainer_for(map_name: str, n_envs: int, run_dir: str):
    return throughput.trainer_for(map_name, run_dir, f"env.n_envs={n_envs}", backend="mpe")


def main() -> None:
    from mafac.envs.mpe import MPE_MAPS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", default=MPE_MAPS[0], help="comma-separated MPE maps")
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    for m in args.maps.split(","):
        r = {"raw env steps/s": raw_env(m, args.n_envs, args.seconds)}
        with tempfile.TemporaryDirectory() as d:
            tr = trainer_for(m, args.n_envs, d)
            r["acting env steps/s"] = acting(tr, args.seconds)
            r["training env steps/s"], r["updates"] = training(tr, 2 * args.seconds)
            tr.close()
        print(f"{m}, {args.n_envs} envs: " + ", ".join(f"{k} {v:,.0f}" for k, v in r.items()), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", file=sys.stderr)


if __name__ == "__main__":
    main()
