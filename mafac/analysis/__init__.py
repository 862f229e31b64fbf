"""Tables, plots and exports remade from stored results alone (`mafac table/plot/export`), and the
matrix-game joint-action tables read off trained networks (`qtables`).

`load_results` is the one loader; `write_table` and `write_plots` are what `mafac bench` calls at
its end; `export` writes marl-eval JSON.
"""

from mafac.analysis.export import export
from mafac.analysis.load import Results, Skipped, load_results
from mafac.analysis.plots import write_plots
from mafac.analysis.table import table_frame, write_table

__all__ = ["Results", "Skipped", "export", "load_results", "table_frame", "write_plots", "write_table"]
