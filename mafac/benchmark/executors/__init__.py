"""Bench executors: how grid cells get run. One file each, found through `mafac.executors`."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from mafac.registry import Registry


class Executor:
    """Runs `run_job` for every job, at most `workers` at once.

    A job is a plain dict: `name` (its one identity, e.g. `qmix__3m__s0`), `run_dir` (where the
    bench reads its results), `steps`, the resolved `config` and `bench` (the bench's name, or a sweep trial's `<sweep>/<trial>`). `on_done(result)` is called in the
    bench process as each job ends, with the job's `name` in the result; `poll(names)` is called
    about once a second with the names still running, so the bench can redraw progress. Once
    `stopped`, no further job is started. The run
    directory must hold the job's files when `on_done` is called, whatever machine ran it. Ctrl-C
    must stop every job promptly.
    """

    def __init__(self, workers: int, address: Optional[str] = None) -> None:
        self.workers = workers
        self.address = address
        self.stopped = False  # set by `stop_starting`: the jobs not started yet stay so

    def stop_starting(self) -> None:
        """Start no more jobs (the disk is full); those running go on to their end."""
        self.stopped = True

    def run(self, jobs: List[Dict[str, object]], on_done: Callable[[Dict[str, object]], None],
            poll: Callable[[List[str]], None]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _validate(obj: object) -> Optional[str]:
    if not (isinstance(obj, type) and issubclass(obj, Executor)):
        return "does not implement the executor interface (must subclass mafac.benchmark.executors.Executor)"
    return None


EXECUTORS = Registry(kind="executor", group="mafac.executors", validate=_validate)


def get_executor(name: str) -> type:
    return EXECUTORS.get(name)
