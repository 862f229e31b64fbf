"""The `mafac table`, `mafac plot` and `mafac export` commands; mafac/cli.py adds them to its group.

A MafacError (a RESULTS path that does not exist, an unknown metric, nothing loadable) is left to
propagate: the main group prints it on one line and exits 1. Unreadable runs are not errors:
each gets a `warning:` line on stderr and the table lists it.
"""

from __future__ import annotations

import click

from mafac.analysis import REPS

RESULTS_HELP = ("RESULTS: bench dirs (results/<name>/), any trees of run dirs, or single run dirs. Several that hold "
                "different maps (a bench per map) merge into one table with an aggregate row; several that hold "
                "the same algorithm on the same map label runs 'algo (source dir)' so the sources compare side by side.")
_results = click.argument("results", nargs=-1, required=True, type=click.Path())
_reps = click.option("--reps", type=click.IntRange(min=100), default=REPS, show_default=True,
                     help="Bootstrap resamples for the confidence intervals (seeded, so results are repeatable).")
_metric = click.option("--metric", default=None, metavar="COLUMN",
                       help="The metrics.csv column to show [default: the runs' env metric: test_win_rate for smax, "
                            "sc2 and matrix, test_return for mpe].")


@click.command(epilog=RESULTS_HELP)
@_results
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex"]), default="md", show_default=True)
@_metric
@click.option("--at", type=click.IntRange(min=0), default=None, metavar="STEPS",
              help="Use each run's last evaluation at or before STEPS env steps (default: its last).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output file [default: <RESULTS>/table.<md|csv|tex> for one RESULTS; several: printed only].")
@_reps
def table(results, fmt, metric, at, out, reps) -> None:
    """Final performance per map and algorithm: median and IQM over seeds with 95% bootstrap CIs."""
    from mafac.analysis.table import write_table

    click.echo(write_table(list(results), out=out, fmt=fmt, metric=metric, at=at, reps=reps), nl=False)
    if out is None and len(results) > 1:
        click.echo("(several RESULTS: printed, not written into one bench's table; --out FILE writes it)", err=True)


@click.command(epilog=RESULTS_HELP)
@_results
@_metric
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder [default: <RESULTS>/plots/ for one RESULTS; several need --out].")
@_reps
def plot(results, metric, out, reps) -> None:
    """Learning curves, final performance, aggregates, probability of improvement, performance profiles (PNG + PDF)."""
    from mafac.analysis.plots import write_plots

    paths = write_plots(list(results), out, reps=reps, metric=metric)
    click.echo(f"wrote {len(paths)} files to {paths[0].parent}")


@click.command(epilog=RESULTS_HELP)
@_results
@click.option("--format", "fmt", type=click.Choice(["marl-eval"]), default="marl-eval", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output file [default: <first RESULTS>/marl_eval.json].")
@click.option("--points", type=int, default=None, metavar="N",
              help="Evaluation points per run (default: the fewest any run has); runs are resampled onto them.")
def export(results, fmt, out, points) -> None:
    """Export the runs' evaluations as JSON for marl-eval (valid for its checker: a common grid of
    evaluation points, the final evaluations as absolute metrics)."""
    from mafac.analysis.marl_eval import export as write_export

    path = write_export(list(results), fmt, out, points, say=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {path}")
