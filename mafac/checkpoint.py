"""Checkpoints that let an interrupted run continue exactly as if it never stopped.

The replay is the bulk of a run's state, so it is saved incrementally: each checkpoint writes a
shard with only the episodes inserted since the previous one, and the checkpoint file lists the
shards still needed (older ones, fully overwritten in the ring buffer, are deleted). Each file is
written atomically, and the checkpoint is written last, so a kill at any moment leaves either the
old or the new checkpoint, each with all of its shards.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, List

import torch

from mafac.atomic import write_bytes
from mafac.errors import MafacError
from mafac.replay import EpisodeBuffer
from mafac.rundir import CHECKPOINT

REPLAY_DIR = "replay"


def _save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MafacError(f"{path}: missing")
    except Exception as e:  # a truncated or foreign file
        raise MafacError(f"{path}: corrupt checkpoint ({type(e).__name__})")


def save_checkpoint(run_dir: Path, state: Dict[str, Any], buffer: EpisodeBuffer, shards: List[Dict[str, int]]) -> List[Dict[str, int]]:
    """Write a new replay shard (if any episodes arrived) and then the checkpoint; returns the shard list."""
    run_dir = Path(run_dir)
    last_end = shards[-1]["end"] if shards else 0
    if buffer.inserted > last_end:
        name = f"shard_{last_end:09d}_{buffer.inserted:09d}.pt"
        _save(buffer.export_since(last_end), run_dir / REPLAY_DIR / name)
        shards = shards + [{"start": last_end, "end": buffer.inserted, "file": name}]
    # A shard is dead once every episode in it has been overwritten in the ring buffer.
    live = [s for s in shards if s["end"] > buffer.inserted - buffer.capacity]
    state = dict(state, replay_position=buffer.position_state(), replay_shards=live)
    _save(state, run_dir / CHECKPOINT)
    for s in shards:
        if s not in live:
            (run_dir / REPLAY_DIR / s["file"]).unlink(missing_ok=True)
    return live


def load_checkpoint(run_dir: Path, buffer: EpisodeBuffer) -> Dict[str, Any]:
    run_dir = Path(run_dir)
    state = load_file(run_dir / CHECKPOINT)
    if not isinstance(state, dict) or "replay_shards" not in state:
        raise MafacError(f"{run_dir / CHECKPOINT}: corrupt checkpoint (not a mafac checkpoint)")
    for shard in state["replay_shards"]:
        buffer.import_shard(load_file(run_dir / REPLAY_DIR / shard["file"]))
    buffer.load_position_state(state["replay_position"])
    return state
