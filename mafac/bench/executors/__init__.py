"""Bench executors: how grid cells get run. One file each, found through `mafac.executors`."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from mafac.registry import Registry


class Executor:
    """Runs `run_job` for every job, at most `workers` at once.

    `on_done(result)` is called in the bench process as each job ends; `poll()` is called about
    once a second so the bench can redraw progress. Ctrl-C must stop every job promptly.
    """

    def __init__(self, workers: int, address: Optional[str] = None) -> None:
        self.workers = workers
        self.address = address

    def run(self, jobs: List[Dict[str, object]], on_done: Callable[[Dict[str, object]], None],
            poll: Callable[[List[str]], None]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _validate(obj: object) -> Optional[str]:
    if not (isinstance(obj, type) and issubclass(obj, Executor)):
        return "does not implement the executor interface (must subclass mafac.bench.executors.Executor)"
    return None


EXECUTORS = Registry(kind="executor", group="mafac.executors", validate=_validate)


def get_executor(name: str) -> type:
    return EXECUTORS.get(name)
