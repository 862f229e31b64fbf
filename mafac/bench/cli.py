"""The `mafac bench` command."""

from __future__ import annotations

import sys

import click

from mafac.cli_options import config_options


@click.command()
@click.option("--algos", default="vdn,qmix,qtran", show_default=True, help="Comma-separated algorithms.")
@click.option("--maps", default="3m,8m", show_default=True, help="Comma-separated maps.")
@click.option("--seeds", default="3", show_default=True, help="A count (3 = seeds 0,1,2) or seed ids with commas (0,4,7; one id: 5,).")
@click.option("--steps", type=int, default=None, help="Env steps per run (default: the bench budget per map).")
@click.option("--workers", type=int, default=None, help="Runs at once (default: the number of cores).")
@click.option("--executor", default="local", show_default=True, help="local, ray, or a plugin executor.")
@click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray).")
@click.option("--name", default=None, help="Results name (default: algos_maps_date).")
@click.option("--out-root", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace a different bench stored under the same name.")
@click.option("--memory", default=None, metavar="SIZE",
              help="Memory budget for the runs at once, e.g. 20G: each run's replay.capacity is lowered to fit it.")
@click.option("--render", is_flag=True, help="Also replay one greedy episode of each finished run into <run dir>/render.gif.")
@config_options
def bench(algos, maps, seeds, steps, workers, executor, address, name, out_root, force, memory, render, overrides,
          config_file, preset, env_backend) -> None:
    """Run every algorithm on every map for several seeds; tables and plots at the end."""
    from mafac.api import BenchFailed, bench as run

    try:
        run(algos, maps, seeds, steps, workers=workers, executor=executor, address=address, name=name,
            out_root=out_root, preset=preset, env=env_backend, config_file=config_file, force=force, memory=memory,
            render=render, overrides=overrides, load=False)
    except BenchFailed:  # each failed run has had its line already
        sys.exit(1)
