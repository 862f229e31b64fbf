"""The `mafac bench` command."""

from __future__ import annotations

import sys

import click

from mafac.cli.options import grid_options


@click.command()
@grid_options
@click.option("--render", is_flag=True, help="Also replay one greedy episode of each finished run into <run dir>/render.gif.")
@click.option("--final-episodes", type=int, default=None, metavar="N",
              help="Greedy episodes of each run's final policy, into final_eval.json: the tables' and exports' "
                   "final figure (default: 10 x env.test_n_envs; 0: none).")
@click.option("--no-probe", is_flag=True,
              help="Skip the few-second probe of each (algo, map) behind the wall-time estimate (then: unknown).")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print the grid, memory and wall-time estimate of the runs not done yet, then stop: nothing runs.")
def bench(algos, maps, seeds, steps, workers, executor, address, name, out_root, force, memory, overrides,
          config_file, preset, env, render, final_episodes, no_probe, plan_only) -> None:
    """Run every algorithm on every map for several seeds; tables and plots at the end."""
    from mafac.api import BenchFailed, bench as run

    try:
        result = run(algos, maps, seeds, steps, workers=workers, executor=executor, address=address, name=name,
                     out_root=out_root, preset=preset, env=env, config_file=config_file, force=force, memory=memory,
                     render=render, final_episodes=final_episodes, probe=not no_probe, overrides=overrides,
                     load=False, plan=plan_only)
    except BenchFailed as e:  # each failed run has had its line already
        _table(e.result)
        sys.exit(1)
    _table(result)


def _table(result) -> None:
    if getattr(result, "table", None):
        click.echo(result.table)
