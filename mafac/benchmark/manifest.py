"""The bench manifest: what was run, with which code, on which machine.

Its `grid` and `configs` decide whether a rerun under the same name is the same bench (resume)
or a different one (refused unless --force).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from mafac.errors import MafacError
from mafac.rundir import MANIFEST_JSON

MANIFEST = MANIFEST_JSON


def versions() -> Dict[str, Optional[str]]:
    from importlib import metadata

    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for dist in ("mafac", "torch", "jax", "jaxlib", "jaxmarl", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def git_commit() -> Optional[str]:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine() -> Dict[str, object]:
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "executable": sys.executable}


def build(grid: Dict[str, object], configs: Dict[str, Dict[str, object]]) -> Dict[str, object]:
    return {"grid": grid, "configs": configs, "versions": versions(), "git_commit": git_commit(), "machine": machine()}


def load(root: Path) -> Optional[Dict[str, object]]:
    path = Path(root) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MafacError(f"{path}: corrupt manifest ({e}); use --force to start this bench again")


def differences(old: Dict[str, object], new: Dict[str, object]) -> List[str]:
    """What makes `new` a different bench from `old` (empty: the same bench, so resume)."""
    diffs = []
    old_grid, new_grid = _identity_grid(old.get("grid", {})), _identity_grid(new["grid"])
    for key in sorted(set(old_grid) | set(new_grid)):
        if old_grid.get(key) != new_grid.get(key):
            diffs.append(f"grid.{key}: {old_grid.get(key)!r} -> {new_grid.get(key)!r}")
    old_cfg, new_cfg = old.get("configs", {}), new["configs"]
    for run in sorted(set(old_cfg) & set(new_cfg)):
        keys = _changed_keys(old_cfg[run], new_cfg[run])
        if keys:
            diffs.append(f"config of {run}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}")
    return diffs


# Where a run runs and what else it logs, not what it computes: a bench resumed on a GPU or with
# TensorBoard or W&B on (or recorded before these keys existed) is the same bench. The final
# evaluation reads the trained policy and changes nothing of it: another --final-episodes replays only it.
NOT_IDENTITY = ("run.device", "run.tensorboard", "run.wandb", "run.final_episodes")
# Keys added after benches were recorded, with the value that computes what those benches did: a
# manifest without the key is the same bench as one with this value (a constant learning rate).
ADDED_WITH_DEFAULT = {"learner.lr_schedule": "constant", "learner.lr_final": 0.0}


def _identity_grid(grid: Dict[str, object]) -> Dict[str, object]:
    """The grid without the --set texts and settings of NOT_IDENTITY keys: they reach the grid as
    the user typed them (`--set run.tensorboard=true`), before any config is resolved."""
    out = dict(grid)
    if isinstance(out.get("overrides"), list):
        out["overrides"] = [o for o in out["overrides"]
                            if not (isinstance(o, str) and o.partition("=")[0].strip() in NOT_IDENTITY)]
    if isinstance(out.get("settings"), dict):
        settings = {k: v for k, v in out["settings"].items() if k not in NOT_IDENTITY}
        if settings:
            out["settings"] = settings
        else:
            del out["settings"]  # absent when empty, as Bench.grid() records it
    return out


def _changed_keys(a: Dict[str, object], b: Dict[str, object], prefix: str = "") -> List[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        if f"{prefix}{k}" in NOT_IDENTITY:
            continue
        va, vb = a.get(k), b.get(k)
        added = ADDED_WITH_DEFAULT.get(f"{prefix}{k}", object())
        if (k not in a and vb == added) or (k not in b and va == added):
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _changed_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k} {va!r} -> {vb!r}")
    return keys
