"""The `mafac table`, `mafac plot` and `mafac export` commands."""

from __future__ import annotations

import click


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", default="md", show_default=True, help="md, csv or latex.")
@click.option("--metric", default="test_win_rate", show_default=True, help="A metrics.csv column.")
@click.option("--at", type=int, default=None, help="Use the last evaluation at or before this many env steps.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: <first RESULTS>/table.<ext>.")
def table(results, fmt, metric, at, out) -> None:
    """Table final performance per map and algorithm, with bootstrap CIs over seeds."""
    from mafac.analysis.table import write_table

    click.echo(write_table(list(results), out=out, fmt=fmt, metric=metric, at=at))


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default: <first RESULTS>/plots/.")
def plot(results, out) -> None:
    """Learning curves, final performance, aggregates, probability of improvement, profiles."""
    from mafac.analysis.plots import write_plots

    paths = write_plots(list(results), out)
    click.echo(f"wrote {len(paths)} files to {paths[0].parent}")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", default="marl-eval", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: <first RESULTS>/marl_eval.json.")
def export(results, fmt, out) -> None:
    """Export results for the community's tools (marl-eval)."""
    from mafac.analysis.export import export as do_export

    click.echo(f"wrote {do_export(list(results), fmt, out)}")
