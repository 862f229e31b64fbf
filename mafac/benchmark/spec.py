"""What a bench is: the one `Bench` object (grid, budget, the `ConfigSource` of its runs, execution),
its name, and the jobs it expands to. The CLI, the Python API and `mafac sweep` all build a `Bench`
and hand it whole to `run_bench`; its values stay typed from there to each run's config."""

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

# Env steps per run when --steps is not given, by learner kind: the default 18-run bench in about an
# hour on 2 cores. The online learner buys 2.7-3.4x the replay learner's env steps per CPU-second,
# so its budgets are larger for the same wall time (docs/results.md, results/online_3m/NOTES.md;
# the replay figures' history: results/recipe/NOTES.md).
_MPE_STEPS = {"simple_spread_v3": 500_000, "simple_reference_v3": 500_000,  # 20,000 episodes of 25 steps, untuned
              "simple_speaker_listener_v4": 500_000}
BENCH_STEPS: Dict[str, Dict[str, int]] = {
    "replay": {"3m": 500_000, "8m": 400_000, **_MPE_STEPS},
    "online": {"3m": 1_200_000, "8m": 800_000, **_MPE_STEPS},
}
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


def budget(map_name: str, steps: Optional[int], learner: str = "replay") -> int:
    """--steps if given, else the map's default under that learner kind."""
    if steps is not None:
        return steps
    return BENCH_STEPS.get(learner, BENCH_STEPS["replay"]).get(map_name, BENCH_STEPS_DEFAULT)


def longest_first(jobs: Sequence["Job"], seconds: Optional[Dict[str, float]] = None) -> List["Job"]:
    """Start the longest runs first: with few workers, a long run started last would leave the
    other workers idle at the end (the classic LPT rule). `seconds`: each run's estimated duration
    by name (mafac/benchmark/throughput.py); without it, the runs with the most env steps first.
    Ties keep map-major order."""
    if seconds is not None and all(j.name in seconds for j in jobs):
        return sorted(jobs, key=lambda j: -seconds[j.name])
    return sorted(jobs, key=lambda j: -j.steps)


@dataclass
class ConfigSource:
    """Where every run's config of a bench comes from, and how one is resolved: the preset (the
    bench's default unless named), the env backend, a --config file, the `--set` texts as a user
    typed them, typed `settings` (API keywords, a sweep trial's parameters) applied after them,
    and the final evaluation's episodes (None: the default of mafac/finals.py; 0: none)."""

    preset: Optional[str] = None
    backend: Optional[str] = None
    config_file: Optional[str] = None
    overrides: List[str] = field(default_factory=list)
    settings: Dict[str, Any] = field(default_factory=dict)
    final_episodes: Optional[int] = None

    def __post_init__(self) -> None:
        if self.final_episodes is not None and self.final_episodes < 0:
            raise MafacError(f"bad --final-episodes {self.final_episodes!r}; it must be >= 0 (0: no final evaluation)")

    def learner_kind(self, algo: str, map_name: str) -> str:
        """The learner its runs use (it sets the default budgets): the preset, file and overrides decide it."""
        return self.resolve(algo, map_name, 0, BENCH_STEPS_DEFAULT).learner.kind

    def resolve(self, algo: str, map_name: str, seed: int, steps: int):
        """One grid cell's resolved Config."""
        from mafac.config import build_config
        from mafac.finals import default_episodes

        cfg = build_config(algo=algo, map_name=map_name, seed=seed, preset=self.preset, config_file=self.config_file,
                           overrides=list(self.overrides), settings={**self.settings, "run.t_max": steps},
                           backend=self.backend, default_preset=BENCH_PRESET)
        n = self.final_episodes
        cfg.run.final_episodes = default_episodes(cfg) if n is None else n
        return cfg

    def with_settings(self, settings: Dict[str, Any], final_episodes: Optional[int] = None) -> "ConfigSource":
        return replace(self, settings={**self.settings, **settings},
                       final_episodes=self.final_episodes if final_episodes is None else final_episodes)


@dataclass
class Job:
    """One grid cell: everything a worker process needs to build the config and train."""

    algo: str
    map: str
    seed: int
    steps: int
    run_dir: str
    source: ConfigSource = field(default_factory=ConfigSource)

    @property
    def name(self) -> str:
        return run_name(self.algo, self.map, self.seed)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    def config(self):
        return self.source.resolve(self.algo, self.map, self.seed, self.steps)


