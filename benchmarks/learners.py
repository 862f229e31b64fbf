"""The two learners' cost, side by side: where each env step's CPU time goes, and ms per update.

Part 1, `rows` (per map, per learner at its own preset: replay = `fast`, online = `online`):
real training (Trainer.run, evaluations excluded) once warm, timed in CPU seconds of this process
(one torch thread, JAX single-threaded, as a bench worker), split into the learner's share (the
updates) and the rest (acting: env steps, DRQN inference, staging):
    env steps per CPU-second | learner ms per env step | acting ms per env step | updates

Part 2, `updates` (3m, QMIX): ms per update (CPU) at GRU 64 and 256 for both learners, float32
against bfloat16 autocast, on the same stored episodes. A replay update is one gradient step on 32
sampled episodes plus the target unroll; an online update is everything one batch of fresh
episodes gets (online.epochs x online.minibatches gradient steps and one no-grad unroll for the
returns), so "ms per env step" divides by the env steps that feed one update.

    python benchmarks/learners.py [--maps 3m,8m] [--seconds 20] [--part rows,updates]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

PRESETS = {"replay": "fast", "online": "online"}


def trainer(map_name: str, preset: str, run_dir: str, *extra: str):
    from mafac.config import build_config
    from mafac.trainer import Trainer

    cfg = build_config(algo="qmix", map_name=map_name, preset=preset,
                       overrides=["run.checkpoint=false", "run.test_interval=1000000000", *extra])
    return Trainer(cfg, run_dir)


class LearnerClock:
    """Wraps a learner's `train_due` to add up the CPU seconds its updates take."""

    def __init__(self, learner) -> None:
        self.cpu, self.inner = 0.0, learner.train_due

        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - t

        learner.train_due = timed


def row(map_name: str, kind: str, seconds: float, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tr = trainer(map_name, PRESETS[kind], d, *extra)
        try:
            tr.cfg.run.t_max = 20_000
            tr.run()  # warm: compiled, past the replay's start, epsilon annealing under way
            clock = LearnerClock(tr.learner)
            steps0, updates0, cpu0, wall0 = tr.env_steps, tr.learner.updates, time.process_time(), time.perf_counter()
            while time.perf_counter() - wall0 < seconds:
                tr.cfg.run.t_max = tr.env_steps + 5_000
                tr.run()
            cpu, steps = time.process_time() - cpu0, tr.env_steps - steps0
        finally:
            tr.close()
    return {"env steps per CPU-s": steps / cpu, "learner ms/env step": 1e3 * clock.cpu / steps,
            "acting ms/env step": 1e3 * (cpu - clock.cpu) / steps, "gradient steps": tr.learner.updates - updates0,
            "env steps": steps}


def ms_per_update(kind: str, width: int, precision: str, seconds: float) -> tuple:
    """(CPU ms per update, env steps that feed one update) on 3m's stored episodes."""
    with tempfile.TemporaryDirectory() as d:
        tr = trainer("3m", PRESETS[kind], d, f"agent.hidden_dim={width}", f"learner.precision={precision}")
        try:
            tr.cfg.run.t_max = 6_000
            tr.run()
            lr, cfg = tr.learner, tr.cfg
            n = lr.update_episodes(cfg)
            g = torch.Generator().manual_seed(0)
            batches = [tr.buffer.gather(torch.randint(tr.buffer.size, (n,), generator=g)) for _ in range(8)]
            length = float(torch.cat([b.mask.sum(1) for b in batches]).mean())
            for b in batches[:2]:
                lr.update_on(b, 0, 0)
            count, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
            while count < 4 or time.perf_counter() - wall0 < seconds:
                lr.update_on(batches[count % len(batches)], 0, 0)
                count += 1
            ms = 1e3 * (time.process_time() - cpu0) / count
        finally:
            tr.close()
    per_update = (cfg.learner.train_every_episodes if kind == "replay" else n) * length
    return ms, per_update


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--maps", default="3m,8m")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--part", default="rows,updates")
    args = p.parse_args()
    torch.set_num_threads(1)
    from mafac.precision import cpu_has_native_bf16

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"# {os.cpu_count()} cores, {cpu} (native bfloat16: {cpu_has_native_bf16()}); torch {torch.__version__}, "
          f"1 torch thread; QMIX; replay = preset fast, online = preset online\n")
    parts = args.part.split(",")
    if "rows" in parts:
        print("| map | learner | env steps per CPU-s | learner ms/env step | acting ms/env step | gradient steps |")
        print("|---|---|---|---|---|---|")
        for m in args.maps.split(","):
            for kind in PRESETS:
                r = row(m, kind, args.seconds)
                print(f"| {m} | {kind} | {r['env steps per CPU-s']:,.0f} | {r['learner ms/env step']:.3f} | "
                      f"{r['acting ms/env step']:.3f} | {r['gradient steps']} in {r['env steps']:,} env steps |", flush=True)
        print()
    if "updates" in parts:
        print("| learner | GRU | float32 ms/update | bfloat16 ms/update | speed-up | float32 ms/env step | bfloat16 ms/env step |")
        print("|---|---|---|---|---|---|---|")
        for kind in PRESETS:
            for width in (64, 256):
                f32, per = ms_per_update(kind, width, "float32", args.seconds / 4)
                bf16, _ = ms_per_update(kind, width, "bfloat16", args.seconds / 4)
                print(f"| {kind} | {width} | {f32:.1f} | {bf16:.1f} | {f32 / bf16:.2f}x | {f32 / per:.3f} | "
                      f"{bf16 / per:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
