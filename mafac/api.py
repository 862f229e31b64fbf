"""The Python API: what the CLI does, as functions a notebook can call and get data back from.

`mafac train` and `mafac bench` are thin wrappers over `make_config`/`train` and `bench`, so the
two surfaces cannot drift apart. Settings are passed as `**{"section.key": value}`, the same keys
as `--set section.key=value`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from mafac.errors import MafacError

if TYPE_CHECKING:
    import pandas as pd

    from mafac.config import Config

PathLike = Union[str, Path]


class BenchFailed(MafacError):
    """Some runs of a bench failed; each was reported already, and the rest of the results are kept."""


def _settings(overrides: Sequence[str], settings: dict) -> list:
    """`--set` strings plus keyword settings as `--set` strings: one parser reads both. A
    non-string value goes as JSON (which YAML reads back as the same value)."""
    return list(overrides) + [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in settings.items()]


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def make_config(algo: Optional[str] = None, map: Optional[str] = None, *, seed: Optional[int] = None,
                preset: Optional[str] = None, steps: Optional[int] = None, env: Optional[str] = None,
                config_file: Optional[PathLike] = None, overrides: Sequence[str] = (),
                default_preset: str = "pymarl", say: Optional[Callable[[str], None]] = _note,
                **settings: Any) -> "Config":
    """A resolved, validated run config, e.g. make_config("qmix", "3m", preset="fast", **{"learner.lr": 1e-3}).

    Resolution order as in the CLI: preset, then `config_file` (every key of it, `algo` and
    `preset` too), then the arguments, then `overrides` ("key=value" strings) and `settings`.
    `algo` defaults to the file's, else qmix. An argument that contradicts the file wins and is
    said in one line through `say` (default: stderr). `steps` is run.t_max."""
    from mafac.config import build_config

    if steps is not None:
        settings = {**settings, "run.t_max": steps}
    return build_config(algo=algo, map_name=map, seed=seed, preset=preset, config_file=config_file,
                        overrides=_settings(overrides, settings), env_backend=env, default_preset=default_preset,
                        say=say)


def default_run_dir(config: "Config") -> Path:
    """Where `train` writes when not told: results/runs/<algo>__<map>__s<seed>__<time>."""
    from mafac.rundir import run_name

    return Path("results") / "runs" / (run_name(config.algo, config.env.map, config.seed)
                                       + time.strftime("__%Y%m%d-%H%M%S"))


def train(config: "Config", out: Optional[PathLike] = None, progress: bool = False,
          announce: Optional[Callable[[Path], None]] = None) -> "pd.DataFrame":
    """Train (or resume, if `out` holds a checkpoint) one run; returns its metrics.csv as a
    DataFrame, with the run directory in `.attrs["run_dir"]`. `progress`: a tqdm bar on stderr.
    `announce(run_dir)` is called once the run is known to fit in memory, before it starts (the
    CLI's header line)."""
    import pandas as pd

    from mafac.cli_options import progress_bar
    from mafac.memory import check_run
    from mafac.rundir import METRIC_COLUMNS
    from mafac.train import train_run

    check_run(config)
    run_dir = Path(out) if out is not None else default_run_dir(config)
    if announce is not None:
        announce(run_dir)
    with progress_bar(config.run.t_max, disable=not progress) as bar:
        rows = train_run(config, run_dir, progress=bar)
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    frame.attrs["run_dir"] = str(run_dir)
    return frame


def bench(algos: Union[str, Sequence[str]] = ("vdn", "qmix", "qtran"), maps: Union[str, Sequence[str]] = ("3m", "8m"),
          seeds: Union[int, str, Sequence[int]] = 3, steps: Optional[int] = None, *, workers: Optional[int] = None,
          executor: str = "local", address: Optional[str] = None, name: Optional[str] = None,
          out_root: PathLike = "results", preset: Optional[str] = None, env: Optional[str] = None,
          config_file: Optional[PathLike] = None, force: bool = False, memory: Union[int, str, None] = None,
          render: bool = False, overrides: Sequence[str] = (), load: bool = True,
          **settings: Any) -> Union["pd.DataFrame", Path]:
    """Every algorithm on every map for several seeds, resumable, as `mafac bench`; returns the
    results as `load_results` gives them (`load=False`: the bench directory). `seeds`: a count
    (3 = seeds 0, 1, 2) or a list of seed ids. Raises BenchFailed if any run failed."""
    from mafac.bench.run import run_bench
    from mafac.bench.spec import default_name, parse_list, parse_seeds
    from mafac.memory import parse_size

    algo_list = parse_list(algos, "algos") if isinstance(algos, str) else list(algos)
    map_list = parse_list(maps, "maps") if isinstance(maps, str) else list(maps)
    if isinstance(seeds, (int, str)):
        seed_list = parse_seeds(str(seeds))
    else:
        seed_list = parse_seeds(",".join(str(s) for s in seeds) + ",")
    if steps is not None and steps <= 0:
        raise MafacError(f"bad --steps {steps!r}; it must be > 0")
    name = name or default_name(algo_list, map_list)
    budget = parse_size(memory) if isinstance(memory, str) else memory
    code = run_bench(algo_list, map_list, seed_list, steps, (os.cpu_count() or 1) if workers is None else workers,
                     executor, address, name, Path(out_root), _settings(overrides, settings),
                     None if config_file is None else str(config_file), preset, env, force, budget, render=render)
    root = Path(out_root) / name
    if code:
        raise BenchFailed(f"bench {name}: some runs failed (listed above); the others are in {root}")
    return load_results(root) if load else root


def load_results(*paths: PathLike, warn: bool = True) -> "pd.DataFrame":
    """Every evaluation row of every run under the paths (bench dirs, trees of run dirs, run dirs):
    the tidy long table `mafac table` and `mafac plot` use, one row per (run, evaluation), with
    algo, label, map, seed, env_steps and every metrics.csv column."""
    from mafac.analysis.load import load_results as load

    return load(list(paths), warn=warn).data
