"""Moving a run directory between a remote worker's scratch disk and the bench's results directory.

On a cluster without a shared filesystem the path the driver chose exists only on the driver's
machine. A remote task therefore trains in a node-local scratch directory and ships the run
directory back at every evaluation (the moments when its files form a consistent checkpoint); a
task that starts or restarts on any node is first given the driver's copy, so it resumes from the
last checkpoint that reached the driver.

A shipment lists every file present and carries those that changed since the last one; the
receiver writes replay shards first, then the checkpoint that refers to them, then metrics and
run.json, each atomically, and only then deletes what the sender no longer has. Whatever
instant the sender dies at, the receiver's copy is a checkpoint it can resume from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

from mafac.atomic import write_bytes
from mafac.checkpoint import REPLAY_DIR
from mafac.errors import MafacError
from mafac.rundir import CHECKPOINT, RUN_JSON

SCRATCH_ENV = "MAFAC_SCRATCH"  # per node: where remote tasks keep their working run directories

Files = Dict[str, bytes]  # path relative to the run dir (posix) -> content


def scratch_root() -> Path:
    return Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "mafac-scratch")


def _rank(rel: str) -> int:
    """Write order: what others refer to first, the file that says how far the run got last."""
    if rel.startswith(REPLAY_DIR + "/"):
        return 0
    if rel == CHECKPOINT:
        return 1
    if rel == RUN_JSON:
        return 3
    return 2


def list_files(run_dir: Path) -> List[str]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    # dot files: atomic writes in flight; links: a writer's shortcuts to files listed themselves
    # (W&B's wandb/debug.log), which would arrive as copies and stop it making them again
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
                  if p.is_file() and not p.is_symlink() and not p.name.startswith("."))


def read_files(run_dir: Path) -> Files:
    """The whole run directory, to seed a task that resumes it on another node."""
    return {rel: (Path(run_dir) / rel).read_bytes() for rel in list_files(run_dir)}


def materialize(files: Files, run_dir: Path) -> None:
    """Recreate a run directory from its files (replacing whatever was there)."""
    run_dir = Path(run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    apply_shipment(run_dir, list(files), files)


def apply_shipment(run_dir: Path, present: List[str], changed: Files) -> None:
    run_dir = Path(run_dir)
    for rel in sorted(changed, key=lambda r: (_rank(r), r)):
        target = run_dir / rel
        if run_dir.resolve() not in target.resolve().parents:
            raise MafacError(f"refusing to write {rel!r} outside the run directory {run_dir}")
        write_bytes(target, changed[rel])
    keep = set(present)
    for rel in list_files(run_dir):
        if rel not in keep:
            (run_dir / rel).unlink(missing_ok=True)


class Shipper:
    """Tracks what has been sent from one run directory; `shipment()` is the next delta."""

    def __init__(self, run_dir: Path, already: Files = None) -> None:
        self.run_dir = Path(run_dir)
        self.sent: Dict[str, Tuple[int, int]] = {}
        for rel in already or {}:  # the seed files the receiver already has
            self.sent[rel] = self._stamp(rel)

    def _stamp(self, rel: str) -> Tuple[int, int]:
        st = (self.run_dir / rel).stat()
        return st.st_size, st.st_mtime_ns

    def shipment(self) -> Tuple[List[str], Files]:
        present = list_files(self.run_dir)
        changed: Files = {}
        for rel in present:
            stamp = self._stamp(rel)
            if self.sent.get(rel) != stamp:
                changed[rel] = (self.run_dir / rel).read_bytes()
                self.sent[rel] = stamp
        for rel in set(self.sent) - set(present):
            del self.sent[rel]
        return present, changed
