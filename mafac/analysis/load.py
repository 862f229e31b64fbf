"""The one loader behind table, plot and export: run directories -> tidy long-format data.

Results are often read while a bench is still writing them, or after one was killed, so a run
whose files are missing, truncated or corrupt must not sink the whole table: it is skipped with a
one-line `warning: <path>: <problem>` on stderr and remembered in `Results.skipped`, so the table
can say what it left out. Only when nothing at all loads is that an error.

Nothing is dropped unseen: every run dir (rundir.find_run_dirs: each dir under a `runs/` folder,
not only those with a run.json) is either tabled or skipped with its reason. A run whose run.json
is missing or corrupt is still tabled when its config.yaml says what it is, with a warning and the
status `unknown`, because its metrics are as good as any other run's.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import pandas as pd

from mafac import log as logs
from mafac.config import load_yaml
from mafac.errors import MafacError
from mafac.rundir import CONFIG_YAML, METRICS_CSV, RUN_JSON, STATUS_DONE, RunInfo, find_run_dirs

log = logs.get("analysis")

# Without these a run cannot be placed on a learning curve or tabled at all.
REQUIRED = ("env_steps", "test_win_rate")
# Identity columns added by the loader; everything else numeric is a metric.
ID_COLUMNS = ("source", "algo", "label", "map", "env", "seed", "status", "run_dir")
# The status of a run identified from its config.yaml alone: whether it finished is not recorded there.
STATUS_UNKNOWN = "unknown"


class Skipped(NamedTuple):
    run_dir: str
    message: str  # "<file>: <problem>", the same line that was warned about


@dataclass
class Results:
    """Every loaded evaluation row: columns ID_COLUMNS + env_steps + the metrics.csv metric columns.

    `label` is what tables and plots show: the algorithm, or `algo (source)` when several RESULTS
    directories overlap (the same algorithm on the same map in two of them), so that the two stay
    apart. Directories that do not overlap (a bench per map, say) merge: one label per algorithm,
    and with it an aggregate over all their maps.
    """

    data: pd.DataFrame
    skipped: List[Skipped] = field(default_factory=list)
    # One row per run with a final evaluation (final_eval.json, mafac/finals.py): label, map, seed,
    # run_dir, episodes, env_steps, its metrics, and the per-episode `won` / `returns` lists.
    finals: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def labels(self) -> List[str]:
        return sorted(self.data["label"].unique())

    @property
    def maps(self) -> List[str]:
        return sorted(self.data["map"].unique())

    def metrics(self) -> List[str]:
        return [c for c in self.data.columns
                if c not in ID_COLUMNS and c != "env_steps" and pd.api.types.is_numeric_dtype(self.data[c])]

    def env_metrics(self) -> Dict[str, List[str]]:
        """{metric: the env backends whose runs are judged by it (`BatchedEnv.metric`)}, from the
        backend each run recorded (run.json, else config.yaml)."""
        from mafac.envs import env_metric

        out: Dict[str, List[str]] = {}
        for env in sorted(self.data["env"].unique()):
            out.setdefault(env_metric(env), []).append(env)
        return out

    def default_metric(self) -> str:
        """The metric a table or plot shows unless told (`--metric`): the runs' env backends' own
        (test_win_rate for smax, sc2 and matrix; test_return for mpe, where nothing is won). The one
        place that choice is made; runs whose backends disagree must name one."""
        by_metric = self.env_metrics()
        if len(by_metric) > 1:
            detail = "; ".join(f"{m} for {', '.join(envs)}" for m, envs in sorted(by_metric.items()))
            raise MafacError(f"these runs come from env backends judged by different metrics ({detail}); "
                             f"name one with --metric")
        return next(iter(by_metric))

    def require(self, metric: str) -> None:
        if metric not in self.metrics():
            raise MafacError(f"unknown metric {metric!r}; available metric columns: {', '.join(self.metrics())}")

    def final_episodes(self, metric: str = "test_win_rate", at: Optional[int] = None) -> Optional[int]:
        """The episodes of the final evaluations that `final` uses (None: it uses the last periodic
        evaluation). They are used only when every run has one, of its last evaluated policy, for
        `metric`, and no `at` cuts the runs short: a table mixes no two kinds of figure."""
        if at is not None or self.finals.empty or metric not in self.finals.columns:
            return None
        last = self.data.groupby("run_dir")["env_steps"].max()
        f = self.finals.set_index("run_dir")
        if set(f.index) != set(last.index) or (f["env_steps"] != last[f.index]).any() or f[metric].isna().any():
            return None
        return int(f["episodes"].min())

    def describe_final(self, metric: str = "test_win_rate", at: Optional[int] = None) -> str:
        """What `final` is, for a table's footer."""
        n = self.final_episodes(metric, at)
        if n is not None:
            return f"final evaluation: {n}+ greedy episodes of each run's final policy (final_eval.json)"
        return "last evaluation" if at is None else f"last evaluation at or before {at:,} env steps"

    def final(self, metric: str = "test_win_rate", at: Optional[int] = None) -> pd.DataFrame:
        """One row per run: its final evaluation's `metric` when every run has one (`final_episodes`),
        else its last evaluation that measured `metric` (at or before `at` env steps)."""
        self.require(metric)
        if self.final_episodes(metric, at) is not None:
            keep = [c for c in self.finals.columns if c not in ("won", "returns", "aborted", "run_dir")]
            ids = self.data.drop_duplicates("run_dir").set_index("run_dir")[[c for c in ID_COLUMNS if c not in
                                                                            ("label", "map", "seed", "run_dir")]]
            return self.finals[keep + ["run_dir"]].join(ids, on="run_dir").sort_values(["label", "map", "seed"],
                                                                                     ignore_index=True)
        d = self.data if at is None else self.data[self.data["env_steps"] <= at]
        d = d.dropna(subset=[metric])
        if d.empty:
            where = "" if at is None else f" at or before {at} env steps"
            raise MafacError(f"no run has a {metric} evaluation{where}")
        return d.sort_values("env_steps").groupby(["label", "map", "seed"], as_index=False).last()

    def unfinished(self) -> List[str]:
        """Run dirs not marked done: they are tabled up to their last evaluation, and the table says so."""
        runs = self.data.drop_duplicates("run_dir")
        return sorted(f"{r.run_dir} ({r.status})" for r in runs.itertuples() if r.status != STATUS_DONE)


