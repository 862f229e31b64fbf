"""How the library reports: through the standard `logging` module, under the logger "mafac" and
its children ("mafac.bench", "mafac.sweep", ...). A notebook sees warnings (Python's default) and
can raise or lower the level; the command line shows every line on stderr through `console()`."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

ROOT = "mafac"


def get(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{ROOT}.{name}" if name else ROOT)


class _Stderr(logging.StreamHandler):
    """A StreamHandler on whatever sys.stderr is when a line is written (a test's capture, click's runner)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"warning: {text}" if record.levelno == logging.WARNING else text


@contextlib.contextmanager
def console(level: int = logging.INFO) -> Iterator[logging.Handler]:
    """Every "mafac" record at `level` or above, as one line on stderr ("warning: " before a
    warning's), while the block runs: the command line's own output."""
    handler = _Stderr()
    handler.setFormatter(_Format())
    logger = get()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
