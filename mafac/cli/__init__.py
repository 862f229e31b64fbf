"""The `mafac` command line. Every user mistake ends as one line on stderr and exit code 2 (usage)
or 1 (anything else); tracebacks are kept for real bugs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

import click

from mafac.cli.analysis import export, plot, table
from mafac.cli.bench import bench
from mafac.cli.sweep import sweep
from mafac.cli.options import config_options, run_options
from mafac.errors import MafacError

MAIN_EPILOG = "Docs: README.md and docs/ (mkdocs serve). Results land in results/."


@click.group(epilog=MAIN_EPILOG)
@click.version_option(package_name="mafac", message="mafac %(version)s")
def cli() -> None:
    """Cooperative multi-agent value factorisation (IQL, VDN, QMIX, QTRAN, QPLEX, Weighted QMIX,
    Qatten) on SMAX, SMAC, MPE and matrix games, with a replay and an online learner."""


@cli.command()
@run_options
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default results/runs/<algo>__<map>__s<seed>__<time>). An existing one is resumed.")
@config_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(algo, map_name, seed, steps, out, overrides, config_file, preset, env, quiet) -> None:
    """Train one algorithm on one map."""
    from mafac.api import make_config, train as train_config

    # --steps after the --set list, so that it wins over a --set run.t_max
    extra = list(overrides) + ([f"run.t_max={steps}"] if steps is not None else [])
    cfg = make_config(algo, map_name, seed=seed, preset=preset, config_file=config_file, env=env,
                      overrides=extra, say=_say)

    def header(run_dir: Path) -> None:  # after the memory check: a run that cannot fit is one line
        click.echo(f"mafac train: {cfg.algo} on {cfg.env.backend}:{cfg.env.map}, seed {cfg.seed}, "
                   f"{cfg.run.t_max:,} env steps -> {run_dir}", err=True)
        if cfg.learner.precision != "float32":
            from mafac.device import resolve_device
            from mafac.precision import describe

            click.echo(describe(cfg.learner.precision, resolve_device(cfg.run.device)), err=True)
        from mafac.mixers import learner_note

        note = learner_note(cfg.algo, cfg.learner.kind)
        if note:
            click.echo("note: " + note, err=True)

    rows = train_config(cfg, out, progress=not quiet, announce=header)
    run_dir = Path(rows.attrs["run_dir"])
    last = rows.iloc[-1]
    aborted = int(rows["train_aborted"].fillna(0).sum() + rows["test_aborted"].fillna(0).sum())
    note = f" ({aborted} episodes aborted by SC2 restarts, left out of win rates)" if aborted else ""
    from mafac.envs import env_metric

    won = f"test win rate {last['test_win_rate']:.3f}, " if env_metric(cfg.env.backend) == "test_win_rate" else ""
    click.echo(f"done: {won}test return {last['test_return']:.2f} "
               f"at {int(last['env_steps']):,} env steps, {last['wall_s']:.0f} s{note}. Run dir: {run_dir}")


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--episodes", type=int, default=None, help="Test episodes (default: the run's env.test_n_envs).")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the test episodes.")
def eval_cmd(run_dir, episodes, seed) -> None:
    """Reload a run's checkpoint and report its greedy test win rate."""
    from mafac.api import evaluate

    result = evaluate(run_dir, episodes=episodes, seed=seed)
    lost = 1.0 - result["test_win_rate"] - result["test_timeout_rate"]
    n_aborted = result["test_aborted"]
    aborted = f" ({n_aborted} more aborted by SC2 restarts, left out)" if n_aborted else ""
    click.echo(f"{run_dir}: test win rate {result['test_win_rate']:.3f} (not won: {lost:.3f} lost, "
               f"{result['test_timeout_rate']:.3f} timed out), test return {result['test_return']:.2f}, "
               f"mean length {result['test_episode_length']:.1f} steps over {result['episodes'] - n_aborted} "
               f"episodes{aborted} "
               f"(checkpoint at {result['env_steps']:,} env steps)")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--episodes", type=int, default=1, show_default=True, help="Greedy episodes, one after another.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first episode (episode k: seed + k).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Animation file, .gif or .mp4 (mp4 needs ffmpeg) [default: RUN_DIR/render.gif].")
def render(run_dir, episodes, seed, out) -> None:
    """Replay a run's greedy episodes from its checkpoint as an animation."""
    from mafac.api import render as run

    result = run(run_dir, episodes=episodes, seed=seed, out=out)
    click.echo(f"wrote {result.path}: {len(result.outcomes)} episode(s) of the checkpoint at {result.env_steps:,} "
               f"env steps: " + ", ".join(f"{o} in {n} steps" for o, n in zip(result.outcomes, result.lengths)))


@cli.command(name="list")
def list_cmd() -> None:
    """Show algorithms, env backends and maps, and where each comes from."""
    from mafac.listing import render_listing

    click.echo(render_listing())


@cli.command(name="config")
@run_options
@config_options
def config_cmd(algo, map_name, seed, steps, overrides, config_file, preset, env) -> None:
    """Print the resolved config as YAML, exactly what `mafac train` with the same options would
    run (a starting point for --config)."""
    from mafac.api import make_config

    extra = list(overrides) + ([f"run.t_max={steps}"] if steps is not None else [])
    cfg = make_config(algo, map_name, seed=seed, preset=preset, config_file=config_file, env=env,
                      overrides=extra, say=_say)
    click.echo(cfg.to_yaml(), nl=False)


def _say(line: str) -> None:
    click.echo(f"note: {line}", err=True)


for _command in (bench, sweep, table, plot, export):
    cli.add_command(_command)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from mafac.log import console

    try:
        with console():  # the library's log lines, on stderr
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
