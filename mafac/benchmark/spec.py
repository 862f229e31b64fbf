"""What a bench is: the one `Bench` object (grid, config source, execution), its budget, its name,
and the jobs it expands to. The CLI, the Python API and `mafac sweep` all build a `Bench` and hand
it whole to `run_bench`; its values stay typed from there to each run's config."""

from __future__ import annotations

import datetime
import re
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from mafac.config import DEFAULT_PRESET
from mafac.errors import MafacError
from mafac.rundir import RUNS_DIR, run_name

# The preset a bench run starts from unless --preset or a --config file names one: the one default
# of every entry point (mafac/config.py, DEFAULT_PRESET).
BENCH_PRESET = DEFAULT_PRESET

# Env steps per run when --steps is not given, for the default 18-run bench (vdn, qmix, qtran x 3m,
# 8m x 3 seeds) with the `fast` preset to take about 60 minutes on 2 cores (measured: 64.3 min on an
# AMD EPYC, results/reference). Per CPU-minute, more env steps beat more updates and the sweep's best
# setting (results/recipe/NOTES.md): 3m went 300k -> 500k, where QMIX's 3-seed evaluations rise from
# 0.82 to 0.88 (results/long_qmix_3m) and then level off; 8m stays at 400k because the budget has no
# room for more (its runs cost ~2.5x a 3m run).
BENCH_STEPS: Dict[str, int] = {"3m": 500_000, "8m": 400_000,
                               # MPE (--env mpe): 20,000 episodes of 25 steps, untuned; MPE papers run
                               # 1-2M, and the first MPE bench will say whether this is enough
                               "simple_spread_v3": 500_000, "simple_reference_v3": 500_000,
                               "simple_speaker_listener_v4": 500_000}
BENCH_STEPS_DEFAULT = 300_000


def parse_list(text: str, what: str) -> List[str]:
    items = [x.strip() for x in (text or "").split(",") if x.strip()]
    if not items:
        raise MafacError(f"bad --{what} {text!r}; expected a comma-separated list")
    return items


def parse_seeds(text: str) -> List[int]:
    """'3' -> [0, 1, 2] (a count); '0,4,7' -> [0, 4, 7] and '5,' -> [5] (seed ids: any comma)."""
    text = str(text).strip()
    try:
        if "," not in text:
            n = int(text)
            if n <= 0:
                raise MafacError(f"bad --seeds {text!r}; a number alone is a count of seeds, so it must be >= 1: "
                                 f"--seeds 1 runs seed 0, --seeds {n}, runs seed {n} alone, --seeds 0,4 runs seeds 0 and 4")
            return list(range(n))
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MafacError(f"bad --seeds {text!r}; expected a count (3 = seeds 0,1,2) or seed ids with commas (0,4,7 or 5,)")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise MafacError(f"bad --seeds {text!r}; seeds must be distinct integers")
    return seeds


def default_name(algos: Sequence[str], maps: Sequence[str], today: Optional[datetime.date] = None) -> str:
    day = (today or datetime.date.today()).strftime("%Y%m%d")
    name = f"{'-'.join(algos)}_{'-'.join(maps)}_{day}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def budget(map_name: str, steps: Optional[int]) -> int:
    return steps if steps is not None else BENCH_STEPS.get(map_name, BENCH_STEPS_DEFAULT)


def longest_first(jobs: Sequence["Job"], seconds: Optional[Dict[str, float]] = None) -> List["Job"]:
    """Start the longest runs first: with few workers, a long run started last would leave the
    other workers idle at the end (the classic LPT rule). `seconds`: each run's estimated duration
    by name (mafac/benchmark/throughput.py); without it, the runs with the most env steps first.
    Ties keep map-major order."""
    if seconds is not None and all(j.name in seconds for j in jobs):
        return sorted(jobs, key=lambda j: -seconds[j.name])
    return sorted(jobs, key=lambda j: -j.steps)


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
    settings: Dict[str, Any] = field(default_factory=dict)  # typed, applied after the overrides
    final_episodes: Optional[int] = None  # the final evaluation's episodes (None: 10 x env.test_n_envs)

    @property
    def name(self) -> str:
        return run_name(self.algo, self.map, self.seed)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    def config(self):
        """The run's resolved Config; the bench's own preset applies unless one is named."""
        from mafac.config import build_config

        from mafac.finals import FINAL_EPISODES_FACTOR

        cfg = build_config(algo=self.algo, map_name=self.map, seed=self.seed, preset=self.preset,
                           config_file=self.config_file, overrides=list(self.overrides),
                           settings={**self.settings, "run.t_max": self.steps},
                           env_backend=self.env_backend, default_preset=BENCH_PRESET)
        n = self.final_episodes
        cfg.run.final_episodes = FINAL_EPISODES_FACTOR * cfg.env.test_n_envs if n is None else n
        return cfg


def expand(algos: Sequence[str], maps: Sequence[str], seeds: Sequence[int], steps: Optional[int], root: Path,
           overrides: Sequence[str] = (), config_file: Optional[str] = None, preset: Optional[str] = None,
           env_backend: Optional[str] = None, settings: Optional[Dict[str, Any]] = None,
           final_episodes: Optional[int] = None) -> List[Job]:
    """Map-major order, so the partial results of an interrupted bench cover whole maps first."""
    return [Job(a, m, s, budget(m, steps), str(Path(root) / RUNS_DIR / run_name(a, m, s)), list(overrides),
                config_file, preset, env_backend, dict(settings or {}), final_episodes)
            for m in maps for a in algos for s in seeds]


