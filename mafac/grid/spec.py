"""What a bench is: the grid, its budget, its name, and the jobs it expands to."""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mafac.errors import MafacError
from mafac.rundir import run_name

# Env steps per run when --steps is not given. Chosen from measured learning curves
# (results/learning_smax): QMIX on SMAX 3m first reaches >= 95% test win rate near 500k steps.
BENCH_STEPS: Dict[str, int] = {"3m": 500_000, "8m": 500_000}
BENCH_STEPS_DEFAULT = 500_000

# Measured training throughput of one run on one core of this 2-core machine (env steps/s,
# benchmarks/throughput.py and the learning runs); only used to print an estimate before starting.
STEPS_PER_SECOND: Dict[str, float] = {"3m": 700.0, "8m": 350.0}
STEPS_PER_SECOND_DEFAULT = 300.0
STARTUP_S = 20.0  # process start, imports, loading the cached JAX compile


def parse_list(text: str, what: str) -> List[str]:
    items = [x.strip() for x in (text or "").split(",") if x.strip()]
    if not items:
        raise MafacError(f"bad --{what} {text!r}; expected a comma-separated list")
    return items


def parse_seeds(text: str) -> List[int]:
    """'3' -> [0, 1, 2]; '0,4,7' -> [0, 4, 7]."""
    text = str(text).strip()
    try:
        if "," not in text:
            n = int(text)
            if n <= 0:
                raise ValueError
            return list(range(n))
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MafacError(f"bad --seeds {text!r}; expected a count (3) or a list of integers (0,1,2)")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise MafacError(f"bad --seeds {text!r}; seeds must be distinct integers")
    return seeds


def default_name(algos: Sequence[str], maps: Sequence[str], today: Optional[datetime.date] = None) -> str:
    day = (today or datetime.date.today()).strftime("%Y%m%d")
    name = f"{'-'.join(algos)}_{'-'.join(maps)}_{day}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def budget(map_name: str, steps: Optional[int]) -> int:
    return steps if steps is not None else BENCH_STEPS.get(map_name, BENCH_STEPS_DEFAULT)


def estimate_seconds(jobs: Sequence["Job"], workers: int) -> float:
    """Greedy longest-first schedule of the jobs' estimated durations over `workers` slots."""
    durations = sorted((STARTUP_S + j.steps / STEPS_PER_SECOND.get(j.map, STEPS_PER_SECOND_DEFAULT)
                        for j in jobs), reverse=True)
    slots = [0.0] * max(1, workers)
    for d in durations:
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots) if durations else 0.0


@dataclass
class Job:
    """One grid cell: everything a worker process needs to build the config and train."""

    algo: str
    map: str
    seed: int
    steps: int
    run_dir: str
    overrides: List[str] = field(default_factory=list)
    config_file: Optional[str] = None
    preset: Optional[str] = None
    env_backend: Optional[str] = None

    @property
    def name(self) -> str:
        return run_name(self.algo, self.map, self.seed)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


def expand(algos: Sequence[str], maps: Sequence[str], seeds: Sequence[int], steps: Optional[int], root: Path,
           overrides: Sequence[str] = (), config_file: Optional[str] = None, preset: Optional[str] = None,
           env_backend: Optional[str] = None) -> List[Job]:
    """Map-major order, so the partial results of an interrupted bench cover whole maps first."""
    return [Job(a, m, s, budget(m, steps), str(Path(root) / "runs" / run_name(a, m, s)), list(overrides),
                config_file, preset, env_backend)
            for m in maps for a in algos for s in seeds]
