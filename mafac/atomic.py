"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every results file (metrics, configs, checkpoints, summaries) goes through here, so that a bench
killed with SIGKILL at any moment leaves only complete files behind (plus stray temp files,
which are ignored and overwritten).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, writer: Callable[[IO], None], binary: bool = False) -> Path:
    """Write through `writer(fileobj)` into a temp file beside `path`, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda f: f.write(text))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data), binary=True)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