@dataclass
class Bench:
    """One bench, whole: the grid, where its configs come from, and how it executes.

    Built once (`Bench.build` checks and types every option) by the CLI, the API or a sweep, then
    handed whole to `run_bench`. `overrides` are `--set` texts as a user typed them; `settings` are
    typed values (API keywords, a sweep trial's parameters), applied after them.
    """

    # the grid
    algos: List[str]
    maps: List[str]
    seeds: List[int]
    steps: Optional[int] = None
    # where each run's config comes from
    preset: Optional[str] = None
    env: Optional[str] = None
    config_file: Optional[str] = None
    overrides: List[str] = field(default_factory=list)
    settings: Dict[str, Any] = field(default_factory=dict)
    # execution
    name: str = ""
    out_root: str = "results"
    workers: int = 1
    executor: str = "local"
    address: Optional[str] = None
    memory: Optional[int] = None  # bytes for the runs at once (None: only refuse what cannot fit)
    force: bool = False
    render: bool = False
    final_episodes: Optional[int] = None  # greedy episodes of each final policy (None: 10 x env.test_n_envs; 0: none)
    probe: bool = True  # measure each (algo, map) here for the wall-time estimate (cached per machine)
    aggregate: bool = True  # table.md and plots/ at the end (a sweep's trials skip them: it reports itself)
    group: Optional[str] = None  # its runs' W&B group (run.wandb); None: its name

    @classmethod
    def build(cls, algos: Union[str, Sequence[str]] = ("vdn", "qmix", "qtran"),
              maps: Union[str, Sequence[str]] = ("3m", "8m"), seeds: Union[int, str, Sequence[int]] = 3,
              steps: Optional[int] = None, *, workers: Optional[int] = None, memory: Union[int, str, None] = None,
              name: Optional[str] = None, out_root: Union[str, Path] = "results", overrides: Sequence[str] = (),
              config_file: Union[str, Path, None] = None, settings: Optional[Dict[str, Any]] = None,
              **rest: Any) -> "Bench":
        """A checked, typed Bench from what a user wrote: comma lists or lists, a seed count or ids,
        a memory size like '20G'. `rest`: preset, env, executor, address, force, render, final_episodes, probe."""
        from mafac.memory import parse_size

        algo_list = parse_list(algos, "algos") if isinstance(algos, str) else list(algos)
        map_list = parse_list(maps, "maps") if isinstance(maps, str) else list(maps)
        if isinstance(seeds, (int, str)):
            seed_list = parse_seeds(str(seeds))
        else:
            seed_list = parse_seeds(",".join(str(s) for s in seeds) + ",")
        if steps is not None and steps <= 0:
            raise MafacError(f"bad --steps {steps!r}; it must be > 0")
        if rest.get("final_episodes") is not None and rest["final_episodes"] < 0:
            raise MafacError(f"bad --final-episodes {rest['final_episodes']!r}; it must be >= 0 (0: no final evaluation)")
        workers = (os.cpu_count() or 1) if workers is None else workers
        if workers <= 0:
            raise MafacError(f"bad --workers {workers!r}; it must be >= 1")
        return cls(algos=algo_list, maps=map_list, seeds=seed_list, steps=steps, overrides=list(overrides),
                   config_file=None if config_file is None else str(config_file), settings=dict(settings or {}),
                   name=name or default_name(algo_list, map_list), out_root=str(out_root), workers=workers,
                   memory=parse_size(memory) if isinstance(memory, str) else memory, **rest)

    @property
    def root(self) -> Path:
        return Path(self.out_root) / self.name

    def jobs(self) -> List[Job]:
        return expand(self.algos, self.maps, self.seeds, self.steps, self.root, self.overrides, self.config_file,
                      self.preset, self.env, self.settings, self.final_episodes)

    def grid(self) -> Dict[str, object]:
        """What the manifest records as the grid (a rerun must agree with it to resume)."""
        out: Dict[str, object] = {
            "algos": list(self.algos), "maps": list(self.maps), "seeds": list(self.seeds),
            "steps": {m: budget(m, self.steps) for m in self.maps},
            "env": self.env, "preset": self.preset, "overrides": list(self.overrides), "config_file": self.config_file}
        if self.settings:  # absent when empty, so benches recorded before settings existed still match
            out["settings"] = dict(self.settings)
        return out

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Bench":
        return cls(**data)

    def variant(self, name: str, out_root: Union[str, Path], settings: Dict[str, Any]) -> "Bench":
        """The same grid and execution under another name, with more settings (a sweep's trial,
        whose runs W&B groups as `<sweep>/<trial>`: trial names repeat from one sweep to the next)."""
        return replace(self, name=name, out_root=str(out_root), settings={**self.settings, **settings},
                       aggregate=False, final_episodes=0,  # the sweep scores evaluations; finals: its confirmation
                       probe=False, group=f"{self.name}/{name}")
