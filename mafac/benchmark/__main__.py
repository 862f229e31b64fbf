"""`python -m mafac.benchmark TRIAL.json`: run one sweep trial's stored `Bench` ({"bench": ...,
"group": its runs' W&B group}), as `mafac bench` would run it but with neither probe nor
aggregate (the sweep reports itself); errors as one line, exit codes as the CLI's."""

from __future__ import annotations

import json
import sys

from mafac import log as logs
from mafac.errors import MafacError


def main(argv=None) -> int:
    from mafac.benchmark.run import run_bench
    from mafac.benchmark.spec import Bench

    args = sys.argv[1:] if argv is None else argv
    say = logs.get("bench")
    with logs.console():
        if len(args) != 1:
            say.info("usage: python -m mafac.benchmark TRIAL.json")
            return 2
        try:
            with open(args[0], encoding="utf-8") as f:
                data = json.load(f)
            bench = Bench.from_dict(data["bench"])
            return 1 if run_bench(bench, probe=False, aggregate=False, group=data.get("group")).failed else 0
        except (OSError, ValueError, TypeError, KeyError) as e:
            say.info(f"error: {args[0]}: not a stored sweep trial ({e})")
            return 1
        except MafacError as e:
            say.info(f"error: {e}")
            return 1
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
