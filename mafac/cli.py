"""The `mafac` command line. Every user mistake ends as one line on stderr and exit code 2 (usage)
or 1 (anything else); tracebacks are kept for real bugs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import click

from mafac.errors import MafacError

MAIN_EPILOG = "Docs: README.md. Results land in results/."


@click.group(epilog=MAIN_EPILOG)
@click.version_option(package_name="mafac", message="mafac %(version)s")
def cli() -> None:
    """Cooperative multi-agent value factorisation: IQL, VDN, QMIX, QTRAN on SMAX/SMAC."""


def config_options(f):
    """Options shared by `train` and `bench`, so both resolve configs identically."""
    f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key, e.g. --set learner.lr=0.001 (repeatable).")(f)
    f = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                     help="YAML file of config sections (see `mafac config`).")(f)
    f = click.option("--preset", default=None, help="Defaults to start from: pymarl (train's default), fast (bench's default), tuned, matrix.")(f)
    f = click.option("--env", "env_backend", default=None, help="Env backend: smax (default), matrix, sc2, or a plugin.")(f)
    return f


@cli.command()
@click.option("--algo", default="qmix", show_default=True, help="Algorithm (mixer); see `mafac list`.")
@click.option("--map", "map_name", default=None, help="Map / scenario name (default 3m).")
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--steps", type=int, default=None, help="Env steps to train (run.t_max).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default results/runs/<algo>__<map>__s<seed>__<time>). An existing one is resumed.")
@config_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(algo, map_name, seed, steps, out, overrides, config_file, preset, env_backend, quiet) -> None:
    """Train one algorithm on one map."""
    from mafac.config import build_config
    from mafac.rundir import run_name
    from mafac.train import train_run

    extra = list(overrides) + ([f"run.t_max={steps}"] if steps is not None else [])
    cfg = build_config(algo=algo, map_name=map_name, seed=seed, preset=preset, config_file=config_file,
                       overrides=extra, env_backend=env_backend)
    run_dir = Path(out) if out else Path("results") / "runs" / (
        run_name(cfg.algo, cfg.env.map, cfg.seed) + time.strftime("__%Y%m%d-%H%M%S"))
    click.echo(f"mafac train: {cfg.algo} on {cfg.env.backend}:{cfg.env.map}, seed {cfg.seed}, "
               f"{cfg.run.t_max:,} env steps -> {run_dir}", err=True)
    with progress_bar(cfg.run.t_max, disable=quiet) as bar:
        rows = train_run(cfg, run_dir, progress=bar)
    last = rows[-1]
    aborted = sum(r.get("train_aborted", 0) + r.get("test_aborted", 0) for r in rows)
    note = f" ({aborted} episodes aborted by SC2 restarts, left out of win rates)" if aborted else ""
    click.echo(f"done: test win rate {last['test_win_rate']:.3f}, test return {last['test_return']:.2f} "
               f"at {last['env_steps']:,} env steps, {last['wall_s']:.0f} s{note}. Run dir: {run_dir}")


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--episodes", type=int, default=None, help="Test episodes (default: the run's env.test_n_envs).")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the test episodes.")
def eval_cmd(run_dir, episodes, seed) -> None:
    """Reload a run's checkpoint and report its greedy test win rate."""
    from mafac.evaluate import evaluate_run

    result = evaluate_run(Path(run_dir), episodes=episodes, seed=seed)
    lost = 1.0 - result["test_win_rate"] - result["test_timeout_rate"]
    n_aborted = result["test_aborted"]
    aborted = f" ({n_aborted} more aborted by SC2 restarts, left out)" if n_aborted else ""
    click.echo(f"{run_dir}: test win rate {result['test_win_rate']:.3f} (not won: {lost:.3f} lost, "
               f"{result['test_timeout_rate']:.3f} timed out), test return {result['test_return']:.2f}, "
               f"mean length {result['test_episode_length']:.1f} steps over {result['episodes'] - n_aborted} "
               f"episodes{aborted} "
               f"(checkpoint at {result['env_steps']:,} env steps)")


@cli.command(name="list")
def list_cmd() -> None:
    """Show algorithms, env backends and maps, and where each comes from."""
    from mafac.listing import render_listing

    click.echo(render_listing())


@cli.command(name="config")
@click.option("--algo", default="qmix", show_default=True)
@click.option("--preset", default=None)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def config_cmd(algo, preset, overrides) -> None:
    """Print the resolved config as YAML (a starting point for --config)."""
    from mafac.config import build_config

    click.echo(build_config(algo=algo, preset=preset, overrides=overrides).to_yaml(), nl=False)


class progress_bar:
    """A tqdm bar fed by the trainer's Progress callbacks: env steps, episodes, win rate, epsilon, ETA."""

    def __init__(self, total: int, disable: bool = False) -> None:
        self.total, self.disable = total, disable
        self.bar = None

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="step", unit_scale=True, dynamic_ncols=True,
                        disable=self.disable, file=sys.stderr, smoothing=0.05,
                        mininterval=0.5 if sys.stderr.isatty() else 30.0)
        return self

    def __call__(self, p) -> None:
        bar = self.bar
        bar.update(p.env_steps - bar.n)
        if bar.n % 2000 < 64 or p.env_steps >= p.t_max:
            win = "-" if p.test_win_rate is None else f"{p.test_win_rate:.2f}"
            bar.set_postfix_str(f"ep {p.episodes:,} | test win {win} | eps {p.epsilon:.2f}", refresh=False)

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _register_optional_commands() -> None:
    """Commands that live with their own feature package; absent ones are simply not offered."""
    import importlib

    for module, names in (("mafac.analysis.cli", ("table", "plot", "export")), ("mafac.grid.cli", ("bench",))):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and (e.name == module or module.startswith(e.name + ".")):
                continue
            raise
        for name in names:
            if hasattr(mod, name):
                cli.add_command(getattr(mod, name), name=name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    _register_optional_commands()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mafac", standalone_mode=False)
    except MafacError as e:
        click.echo(f"error: {e}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
