"""The `mafac sweep` command: `mafac bench`'s options, plus the search's own."""

from __future__ import annotations

import sys

import click

from mafac.cli.options import grid_options
from mafac.errors import MafacError


@click.command()
@grid_options
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None,
              help="YAML: config keys to ranges or choices, e.g. 'learner.lr: {log: [1e-4, 3e-3]}'.")
@click.option("--trials", type=int, default=None, help="Trials in the study in all (a rerun runs only what is missing).")
@click.option("--objective", default="final", show_default=True,
              help="final[:K] (mean of the last K evaluations), auc, time-to:X[:K] (wall s), steps-to:X[:K].")
@click.option("--sampler", default="tpe", show_default=True, help="tpe, random or grid.")
@click.option("--sampler-seed", type=int, default=0, show_default=True, help="Seed of the sampler.")
@click.option("--pruner", default="median", show_default=True, help="median, halving or none.")
@click.option("--no-prune", is_flag=True, help="Same as --pruner none.")
@click.option("--budget", default=None, help="Start no trial after this much wall time, e.g. 4h (rerun to continue).")
@click.option("--show", "show_dir", type=click.Path(file_okay=False), default=None,
              help="Print the trials table of a stored sweep and exit.")
def sweep(algos, maps, seeds, steps, workers, executor, address, name, out_root, force, memory, overrides, config_file,
          preset, env, space_file, trials, objective, sampler, sampler_seed, pruner, no_prune, budget,
          show_dir) -> None:
    """Search hyper-parameters: each trial is a bench of the grid with the trial's settings."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise MafacError("mafac sweep needs Optuna: pip install 'mafac[sweep]'")
    if show_dir is not None:
        from mafac.search.report import summary
        from mafac.search.study import open_stored

        click.echo(summary(open_stored(show_dir)), nl=False)
        return
    from mafac.api import sweep as run

    if space_file is None or trials is None:
        raise MafacError("mafac sweep needs --space FILE and --trials N (or --show DIR)")
    frame = run(space_file, trials, algos, maps, seeds, steps, objective=objective, sampler=sampler,
                pruner="none" if no_prune else pruner, sampler_seed=sampler_seed, budget=budget, workers=workers,
                executor=executor, address=address, name=name, out_root=out_root, preset=preset, env=env,
                config_file=config_file, force=force, memory=memory, overrides=overrides)
    click.echo(frame.attrs["report"], nl=False)
    if frame.attrs.get("failed"):
        sys.exit(1)
