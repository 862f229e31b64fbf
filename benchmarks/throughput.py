"""Where a run's time goes, per map: env stepping, acting, the learner by part, full training, start-up.

Per map (QMIX, the `fast` preset, 1 torch thread, JAX single-threaded as in a bench worker):
  raw        SMAX stepping with random available actions, at the runner's n_envs (compilation excluded),
             and at 16 and 32 envs
  acting     the runner's epsilon-greedy rollouts into the replay (DRQN inference, staging, inserts),
             at the runner's n_envs and at 16 and 32
  learner    ms per update on real replay batches, by part: agent unrolls (online with gradients,
             target without), mixing + targets, backward, optimiser step
  training   the real loop (Trainer.run) once warm, evaluation excluded
  start-up   seconds from a fresh process to the first env step: imports, Trainer (both envs), reset
             and the first step, with a cold and with a warm JAX compilation cache

`--baseline REV` measures the same, in the same invocation and on the same machine, on a checkout
of REV (a temporary git worktree), and prints both side by side with the ratio: the before/after
table of a speed change. Each side runs in its own process, one after the other.

    python benchmarks/throughput.py [--maps 3m,8m] [--seconds 10] [--baseline REV] [--large]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

LARGE = ("25m", "27m_vs_30m")


def timed(fn, seconds: float, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += fn()
    return n / (time.perf_counter() - start)


def trainer_for(map_name: str, run_dir: str, *extra: str, backend: str = "smax"):
    from mafac.config import build_config
    from mafac.trainer import Trainer

    cfg = build_config(algo="qmix", map_name=map_name, preset="fast", backend=backend,
                       overrides=["run.checkpoint=false", "run.test_interval=1000000000", *extra])
    return Trainer(cfg, run_dir)


def raw_env(map_name: str, n_envs: int, seconds: float, backend: str = "smax") -> float:
    from mafac.envs import make_env

    env = make_env(backend, map_name, n_envs, 0)
    rng = np.random.default_rng(0)
    cur = [env.reset()]

    def one():
        av = cur[0].avail_actions
        cur[0] = env.step((rng.random(av.shape) * av).argmax(-1)).next
        return n_envs

    return timed(one, seconds)


def acting(tr, seconds: float) -> float:
    tr.runner.reset()
    n = tr.env.n_envs
    return timed(lambda: (tr.runner.step(0.5), n)[1], seconds)


def learner_parts(tr, seconds: float) -> dict:
    """ms per update, and its parts measured on the same batches with the learner's own methods."""
    lr, bs = tr.learner, tr.cfg.learner.batch_size
    batches = [tr.buffer.sample(bs) for _ in range(16)]
    i = [0]

    def nxt():
        i[0] += 1
        return batches[i[0] % len(batches)]

    def ms(fn) -> float:
        return 1e3 / timed(lambda: (fn(), 1)[1], seconds / 5, warmup=2)

    parts = {"update": ms(lambda: lr.train(nxt(), 0))}
    parts["online unroll (grad)"] = ms(lambda: lr._unroll(lr.agent, nxt()))

    def target_unroll():
        with torch.no_grad():
            lr._unroll(lr.target_agent, nxt())
    parts["target unroll"] = ms(target_unroll)
    parts["loss (unrolls+mix+targets)"] = ms(lambda: lr.loss(nxt()))

    def backward():
        total, _ = lr.loss(nxt())
        lr.optimizer.zero_grad(set_to_none=True)
        total.backward()
    parts["backward"] = ms(backward) - parts["loss (unrolls+mix+targets)"]
    parts["optimiser step"] = ms(lr.optimizer.step)
    return parts


def training(tr, seconds: float) -> tuple:
    tr.cfg.run.t_max = tr.env_steps + 3000
    tr.run()  # warm: compiled, replay past start_episodes
    steps0, updates0 = tr.env_steps, tr.learner.updates
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        tr.cfg.run.t_max += 2000
        tr.run()
    elapsed = time.perf_counter() - start
    return (tr.env_steps - steps0) / elapsed, tr.learner.updates - updates0


