"""cpu vs cuda for `run.device`: QMIX (`fast` preset) on 3m and 8m for a short fixed budget each.

Prints, per (map, device): env steps/s of the whole training loop once warm (evaluation included,
as a bench sees it) and the learner's mean ms per update (CUDA synchronised around each update, so
the time is the update's, not its launch). The devices run one after the other in this process, on
the same warm JAX compile, so the numbers compare. Without CUDA it measures the CPU and says so.

    python benchmarks/device_check.py [--maps 3m,8m] [--steps 20000] [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(map_name: str, device: str, steps: int, warmup: int) -> dict:
    import torch

    import mafac
    from mafac.trainer import Trainer

    cfg = mafac.make_config("qmix", map_name, preset="fast", steps=warmup + steps,
                            **{"run.device": device, "run.checkpoint": False, "run.test_interval": 10_000})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp))
        cuda = trainer.device.type == "cuda"
        update_s = []
        train = trainer.learner.train

        def timed(batch, episodes):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = train(batch, episodes)  # float() of the stats already waits for the GPU
            update_s.append(time.perf_counter() - t0)
            return out

        trainer.learner.train = timed
        try:
            trainer.cfg.run.t_max = warmup  # compile, fill the replay past start_episodes
            trainer.run()
            update_s.clear()
            start_steps, t0 = trainer.env_steps, time.perf_counter()
            trainer.cfg.run.t_max = warmup + steps
            trainer.run()
            wall = time.perf_counter() - t0
        finally:
            trainer.close()
    return {"map": map_name, "device": str(trainer.device), "env_steps_per_s": (trainer.env_steps - start_steps) / wall,
            "learner_ms_per_update": 1000 * sum(update_s) / max(1, len(update_s)), "updates": len(update_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", default="3m,8m")
    ap.add_argument("--steps", type=int, default=20_000, help="measured env steps per (map, device)")
    ap.add_argument("--warmup", type=int, default=5_000, help="env steps before measuring (compile, replay fill)")
    ap.add_argument("--devices", default=None, help="default: cpu, and cuda when torch sees one")
    args = ap.parse_args()
    import torch

    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (torch sees no CUDA device)"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, GPU: {gpu}")
    print(f"QMIX, fast preset, {args.steps:,} env steps measured after {args.warmup:,}\n")
    print("| map | device | env steps/s | learner ms/update | updates |\n|---|---|---:|---:|---:|")
    for m in args.maps.split(","):
        for d in devices:
            r = measure(m, d, args.steps, args.warmup)
            print(f"| {r['map']} | {r['device']} | {r['env_steps_per_s']:,.0f} | {r['learner_ms_per_update']:.1f} | "
                  f"{r['updates']} |", flush=True)


if __name__ == "__main__":
    main()
