"""Benches: a grid of algorithms x maps x seeds, each cell one `train_run`, resumable.

`spec.Bench` is the one bench object (grid, config source, execution) that the CLI, the Python
API and `mafac sweep` build; `run.run_bench` runs it through an executor (`executors/`).
"""
