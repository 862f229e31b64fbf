"""The `mafac bench` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
@config_options
def bench(algos, maps, seeds, steps, workers, executor, address, name, out_root, force, memory, overrides,
          config_file, preset, env_backend) -> None:
    """Run every algorithm on every map for several seeds; tables and plots at the end."""
    from mafac.errors import MafacError
    from mafac.bench.run import run_bench
    from mafac.bench.spec import default_name, parse_list, parse_seeds
    from mafac.memory import parse_size

    algo_list, map_list = parse_list(algos, "algos"), parse_list(maps, "maps")
    seed_list = parse_seeds(seeds)
    if steps is not None and steps <= 0:
        raise MafacError(f"bad --steps {steps!r}; it must be > 0")
    code = run_bench(algo_list, map_list, seed_list, steps, (os.cpu_count() or 1) if workers is None else workers,
                     executor, address,
                     name or default_name(algo_list, map_list), Path(out_root), overrides, config_file, preset,
                     env_backend, force, None if memory is None else parse_size(memory))
    if code:
        sys.exit(code)
