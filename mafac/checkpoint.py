"""Checkpoints that let an interrupted run continue exactly as if it never stopped, and that load
without running code.

Run directories travel (shared, committed, pulled from a cluster), so a checkpoint is data, never
code: it holds only tensors and plain containers (dict, list, tuple, str, int, float, bool, None)
and is read with `torch.load(weights_only=True)`, which refuses any other Python object instead of
unpickling it. numpy arrays (env states, RNG states) travel as tensors tagged with `__ndarray__`.
Every checkpoint carries a format name and version; a loader compares each key, type, shape and
dtype with what this trainer itself would save, and names the first that differs.

The replay is the bulk of a run's state, so it is saved incrementally: each checkpoint writes a
shard with only the episodes inserted since the previous one, and the checkpoint lists the shards
still needed (older ones, fully overwritten in the ring buffer, are deleted). A shard is named by
its episode range alone (`shard_<start>_<end>.pt`); the name is derived from the numbers on every
read and delete, so a crafted checkpoint cannot point outside its run directory. Each file is
written atomically, and the checkpoint is written last, so a kill at any moment leaves either the
old or the new checkpoint, each with all of its shards.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import torch

from mafac.atomic import write_bytes
from mafac.errors import MafacError
from mafac.replay import EpisodeBuffer
from mafac.rundir import CHECKPOINT

REPLAY_DIR = "replay"
FORMAT = "mafac-checkpoint"
# 2: plain data only (weights_only). 1 (unversioned): mafac 0.1's pickles, refused: loading one
# could run code.
FORMAT_VERSION = 2
NDARRAY = "__ndarray__"

# Parts of a checkpoint whose size legitimately changes as a run goes on: compared by their own
# rules below instead of against the fresh trainer's template.
# The optimizer is checked against the parameters' shapes instead (its state is empty until the
# first update, and torch validates its param groups itself).
_GROWS = ("rows", "replay_shards", "learner.optimizer", "config")


def shard_name(start: int, end: int) -> str:
    return f"shard_{start:09d}_{end:09d}.pt"


# -- plain data ------------------------------------------------------------------------------------
def to_plain(obj: Any) -> Any:
    """numpy arrays and scalars -> tagged tensors / Python numbers; containers recursively."""
    if isinstance(obj, np.ndarray):
        return {NDARRAY: torch.from_numpy(np.array(obj, copy=True, order="C"))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def from_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {NDARRAY}:
            return obj[NDARRAY].numpy()
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_plain(v) for v in obj)
    return obj


def _save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_file(path: Path) -> Any:
    """A checkpoint or shard file as plain data; never unpickles anything else."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MafacError(f"{path}: missing")
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():  # garbage, not a refused object
            raise MafacError(f"{path}: corrupt checkpoint (UnpicklingError)")
        lines = [ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln or "global" in ln]
        why = f" ({lines[0].rstrip('.')})" if lines else ""
        raise MafacError(f"{path}: refused: it holds Python objects, not only tensors and plain data, and "
                         f"loading it could run code{why}; it is not a checkpoint of this mafac "
                         f"(format {FORMAT_VERSION}): retrain, or load it only if you trust its source")
    except Exception as e:  # a truncated or foreign file
        raise MafacError(f"{path}: corrupt checkpoint ({type(e).__name__})")


