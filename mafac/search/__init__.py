"""`mafac sweep`: a hyper-parameter search whose trials are benches.

Each trial is one `mafac bench` of the sweep's grid (algos x maps x seeds) with the trial's
settings as `--set`s, in `<sweep>/trials/tNNN/`, so it runs on the bench's executors (local or
Ray), resumes after kill -9 as a bench does, and leaves the same per-run files. The study itself
is Optuna's, in a real SQLite file (`<sweep>/study.db`): a rerun loads it, resumes the trial that
was running, and only runs what is missing of `--trials`.

Modules: `space` (the space file), `objective` (what a trial is scored on), `study` (the driver),
`report` (trials table, best config, plots), `cli` (the command).
"""
