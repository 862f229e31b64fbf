"""The one loader behind table, plot and export: run directories -> tidy long-format data.

A run whose files are missing, truncated or corrupt is skipped with a one-line warning naming the
file and the problem, and remembered in `Results.skipped` so tables can say what they left out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import pandas as pd

from mafac.errors import MafacError
from mafac.rundir import METRICS_CSV, RunInfo, find_run_dirs

REQUIRED = ["env_steps", "test_win_rate"]


@dataclass
class Results:
    data: pd.DataFrame  # source, algo, label, map, env, seed, run_dir, env_steps, metric columns...
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def labels(self) -> List[str]:
        return sorted(self.data["label"].unique())

    @property
    def maps(self) -> List[str]:
        return sorted(self.data["map"].unique())

    def metrics(self) -> List[str]:
        fixed = {"source", "algo", "label", "map", "env", "seed", "run_dir", "env_steps"}
        return [c for c in self.data.columns if c not in fixed and pd.api.types.is_numeric_dtype(self.data[c])]

    def final(self, metric: str = "test_win_rate", at: int | None = None) -> pd.DataFrame:
        """One row per run: its last evaluation (at or before `at` env steps)."""
        self.require(metric)
        d = self.data if at is None else self.data[self.data["env_steps"] <= at]
        d = d.dropna(subset=[metric])
        return d.sort_values("env_steps").groupby(["label", "map", "seed"], as_index=False).last()

    def require(self, metric: str) -> None:
        if metric not in self.data.columns:
            raise MafacError(f"unknown metric {metric!r}; available: {', '.join(self.metrics())}")


def _read_run(run_dir: Path) -> pd.DataFrame:
    info = RunInfo.load(run_dir)
    path = run_dir / METRICS_CSV
    if not path.exists():
        raise MafacError(f"{path}: missing")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise MafacError(f"{path}: empty")
    if not text.endswith("\n"):
        raise MafacError(f"{path}: truncated (no newline after the last row)")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise MafacError(f"{path}: corrupt CSV ({str(e).splitlines()[0]})")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise MafacError(f"{path}: missing columns {', '.join(missing)}")
    if df.empty:
        raise MafacError(f"{path}: no rows")
    for c in REQUIRED:
        if not pd.api.types.is_numeric_dtype(df[c]) or not np.isfinite(df[c].to_numpy(dtype=float)).all():
            raise MafacError(f"{path}: non-numeric or non-finite values in column {c}")
    return df.assign(algo=info.algo, map=info.map, env=info.env, seed=int(info.seed), run_dir=str(run_dir))


def load_results(paths: Sequence[str | Path], warn: bool = True) -> Results:
    frames, skipped = [], []
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise MafacError(f"results path {str(root)!r} does not exist")
    for root in roots:
        source = root.resolve().name
        for run_dir in find_run_dirs(root):
            try:
                frames.append(_read_run(run_dir).assign(source=source))
            except MafacError as e:
                skipped.append((str(run_dir), str(e)))
                if warn:
                    print(f"warning: {e}", file=sys.stderr)
    if not frames:
        where = ", ".join(str(r) for r in roots)
        raise MafacError(f"no loadable runs under {where}" + (f" ({len(skipped)} skipped)" if skipped else ""))
    data = pd.concat(frames, ignore_index=True)
    data["label"] = data["algo"] if len(roots) == 1 else data["algo"] + " (" + data["source"] + ")"
    return Results(data, skipped)
