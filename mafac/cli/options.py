"""Pieces shared by several commands (`train` and `bench` resolve configs identically), kept
apart from cli.py so that the command modules never import the group that imports them."""

from __future__ import annotations

import click


def config_options(f):
    """Options shared by `train` and `bench`, so both resolve configs identically."""
    f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key, e.g. --set learner.lr=0.001 (repeatable).")(f)
    f = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                     help="YAML file of config sections (see `mafac config`).")(f)
    f = click.option("--preset", default=None, help="Defaults to start from: fast (the default), recipe (twice fast's updates), pymarl (PyMARL's own settings), tuned, matrix.")(f)
    f = click.option("--env", "env", default=None, help="Env backend: smax (default), matrix, sc2, or a plugin.")(f)
    return f


def grid_options(f):
    """What `bench` and `sweep` share: the grid of runs, where it goes and how it executes."""
    options = [
        click.option("--algos", default="vdn,qmix,qtran", show_default=True, help="Comma-separated algorithms."),
        click.option("--maps", default="3m,8m", show_default=True, help="Comma-separated maps."),
        click.option("--seeds", default="3", show_default=True,
                     help="A count (3 = seeds 0,1,2) or seed ids with commas (0,4,7; one id: 5,)."),
        click.option("--steps", type=int, default=None, help="Env steps per run (default: the bench budget per map)."),
        click.option("--workers", type=int, default=None, help="Runs at once (default: the number of cores)."),
        click.option("--executor", default="local", show_default=True, help="local, ray, or a plugin executor."),
        click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)."),
        click.option("--name", default=None, help="Results name (default: algos_maps_date)."),
        click.option("--out-root", default="results", show_default=True, type=click.Path(file_okay=False)),
        click.option("--force", is_flag=True, help="Replace a different bench (or sweep) stored under the same name."),
        click.option("--memory", default=None, metavar="SIZE",
                     help="Memory budget for the runs at once, e.g. 20G: each run's replay.capacity is lowered to fit it."),
    ]
    for option in reversed(options):
        f = option(f)
    return config_options(f)


def run_options(f):
    """What names one run (`train` and `config`): each defaults to the --config file's, then
    to qmix / 3m / 0 / the preset's run.t_max."""
    f = click.option("--steps", type=int, default=None, help="Env steps to train (run.t_max).")(f)
    f = click.option("--seed", type=int, default=None, help="Random seed (default: the config file's, else 0).")(f)
    f = click.option("--map", "map_name", default=None, help="Map / scenario name (default: the config file's, else 3m).")(f)
    f = click.option("--algo", default=None, help="Algorithm (mixer); see `mafac list` (default: the config file's, else qmix).")(f)
    return f
