"""The Python API: every verb of the CLI as a plain function a notebook can call and get data
back from (`make_config`, `train`, `bench`, `sweep`, `evaluate`, `render`, `load_results`).

Each `mafac` command is a thin wrapper over the function of its name, so the two surfaces cannot
drift apart. Settings are passed as `**{"section.key": value}`, the same keys as `--set
section.key=value`, and stay typed all the way to the run's config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence, Union

from mafac import log as logs
from mafac.errors import MafacError

if TYPE_CHECKING:
    import pandas as pd

    from mafac.benchmark.run import BenchResult

    from mafac.config import Config

PathLike = Union[str, Path]


class BenchFailed(MafacError):
    """Some runs of a bench failed; each was reported already, and the rest of the results are kept
    (`.result`: the bench's BenchResult, its table included)."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def _note(line: str) -> None:
    logs.get("config").warning(line)


def make_config(algo: Optional[str] = None, map: Optional[str] = None, *, seed: Optional[int] = None,
                preset: Optional[str] = None, steps: Optional[int] = None, env: Optional[str] = None,
                config_file: Optional[PathLike] = None, overrides: Sequence[str] = (),
                default_preset: Optional[str] = None, say: Optional[Callable[[str], None]] = _note,
                **settings: Any) -> "Config":
    """A resolved, validated run config, e.g. make_config("qmix", "3m", preset="fast", **{"learner.lr": 1e-3}).

    Resolution order as in the CLI: preset, then `config_file` (every key of it, `algo` and
    `preset` too), then the arguments, then `overrides` ("key=value" strings) and `settings`.
    `algo` defaults to the file's, else qmix. An argument that contradicts the file wins and is
    said in one line through `say` (default: a warning of the "mafac.config" logger). `steps` is run.t_max."""
    from mafac.config import DEFAULT_PRESET, build_config

    if steps is not None:
        settings = {**settings, "run.t_max": steps}
    return build_config(algo=algo, map_name=map, seed=seed, preset=preset, config_file=config_file,
                        overrides=overrides, settings=settings, backend=env,
                        default_preset=default_preset or DEFAULT_PRESET,
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

    from mafac.progress import progress_bar
    from mafac.memory import check_run
    from mafac.rundir import metric_columns
    from mafac.trainer import train_run

    check_run(config)
    run_dir = Path(out) if out is not None else default_run_dir(config)
    if announce is not None:
        announce(run_dir)
    with progress_bar(config.run.t_max, disable=not progress) as bar:
        rows = train_run(config, run_dir, progress=bar)
    frame = pd.DataFrame(rows, columns=metric_columns(rows))
    frame.attrs["run_dir"] = str(run_dir)
    return frame


def bench(algos: Union[str, Sequence[str]] = ("vdn", "qmix", "qtran"), maps: Union[str, Sequence[str]] = ("3m", "8m"),
          seeds: Union[int, str, Sequence[int]] = 3, steps: Optional[int] = None, *, workers: Optional[int] = None,
          executor: str = "local", address: Optional[str] = None, name: Optional[str] = None,
          out_root: PathLike = "results", preset: Optional[str] = None, env: Optional[str] = None,
          config_file: Optional[PathLike] = None, force: bool = False, memory: Union[int, str, None] = None,
          render: bool = False, final_episodes: Optional[int] = None, probe: bool = True,
          overrides: Sequence[str] = (), load: bool = True, plan: bool = False, quiet: bool = False,
          **settings: Any) -> Union["pd.DataFrame", "BenchResult", Path]:
    """Every algorithm on every map for several seeds, resumable, as `mafac bench`; returns the
    results as `load_results` gives them, with the results table's text in `.attrs["table"]`
    (`load=False`: the BenchResult: the bench directory, each run's summary, the table). `seeds`: a count
    (3 = seeds 0, 1, 2) or a list of seed ids. `final_episodes`: greedy episodes of each final
    policy (default 10 x env.test_n_envs, 0: none). `probe=False`: no few-second probe of each
    (algo, map) for the wall-time estimate (then unknown). `plan=True` (`--plan`): say the header
    and the estimate, run nothing, and return the bench's directory (not created). `quiet`: no
    progress bar; nothing reaches stdout either way: the bench's lines go to the "mafac.bench"
    logger (`logging`; the CLI shows them on stderr), its table to table.md. `settings`: config keys
    to typed values. Raises BenchFailed if any run failed."""
    from mafac.benchmark.run import plan as say_plan, run_bench

    spec = _bench_spec(algos, maps, seeds, steps, workers, memory, name, out_root, overrides, config_file, settings,
                       preset, env, final_episodes, executor=executor, address=address, force=force, render=render)
    if plan:
        say_plan(spec, probe=probe)
        return spec.root
    result = run_bench(spec, probe=probe, quiet=quiet)
    if result.failed:
        raise BenchFailed(f"bench {spec.name}: some runs failed (listed above); the others are in {spec.root}",
                          result)
    if not load:
        return result
    data = load_results(spec.root)
    data.attrs["table"] = result.table
    return data


def _bench_spec(algos, maps, seeds, steps, workers, memory, name, out_root, overrides, config_file, settings, preset,
                env, final_episodes=None, name_prefix: str = "", **execution: Any):
    """The API's keywords as one `Bench` (shared by `bench` and `sweep`)."""
    from mafac.benchmark.spec import Bench, ConfigSource

    source = ConfigSource(preset=preset, backend=env, config_file=None if config_file is None else str(config_file),
                          overrides=list(overrides), settings=dict(settings or {}), final_episodes=final_episodes)
    return Bench.build(algos, maps, seeds, steps, source=source, workers=workers, memory=memory, name=name,
                       name_prefix=name_prefix, out_root=out_root, **execution)


def sweep(space: PathLike, trials: int, algos: Union[str, Sequence[str]] = ("qmix",),
          maps: Union[str, Sequence[str]] = ("3m",), seeds: Union[int, str, Sequence[int]] = 2,
          steps: Optional[int] = None, *, objective: str = "final", sampler: str = "tpe", pruner: str = "median",
          sampler_seed: int = 0, budget: Union[float, str, None] = None, workers: Optional[int] = None,
          executor: str = "local", address: Optional[str] = None, name: Optional[str] = None,
          out_root: PathLike = "results", preset: Optional[str] = None, env: Optional[str] = None,
          config_file: Optional[PathLike] = None, force: bool = False, memory: Union[int, str, None] = None,
          overrides: Sequence[str] = (), **settings: Any) -> "pd.DataFrame":
    """A hyper-parameter search, as `mafac sweep`: each trial a bench of the grid with the trial's
    settings; resumable; returns the trials table (one row per trial; its report's text in
    `.attrs["report"]`). `budget`: seconds, or a duration like '4h'. Its lines go to the
    "mafac.sweep" logger, nothing to stdout. Needs `mafac[sweep]` (Optuna)."""
    from mafac.search.study import Search, parse_budget

    base = _bench_spec(algos, maps, seeds, steps, workers, memory, name, out_root, overrides, config_file, settings,
                       preset, env, name_prefix="sweep_", executor=executor, address=address, force=force)
    search = Search(base, space_file=str(space), trials=trials, objective=objective, sampler=sampler, pruner=pruner,
                    sampler_seed=sampler_seed, budget_s=parse_budget(budget))
    failed, report = search.run()
    frame = search.trials_frame()
    frame.attrs.update(root=str(base.root), failed=failed, report=report)
    return frame


def evaluate(run_dir: PathLike, episodes: Optional[int] = None, seed: int = 12345) -> Dict[str, float]:
    """Reload a run's checkpoint and play `episodes` greedy episodes (default: the run's
    env.test_n_envs), as `mafac eval`: win rate, time-out rate, return, length, env steps."""
    from mafac.evaluation import evaluate_checkpoint

    return evaluate_checkpoint(Path(run_dir), episodes=episodes, seed=seed)


def render(run_dir: PathLike, episodes: int = 1, seed: int = 0, out: Optional[PathLike] = None):
    """Replay a run's greedy episodes into an animation (GIF, or MP4 with ffmpeg), as `mafac
    render`; returns where it went and how each episode ended."""
    from mafac.rendering import render_run

    return render_run(Path(run_dir), episodes=episodes, seed=seed, out=None if out is None else Path(out))


def load_results(*paths: PathLike, warn: bool = True) -> "pd.DataFrame":
    """Every evaluation row of every run under the paths (bench dirs, trees of run dirs, run dirs):
    the tidy long table `mafac table` and `mafac plot` use, one row per (run, evaluation), with
    algo, label, map, seed, env_steps and every metrics.csv column."""
    from mafac.analysis.load import load_results as load

    return load(list(paths), warn=warn).data
