"""Tables, plots and exports remade from stored results alone (`mafac table/plot/export`), and the
matrix-game joint-action tables read off trained networks (`qtables`).

`load_results` is the one loader; `write_table` and `write_plots` are what `mafac bench` calls at
its end; `export` writes marl-eval JSON.

The names load on first use: pandas, scipy and seaborn cost about 2 s of CPU to import, which every
`mafac train` and every bench worker would pay for a table they never draw.
"""

from __future__ import annotations

import importlib
from typing import Any

REPS = 2000  # bootstrap resamples for every confidence interval (the CLI's --reps default)

_HOMES = {"export": "marl_eval", "Results": "load", "Skipped": "load", "load_results": "load",
          "write_plots": "plots", "table_frame": "table", "write_table": "table"}

__all__ = ["REPS", *_HOMES]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mafac.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mafac.analysis.{_HOMES[name]}"), name)
