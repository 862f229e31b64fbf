"""Checkpoint size and save / load time for a real run (default: QMIX on 8m, `fast` preset).

Trains for `--steps` env steps with checkpoints off, then writes one checkpoint (all replay
episodes go into one shard) and times it, then builds a fresh trainer on the same directory and
times its resume, which checks every key and shape and loads every shard.

    python benchmarks/checkpoint_io.py [--map 8m] [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="8m")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from mafac.config import build_config
    from mafac.trainer import Trainer

    overrides = [f"run.t_max={args.steps}", "run.checkpoint=false", f"run.test_interval={args.steps}"]
    cfg = build_config(algo="qmix", map_name=args.map, preset="fast", overrides=overrides)
    root = Path(tempfile.mkdtemp(prefix="mafac-ckpt-"))
    try:
        trainer = Trainer(cfg, root)
        trainer.run()
        saves, loads = [], []
        for i in range(args.repeats):
            d = root / f"c{i}"
            d.mkdir()
            (d / "replay").mkdir()
            trainer.run_dir, trainer.shards = d, []
            t0 = time.perf_counter()
            trainer.save()
            saves.append(time.perf_counter() - t0)
            fresh = Trainer(cfg, d)
            t0 = time.perf_counter()
            fresh.load()
            loads.append(time.perf_counter() - t0)
            assert fresh.env_steps == trainer.env_steps and fresh.buffer.size == trainer.buffer.size
            fresh.close()
        files = [p for p in (root / "c0").rglob("*") if p.is_file()]
        ckpt = sum(p.stat().st_size for p in files if p.parent.name != "replay")
        shards = sum(p.stat().st_size for p in files if p.parent.name == "replay")
        print(f"{args.map}, {trainer.env_steps:,} env steps, {trainer.buffer.size} episodes in the replay")
        print(f"checkpoint file {ckpt / 2**20:.2f} MiB, replay shards {shards / 2**20:.2f} MiB")
        print(f"save {statistics.median(saves):.3f} s, load (checked) {statistics.median(loads):.3f} s "
              f"(median of {args.repeats})")
        trainer.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
