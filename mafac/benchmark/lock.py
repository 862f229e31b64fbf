"""One bench at a time per results directory.

Two benches on one name would train the same run directories at once and corrupt each other's
checkpoints. The running bench holds an exclusive `flock` on `<results>/.bench.lock` and writes
who it is (pid, host, start time, command) into it. The kernel drops the lock when the process
ends in any way, kill -9 and reboots included, so a stale file never blocks anyone: only a
live holder does, and the refusal names it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

from mafac.errors import MafacError

LOCK_FILE = ".bench.lock"


class BenchLock:
    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_FILE
        self.fd: Optional[int] = None

    def __enter__(self) -> "BenchLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by workers (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(fd)
            os.close(fd)
            raise MafacError(f"{self.path.parent} is in use by another mafac bench ({holder}); "
                             f"wait for it to finish, or use another --name")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(["mafac"] + sys.argv[1:])}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _describe_holder(fd: int) -> str:
    try:
        h = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {h['pid']} on {h['host']}, started {h['started']}: {h['command']}"
    except (ValueError, KeyError, UnicodeDecodeError):
        return "a holder that has not written its name yet"