def _bad(path: Path, problem: str) -> MafacError:
    return MafacError(f"{path}: {problem}")


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # any control character but tab, CR, LF


def _text(data: bytes) -> str:
    """`data` as text, or ValueError saying why it is not: CSV written by mafac is plain UTF-8,
    so a NUL or another control byte means the bytes are not the file that was written."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not text: invalid UTF-8 byte 0x{data[e.start]:02x} at offset {e.start}")
    bad = _CONTROL.search(text)
    if bad:
        raise ValueError(f"not text: control byte 0x{ord(bad.group()):02x} at character {bad.start()}")
    return text


def read_metrics(path: Path) -> pd.DataFrame:
    """Parse metrics.csv strictly: a silently short row or a stray string would skew a table unseen.

    pandas alone pads short rows with NaN and turns a column with one bad cell into strings, so
    the shape is checked row by row and every non-empty cell must be a number (empty = not measured).
    Binary content (a disk that zero-filled the file after a crash, a file overwritten by something
    else) is named unreadable before any shape check, which would call it truncated and send the
    user looking for a killed writer.
    """
    if not path.is_file():
        raise _bad(path, "missing")
    try:
        text = _text(path.read_bytes())
    except OSError as e:
        raise _bad(path, f"unreadable ({e.strerror or type(e).__name__})")
    except ValueError as e:
        raise _bad(path, f"unreadable ({e})")
    if not text.strip():
        raise _bad(path, "empty file")
    if not text.endswith("\n"):
        raise _bad(path, "truncated (partial last line)")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        raise _bad(path, f"unreadable (not CSV: {e})")
    header, body = rows[0], [r for r in rows[1:] if r]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise _bad(path, f"missing required column(s) {', '.join(missing)}")
    if not body:
        raise _bad(path, "no evaluation rows")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise _bad(path, f"truncated or corrupt: line {line} has {len(row)} fields, expected {len(header)}")
    columns: Dict[str, List[float]] = {c: [] for c in header}
    for line, row in enumerate(body, start=2):
        for col, cell in zip(header, row):
            try:
                value = float(cell) if cell.strip() else math.nan
            except ValueError:
                raise _bad(path, f"non-numeric value {cell[:20]!r} in column {col} on line {line}")
            if col in REQUIRED and not math.isfinite(value):
                raise _bad(path, f"missing or non-finite {col} on line {line}")
            columns[col].append(value)
    return pd.DataFrame(columns)


def _identity(path: Path, what: str, algo, map_name, env, seed) -> Dict[str, object]:
    """The columns that place a run in the table, checked: a wrong type here would merge or split rows."""
    if isinstance(seed, bool) or not isinstance(seed, (int, str)) or not re.fullmatch(r"\s*-?\d+\s*", str(seed)):
        raise _bad(path, f"{what} (seed {seed!r} is not an integer)")
    ident = {"algo": algo, "map": map_name, "env": env}
    if not all(isinstance(v, str) and v for v in ident.values()):
        raise _bad(path, f"{what} (algo, map or env missing or not a name)")
    return {**ident, "seed": int(seed)}


def _identity_from_config(run_dir: Path, files: List[str]) -> Dict[str, object]:
    """Who a run is, from its config.yaml: read as plain YAML, not rebuilt with config_from_dict,
    because tabling must not need the run's algorithm plugin installed or today's config schema."""
    path = run_dir / CONFIG_YAML
    if CONFIG_YAML not in files:
        held = ", ".join(files[:5]) + (", ..." if len(files) > 5 else "")
        raise MafacError(f"no {CONFIG_YAML} to identify the run from (the dir holds {held})")
    data = load_yaml(path)
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict):
        raise _bad(path, "not a resolved mafac config (no env section)")
    return _identity(path, "not a resolved mafac config", data.get("algo"), env.get("map"), env.get("backend"),
                     data.get("seed"))


def _read_run(run_dir: Path) -> Tuple[pd.DataFrame, Optional[str]]:
    """One run's rows and, when it had to be identified from config.yaml, the warning saying so."""
    files = sorted(p.name for p in run_dir.iterdir())
    if not files:
        raise _bad(run_dir, "no files: never started")
    warning = None
    try:
        info = RunInfo.load(run_dir)
        ident = _identity(run_dir / RUN_JSON, "corrupt run file", info.algo, info.map, info.env, info.seed)
        status = str(info.status)
    except MafacError as e:
        try:
            ident, status = _identity_from_config(run_dir, files), STATUS_UNKNOWN
        except MafacError as c:
            raise MafacError(f"{e}, and {c}")
        warning = f"{e}; tabled from {CONFIG_YAML} and {METRICS_CSV}, status {STATUS_UNKNOWN}"
    df = read_metrics(run_dir / METRICS_CSV)
    return df.assign(**ident, status=status, run_dir=str(run_dir)), warning


