"""`python -m mafac.benchmark BENCH.json`: run one stored `Bench` (a sweep's trial), exactly as
`mafac bench` would run it; errors as one line, exit codes as the CLI's."""

from __future__ import annotations

import json
import sys

import click

from mafac.errors import MafacError


def main(argv=None) -> int:
    from mafac.benchmark.run import run_bench
    from mafac.benchmark.spec import Bench

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        click.echo("usage: python -m mafac.benchmark BENCH.json", err=True)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            bench = Bench.from_dict(json.load(f))
        return run_bench(bench)
    except (OSError, ValueError, TypeError) as e:
        click.echo(f"error: {args[0]}: not a stored bench ({e})", err=True)
        return 1
    except MafacError as e:
        click.echo(f"error: {e}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