def read_checkpoint(path: Path) -> Dict[str, Any]:
    """The checkpoint file's contents, after checking it is one, of this format version."""
    state = load_file(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise MafacError(f"{path}: not a mafac checkpoint (no '{FORMAT}' format tag)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise MafacError(f"{path}: checkpoint format version {version!r}; this mafac reads version "
                         f"{FORMAT_VERSION}: retrain the run with this version")
    return state


# -- structure checks ------------------------------------------------------------------------------
def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a {str(x.dtype).replace('torch.', '')} tensor of shape {list(x.shape)}"
    if isinstance(x, dict):
        return "a mapping"
    return type(x).__name__


def check_like(obj: Any, template: Any, where: str, path: Path, grows: Sequence[str] = (),
               partial: bool = False) -> None:
    """Raise naming the first key, type, shape or dtype of `obj` that differs from `template`
    (`partial`: keys the template does not have are allowed, for a reader of only some parts)."""
    def bad(what: str) -> MafacError:
        return MafacError(f"{path}: bad checkpoint: {where or 'top level'}: {what}")

    if where in grows:
        return
    if isinstance(template, torch.Tensor):
        if not isinstance(obj, torch.Tensor):
            raise bad(f"expected {_describe(template)}, found {_describe(obj)}")
        if obj.shape != template.shape or obj.dtype != template.dtype:
            raise bad(f"expected {_describe(template)}, found {_describe(obj)}")
        return
    if isinstance(template, Mapping):
        if not isinstance(obj, Mapping):
            raise bad(f"expected a mapping, found {_describe(obj)}")
        for key in template:
            if key not in obj:
                raise bad(f"missing key {key!r}")
        for key in obj:
            if key not in template and not partial:
                raise bad(f"unexpected key {key!r}")
        for key in template:
            check_like(obj[key], template[key], f"{where}.{key}" if where else str(key), path, grows, partial)
        return
    if isinstance(template, (list, tuple)):
        if not isinstance(obj, (list, tuple)) or len(obj) != len(template):
            raise bad(f"expected a sequence of {len(template)}, found {_describe(obj)}"
                      + (f" of {len(obj)}" if isinstance(obj, (list, tuple)) else ""))
        for i, (o, t) in enumerate(zip(obj, template)):
            check_like(o, t, f"{where}[{i}]", path, grows, partial)
        return
    if template is None:
        if obj is not None:
            raise bad(f"expected None, found {_describe(obj)}")
        return
    numbers = (int, float)
    ok = (isinstance(obj, bool) if isinstance(template, bool)
          else isinstance(obj, numbers) and not isinstance(obj, bool) if isinstance(template, numbers)
          else isinstance(obj, type(template)))
    if not ok:
        raise bad(f"expected {_describe(template)}, found {_describe(obj)}")


def _check_optimizer(optimizer: Any, param_shapes: Sequence[Sequence[int]], path: Path) -> None:
    """The optimizer's per-parameter state: tensors shaped like their parameters (or scalars)."""
    where = f"{path}: bad checkpoint: learner.optimizer"
    if not (isinstance(optimizer, Mapping) and isinstance(optimizer.get("state"), Mapping)
            and isinstance(optimizer.get("param_groups"), list)):
        raise MafacError(f"{where}: expected a mapping with 'state' and 'param_groups'")
    ids = [pid for g in optimizer["param_groups"] if isinstance(g, Mapping) for pid in g.get("params", [])]
    if len(ids) != len(param_shapes):
        raise MafacError(f"{where}.param_groups: {len(ids)} parameters, the networks have {len(param_shapes)}")
    shapes = dict(zip(ids, param_shapes))
    for pid, entry in optimizer["state"].items():
        if pid not in shapes or not isinstance(entry, Mapping):
            raise MafacError(f"{where}.state[{pid!r}]: no such parameter")
        for name, value in entry.items():
            if not isinstance(value, (torch.Tensor, int, float)):
                raise MafacError(f"{where}.state[{pid}].{name}: expected a tensor, found {_describe(value)}")
            if isinstance(value, torch.Tensor) and value.dim() > 0 and list(value.shape) != list(shapes[pid]):
                raise MafacError(f"{where}.state[{pid}].{name}: expected shape {list(shapes[pid])}, "
                                 f"found {list(value.shape)}")


def _check_shards(shards: Any, inserted: int, path: Path) -> List[Dict[str, int]]:
    ok = isinstance(shards, list) and all(
        isinstance(s, Mapping) and set(s) == {"start", "end"}
        and all(isinstance(s[k], int) and not isinstance(s[k], bool) for k in ("start", "end"))
        and 0 <= s["start"] < s["end"] <= inserted for s in shards)
    if not ok:
        raise MafacError(f"{path}: bad checkpoint: replay_shards: expected a list of {{start, end}} episode "
                         f"ranges within the {inserted} episodes inserted")
    return [{"start": s["start"], "end": s["end"]} for s in shards]


def _check_shard(shard: Any, buffer: EpisodeBuffer, path: Path) -> None:
    fields = buffer.data
    if not isinstance(shard, Mapping) or set(shard) != set(fields) | {"lengths", "slots"}:
        raise MafacError(f"{path}: bad replay shard: expected the keys {sorted(set(fields) | {'lengths', 'slots'})}")
    slots, lengths = shard["slots"], shard["lengths"]
    if not (isinstance(slots, torch.Tensor) and slots.dtype == torch.int64 and slots.dim() == 1):
        raise MafacError(f"{path}: bad replay shard: slots: expected an int64 vector")
    n = slots.shape[0]
    if n and (int(slots.min()) < 0 or int(slots.max()) >= buffer.capacity):
        raise MafacError(f"{path}: bad replay shard: slots outside the replay's {buffer.capacity} slots")
    if not (isinstance(lengths, torch.Tensor) and lengths.shape == (n,) and lengths.dtype == torch.int64):
        raise MafacError(f"{path}: bad replay shard: lengths: expected an int64 vector of {n}")
    for key, tensor in fields.items():
        part = shard[key]
        ok = (isinstance(part, torch.Tensor) and part.dtype == tensor.dtype and part.dim() == tensor.dim()
              and part.shape[0] == n and part.shape[1] <= tensor.shape[1] and part.shape[2:] == tensor.shape[2:])
        if not ok:
            raise MafacError(f"{path}: bad replay shard: {key}: expected a {str(tensor.dtype).replace('torch.', '')} "
                             f"tensor of shape [{n}, <= {tensor.shape[1]}, {', '.join(map(str, tensor.shape[2:]))}], "
                             f"found {_describe(part)}")


# -- save / load -----------------------------------------------------------------------------------
def save_checkpoint(run_dir: Path, state: Dict[str, Any], buffer: EpisodeBuffer, shards: List[Dict[str, int]]) -> List[Dict[str, int]]:
    """Write a new replay shard (if any episodes arrived) and then the checkpoint; returns the shard
    list. `state` must be plain data (see `to_plain`)."""
    run_dir = Path(run_dir)
    last_end = shards[-1]["end"] if shards else 0
    if buffer.inserted > last_end:
        _save(buffer.export_since(last_end), run_dir / REPLAY_DIR / shard_name(last_end, buffer.inserted))
        shards = shards + [{"start": last_end, "end": buffer.inserted}]
    # A shard is dead once every episode in it has been overwritten in the ring buffer.
    live = [s for s in shards if s["end"] > buffer.inserted - buffer.capacity]
    state = dict(state, format=FORMAT, format_version=FORMAT_VERSION,
                 replay_position=buffer.position_state(), replay_shards=live)
    _save(state, run_dir / CHECKPOINT)
    for s in shards:
        if s not in live:
            (run_dir / REPLAY_DIR / shard_name(s["start"], s["end"])).unlink(missing_ok=True)
    return live


def load_checkpoint(run_dir: Path, buffer: EpisodeBuffer, template: Dict[str, Any],
                    param_shapes: Sequence[Sequence[int]]) -> Dict[str, Any]:
    """Read and check the checkpoint against `template` (what this trainer would save now; the
    optimizer against its parameters' shapes), load its replay shards into `buffer`, and return it
    decoded (numpy arrays back as numpy)."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    state = read_checkpoint(path)
    if "simulator_version" in template and "simulator_version" not in state:
        state["simulator_version"] = ""  # written before the key existed: the version is unknown
    template = dict(template, format=FORMAT, format_version=FORMAT_VERSION,
                    replay_position=buffer.position_state(), replay_shards=[])
    check_like(state, template, "", path, _GROWS)
    _check_optimizer(state["learner"]["optimizer"], param_shapes, path)
    position = state["replay_position"]
    if not 0 <= position["size"] <= buffer.capacity or not 0 <= position["position"] < buffer.capacity:
        raise MafacError(f"{path}: bad checkpoint: replay_position: outside the replay's {buffer.capacity} slots")
    shards = _check_shards(state["replay_shards"], position["inserted"], path)
    for s in shards:
        shard_path = run_dir / REPLAY_DIR / shard_name(s["start"], s["end"])
        shard = load_file(shard_path)
        _check_shard(shard, buffer, shard_path)
        buffer.import_shard(shard)
    buffer.load_position_state(position)
    state["replay_shards"] = shards
    return from_plain(state)


def verify_run_dir(run_dir: Path) -> None:
    """What a bench checks before resuming a run: the checkpoint reads as one of this version and
    every replay shard it lists is there and loadable (a checkpoint is only as good as its shards).
    The full key-by-key check happens when the run itself resumes."""
    run_dir = Path(run_dir)
    state = read_checkpoint(run_dir / CHECKPOINT)
    position = state.get("replay_position")
    inserted = position.get("inserted") if isinstance(position, Mapping) else None
    if not isinstance(inserted, int):
        raise MafacError(f"{run_dir / CHECKPOINT}: bad checkpoint: replay_position: missing or malformed")
    for s in _check_shards(state.get("replay_shards"), inserted, run_dir / CHECKPOINT):
        load_file(run_dir / REPLAY_DIR / shard_name(s["start"], s["end"]))