STARTUP = """
import time, tempfile
t0 = time.perf_counter()
from mafac.config import build_config
from mafac.trainer import Trainer
cfg = build_config(algo="qmix", map_name={map!r}, preset="fast", overrides=["run.checkpoint=false"])
tr = Trainer(cfg, tempfile.mkdtemp())
tr.runner.reset()
tr.runner.step(1.0)
print(time.perf_counter() - t0)
"""


def startup(map_name: str) -> dict:
    """Fresh processes, as a bench worker starts: cold (empty cache) then warm (the cache it left)."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MAFAC_JAX_CACHE": cache}
        for kind in ("cold", "warm"):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", STARTUP.format(map=map_name)], env=env,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            out[kind] = wall
            out[kind + " (in process)"] = float(proc.stdout.split()[-1])
    return out


def measure(maps, seconds: float, large: bool) -> dict:
    torch.set_num_threads(1)
    results = {}
    for m in list(maps) + (list(LARGE) if large else []):
        big = m in LARGE
        s = seconds / 3 if big else seconds
        r = results[m] = {}
        with tempfile.TemporaryDirectory() as d:
            extra = ["replay.capacity=600"] if big else []
            tr = trainer_for(m, d, *extra)
            n = tr.env.n_envs
            r["raw env steps/s"] = raw_env(m, n, s)
            r["acting env steps/s"] = acting(tr, s)
            r["training env steps/s"], r["updates"] = training(tr, 2 * s)
            for k, v in learner_parts(tr, s).items():
                r[f"learner ms: {k}"] = v
            tr.close()
        if not big:
            for n in (16, 32):  # more envs per runner: more data per update, so a learning trade
                r[f"raw env steps/s, {n} envs"] = raw_env(m, n, s / 2)
                with tempfile.TemporaryDirectory() as d:
                    tr = trainer_for(m, d, f"env.n_envs={n}")
                    r[f"acting env steps/s, {n} envs"] = acting(tr, s / 2)
                    tr.close()
            for k, v in startup(m).items():
                r[f"start-up s: {k}"] = v
        print(f"[{m}] " + ", ".join(f"{k} {v:,.1f}" for k, v in r.items()), file=sys.stderr, flush=True)
    return results


def machine() -> str:
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), cpu)
    return f"{os.cpu_count()} cores, {cpu}; torch {torch.__version__}, 1 torch thread, JAX single-threaded"


def _side(path: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, __file__, "--json", "--maps", args.maps, "--seconds", str(args.seconds)]
    proc = subprocess.run(cmd + (["--large"] if args.large else []), env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        raise SystemExit(f"measuring {path} failed")
    return json.loads(proc.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", default="3m,8m")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--baseline", default=None, help="a git revision to measure side by side")
    p.add_argument("--large", action="store_true", help="also 25m and 27m_vs_30m (replay capacity 600)")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.json:
        print(json.dumps(measure(a.maps.split(","), a.seconds, a.large)))
        return
    print(f"machine: {machine()}")
    repo = Path(__file__).resolve().parent.parent
    if a.baseline is None:
        now = measure(a.maps.split(","), a.seconds, a.large)
        for m, r in now.items():
            for k, v in r.items():
                print(f"{m:<11} {k:<40} {v:>12,.2f}")
        return
    with tempfile.TemporaryDirectory() as d:
        base = Path(d) / "baseline"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(base), a.baseline], check=True)
        try:
            before = _side(str(base), a)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(base)], check=False)
    after = _side(str(repo), a)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"{'map':<11} {'figure':<40} {a.baseline:>12} {head.stdout.strip() + ' (now)':>14} {'ratio':>7}")
    for m in after:
        for k, v in after[m].items():
            b = before.get(m, {}).get(k)
            ratio = "" if b in (None, 0) else f"{v / b:6.2f}x"
            print(f"{m:<11} {k:<40} {b if b is not None else float('nan'):>12,.2f} {v:>14,.2f} {ratio:>7}")


if __name__ == "__main__":
    main()