def expand(algos: Sequence[str], maps: Sequence[str], seeds: Sequence[int], steps: Optional[int], root: Path,
           source: Optional[ConfigSource] = None) -> List[Job]:
    """Map-major order, so the partial results of an interrupted bench cover whole maps first."""
    source = source or ConfigSource()
    steps_of = steps_by_map(algos, maps, steps, source)
    return [Job(a, m, s, steps_of[m], str(Path(root) / RUNS_DIR / run_name(a, m, s)), source)
            for m in maps for a in algos for s in seeds]


def steps_by_map(algos: Sequence[str], maps: Sequence[str], steps: Optional[int], source: ConfigSource) -> Dict[str, int]:
    """Env steps per run on each map: --steps, else the default for the learner its runs resolve to."""
    return {m: budget(m, steps, source.learner_kind(algos[0], m) if steps is None else "replay") for m in maps}


def _as_list(value: Union[str, Sequence[str]], what: str) -> List[str]:
    return parse_list(value, what) if isinstance(value, str) else list(value)


@dataclass
class Bench:
    """One bench, whole: the grid and its budget, where its configs come from, and how it executes.

    Built once (`Bench.build` checks and types every option) by the CLI, the API or a sweep, then
    handed whole to `run_bench`.
    """

    algos: List[str]
    maps: List[str]
    seeds: List[int]
    steps: Optional[int] = None  # env steps per run (None: BENCH_STEPS by learner kind and map)
    source: ConfigSource = field(default_factory=ConfigSource)
    name: str = ""
    out_root: str = "results"
    workers: int = 1
    executor: str = "local"
    address: Optional[str] = None
    memory: Optional[int] = None  # bytes for the runs at once (None: only refuse what cannot fit)
    force: bool = False
    render: bool = False

    @classmethod
    def build(cls, algos: Union[str, Sequence[str]] = ("vdn", "qmix", "qtran"),
              maps: Union[str, Sequence[str]] = ("3m", "8m"), seeds: Union[int, str, Sequence[int]] = 3,
              steps: Optional[int] = None, *, source: Optional[ConfigSource] = None, workers: Optional[int] = None,
              memory: Union[int, str, None] = None, name: Optional[str] = None, name_prefix: str = "",
              out_root: Union[str, Path] = "results", **execution: Any) -> "Bench":
        """A checked, typed Bench from what a user wrote: comma lists or lists, a seed count or ids,
        a memory size like '20G'. `execution`: executor, address, force, render."""
        from mafac.memory import parse_size

        algo_list, map_list = _as_list(algos, "algos"), _as_list(maps, "maps")
        if isinstance(seeds, (int, str)):
            seed_list = parse_seeds(str(seeds))
        else:
            seed_list = parse_seeds(",".join(str(s) for s in seeds) + ",")
        if steps is not None and steps <= 0:
            raise MafacError(f"bad --steps {steps!r}; it must be > 0")
        workers = (os.cpu_count() or 1) if workers is None else workers
        if workers <= 0:
            raise MafacError(f"bad --workers {workers!r}; it must be >= 1")
        return cls(algos=algo_list, maps=map_list, seeds=seed_list, steps=steps, source=source or ConfigSource(),
                   name=name or name_prefix + default_name(algo_list, map_list), out_root=str(out_root),
                   workers=workers, memory=parse_size(memory) if isinstance(memory, str) else memory, **execution)

    @property
    def root(self) -> Path:
        return Path(self.out_root) / self.name

    def jobs(self) -> List[Job]:
        return expand(self.algos, self.maps, self.seeds, self.steps, self.root, self.source)

    def steps_by_map(self) -> Dict[str, int]:
        return steps_by_map(self.algos, self.maps, self.steps, self.source)

    def grid(self) -> Dict[str, object]:
        """What the manifest records as the grid (a rerun must agree with it to resume)."""
        src = self.source
        out: Dict[str, object] = {
            "algos": list(self.algos), "maps": list(self.maps), "seeds": list(self.seeds),
            "steps": self.steps_by_map(),
            "env": src.backend, "preset": src.preset, "overrides": list(src.overrides), "config_file": src.config_file}
        if src.settings:  # absent when empty, so benches recorded before settings existed still match
            out["settings"] = dict(src.settings)
        return out

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Bench":
        return cls(**dict(data, source=ConfigSource(**data.get("source", {}))))

    def variant(self, name: str, out_root: Union[str, Path], settings: Dict[str, Any]) -> "Bench":
        """The same grid and execution under another name, with more settings (a sweep's trial;
        no final evaluation: the sweep scores evaluations, and confirms its best setting apart)."""
        return replace(self, name=name, out_root=str(out_root), source=self.source.with_settings(settings, 0))
