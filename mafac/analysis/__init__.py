"""Tables, plots and exports remade from stored results alone (`mafac table/plot/export`)."""

from mafac.analysis.load import Results, load_results
from mafac.analysis.plots import write_plots
from mafac.analysis.table import write_table

__all__ = ["Results", "load_results", "write_plots", "write_table"]
