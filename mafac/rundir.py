"""The on-disk layout of one run, shared by the writer (training) and every reader
(eval, bench resume, tables, plots, export), so the names live in exactly one place.

    <run_dir>/
      run.json        identity and status: algo, map, env, seed, status (running|done|failed),
                      error, env_steps, t_max, mafac version, simulator and its version; rewritten
                      atomically on every change
      config.yaml     the fully resolved config
      metrics.csv     one row per evaluation, the columns METRIC_COLUMNS and the run's loss terms
      checkpoint.pt   the latest checkpoint (atomic), enough to resume exactly
      error.txt       the traceback of a failed run

A bench keeps, under results/<name>/: manifest.json (the grid and every resolved config),
summary.json (each run's final status), runs/<algo>__<map>__s<seed>/ (one run dir each), and the
table.md and plots/ made from them. `mafac train` writes to
results/runs/<algo>__<map>__s<seed>__<timestamp>/ unless --out says otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Mapping, Optional

from mafac.atomic import write_json
from mafac.errors import MafacError

RUN_JSON = "run.json"
CONFIG_YAML = "config.yaml"
METRICS_CSV = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
ERROR_TXT = "error.txt"
FINAL_EVAL_JSON = "final_eval.json"  # the final evaluation: many greedy episodes of the last policy (mafac/finals.py)

MANIFEST_JSON = "manifest.json"
SUMMARY_JSON = "summary.json"
RUNS_DIR = "runs"

# Every column of metrics.csv, in order: the evaluation and its step count first, then the training
# diagnostics averaged over the episodes/updates since the previous row. train_aborted /
# test_aborted: episodes that ended with no outcome (a real SC2 game restarted itself), counted
# since the previous row / in this evaluation, and kept out of the win rates.
METRIC_COLUMNS = ["env_steps", "episodes", "test_win_rate", "test_return", "loss", "epsilon", "wall_s",
                  "train_return", "train_win_rate", "td_loss", "grad_norm", "updates", "train_aborted", "test_aborted"]

STATUS_RUNNING, STATUS_DONE, STATUS_FAILED = "running", "done", "failed"


def metric_columns(rows: Iterable[Mapping[str, object]]) -> List[str]:
    """metrics.csv's columns for a run's rows: METRIC_COLUMNS, then each LossExtension loss term
    (QTRAN's opt_loss and nopt_loss, a plugin's penalty) in the order first seen, the same for
    every row (a row from before the term's first update leaves its cell empty)."""
    extra = dict.fromkeys(k for row in rows for k in row if k not in METRIC_COLUMNS)
    return METRIC_COLUMNS + list(extra)


def run_name(algo: str, map_name: str, seed: int) -> str:
    return f"{algo}__{map_name}__s{seed}"


@dataclass
class RunInfo:
    algo: str
    map: str
    env: str
    seed: int
    status: str = STATUS_RUNNING
    env_steps: int = 0
    t_max: int = 0
    error: Optional[str] = None
    mafac_version: str = ""
    simulator: str = ""  # the distribution simulating its envs (BatchedEnv.simulator), e.g. jaxmarl
    simulator_version: str = ""  # its version the run was made with

    def save(self, run_dir: Path) -> None:
        write_json(Path(run_dir) / RUN_JSON, self.__dict__)

    @classmethod
    def load(cls, run_dir: Path) -> "RunInfo":
        path = Path(run_dir) / RUN_JSON
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("jaxmarl_version") and "simulator" not in data:  # written before simulators were named
                data = dict(data, simulator="jaxmarl", simulator_version=data["jaxmarl_version"])
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except FileNotFoundError:
            raise MafacError(f"{path}: missing")
        except (json.JSONDecodeError, TypeError, KeyError, UnicodeDecodeError) as e:
            raise MafacError(f"{path}: corrupt run file ({type(e).__name__}: {e})".splitlines()[0])


RUN_FILES = (RUN_JSON, CONFIG_YAML, METRICS_CSV)


def _is_run_dir(path: Path) -> bool:
    return path.parent.name == RUNS_DIR or any((path / f).exists() for f in RUN_FILES)


def find_run_dirs(root: Path) -> Iterator[Path]:
    """Every run directory under `root` (or root itself), sorted, whether or not it is readable.

    A run dir is any directory directly under a `runs/` folder, or one holding a run.json,
    config.yaml or metrics.csv anywhere else. Not just those with a run.json: a run killed before
    its first write, or whose run.json was lost, must still be found so that readers can table it
    from what is left or say why they cannot, instead of dropping it unseen. The search does not go
    inside a run dir: what lies there belongs to that run.
    """
    root = Path(root)
    if _is_run_dir(root):
        yield root
        return
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        runs = [d for d in dirnames if _is_run_dir(here / d)]
        found += [here / d for d in runs]
        dirnames[:] = [d for d in dirnames if d not in runs]
    yield from sorted(found)