def source_names(roots: List[Path]) -> List[str]:
    """The directory name labels a source; the path as given only where two names collide."""
    names = [r.resolve().name for r in roots]
    return [n if names.count(n) == 1 else str(r) for n, r in zip(names, roots)]


def _drop_duplicates(data: pd.DataFrame, skipped: List[Skipped], warn: bool) -> pd.DataFrame:
    """Two run dirs with the same source, algo, map and seed would merge into one curve: keep the
    one that got furthest (then the later path, e.g. a newer timestamp) and report the other."""
    key = ["source", "algo", "map", "seed"]
    reach = data.groupby(key + ["run_dir"], as_index=False)["env_steps"].max()
    reach = reach.sort_values(key + ["env_steps", "run_dir"], ignore_index=True)
    kept = reach.groupby(key)["run_dir"].transform("last")
    dups = reach[reach["run_dir"] != kept]
    for run_dir, keeper in zip(dups["run_dir"], kept[dups.index]):
        skip = Skipped(run_dir, f"{run_dir}: duplicate of {keeper} (same algo, map and seed)")
        skipped.append(skip)
        if warn:
            log.warning(skip.message)
    return data[~data["run_dir"].isin(set(dups["run_dir"]))]


def sources_overlap(data: pd.DataFrame) -> bool:
    """Does some (algo, map) have runs from more than one source?"""
    return bool((data.groupby(["algo", "map"])["source"].nunique() > 1).any())


def load_results(paths: Sequence[str | Path], warn: bool = True, by_source: Optional[bool] = None) -> Results:
    """Load every run under each RESULTS path (a bench dir, any tree of run dirs, or one run dir).
    `by_source`: label runs `algo (source)` (True), by algorithm alone (False), or the former only
    when several paths overlap (None, see Results)."""
    roots = [Path(p) for p in paths]
    if not roots:
        raise MafacError("no RESULTS paths given")
    for root in roots:
        if not root.exists():
            raise MafacError(f"results path {str(root)!r} does not exist")
    frames, skipped = [], []
    for root, source in zip(roots, source_names(roots)):
        for run_dir in find_run_dirs(root):
            try:
                frame, warning = _read_run(run_dir)
                frames.append(frame.assign(source=source))
            except (MafacError, OSError) as e:
                warning = str(e) if isinstance(e, MafacError) else f"{e.filename or run_dir}: unreadable ({e.strerror})"
                skipped.append(Skipped(str(run_dir), warning))
            if warn and warning:
                log.warning(warning)
    if not frames:
        where = ", ".join(str(r) for r in roots)
        detail = f" ({len(skipped)} run(s) skipped, the first: {skipped[0].message})" if skipped else " (no run dirs found)"
        raise MafacError(f"no loadable runs under {where}{detail}")
    data = pd.concat(frames, ignore_index=True)
    data = _drop_duplicates(data, skipped, warn)
    if by_source is None:
        by_source = len(roots) > 1 and sources_overlap(data)
    data["label"] = data["algo"] + " (" + data["source"] + ")" if by_source else data["algo"]
    ordered = list(ID_COLUMNS) + [c for c in data.columns if c not in ID_COLUMNS]
    data = data[ordered].reset_index(drop=True)
    return Results(data, skipped, _read_finals(data, warn))


def _read_finals(data: pd.DataFrame, warn: bool) -> pd.DataFrame:
    """The final evaluations of the loaded runs; a corrupt one is warned about and left out (the
    run's periodic evaluations still table)."""
    from mafac.finals import read_final

    rows = []
    for r in data.drop_duplicates("run_dir").itertuples():
        try:
            f = read_final(Path(r.run_dir))
        except MafacError as e:
            if warn:
                log.warning(e)
            continue
        if f is not None:
            rows.append({"label": r.label, "map": r.map, "seed": r.seed, "run_dir": r.run_dir, **f})
    return pd.DataFrame(rows)
