"""`mafac table`: one row per map plus an aggregate row, one column per algorithm.

A cell reads `**0.95** [0.90, 1.00] (IQM 0.96, n=3, 80% @ 120k)`: the median of the final metric
over seeds with its 95% stratified-bootstrap CI, the IQM, the number of seeds, and the env steps
by which the median seed first reached an 80% test win rate. The median leads because it is what
a reader compares at a glance; the bold marks the best median per row. Everything the cells show,
and the IQM CIs they leave out, is in the `csv` format.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.analysis.stats import (REPS, aggregate_estimates, aggregate_scores, first_reach, median_steps_to,
                                  task_estimates)
from mafac.atomic import write_text
from mafac.errors import unknown
from mafac.rundir import SUMMARY_JSON

FORMATS = {"md": "md", "csv": "csv", "latex": "tex"}  # format -> file extension
WIN_RATE = "test_win_rate"
THRESHOLD = 0.8
ALL_MAPS = "all maps"


def _reach_columns(res: Results, at: Optional[int]) -> pd.DataFrame:
    """Per (map, label): median env steps to 80% win rate (NaN: the median seed never got there)."""
    d = res.data if at is None else res.data[res.data["env_steps"] <= at]
    d = d.dropna(subset=[WIN_RATE]).sort_values("env_steps")
    reach = [{"map": m, "label": lab, "seed": seed,
              "steps": first_reach(run["env_steps"].to_numpy(), run[WIN_RATE].to_numpy(), THRESHOLD)}
             for (m, lab, seed), run in d.groupby(["map", "label", "seed"])]
    rows = []
    for (m, lab), g in pd.DataFrame(reach).groupby(["map", "label"]):
        steps = median_steps_to(list(g["steps"]))
        rows.append({"map": m, "label": lab, "steps_to_80": np.nan if steps is None else steps,
                     "seeds_reached_80": int(np.isfinite(g["steps"]).sum())})
    return pd.DataFrame(rows, columns=["map", "label", "steps_to_80", "seeds_reached_80"])


def table_frame(res: Results, metric: Optional[str] = None, at: Optional[int] = None, reps: int = REPS) -> pd.DataFrame:
    """The table's numbers, tidy: one row per (map, label), then one per label for ALL_MAPS.

    The ALL_MAPS row uses rliable's aggregates over maps (median of per-map means, IQM over all
    runs and maps) on each label's first k seeds per map, k = its smallest seed count over maps
    (see mafac.analysis.stats); a label missing a map has no ALL_MAPS row. `metric`: default the
    runs' env metric (`Results.default_metric`). The steps-to-80%-win-rate columns come only with
    runs whose env is judged by its win rate: elsewhere (MPE) nothing is ever won.
    """
    metric = metric or res.default_metric()
    final = res.final(metric, at)
    frame = task_estimates(final, metric, reps)
    frame["kind"] = "map"
    if WIN_RATE in res.metrics() and list(res.env_metrics()) == [WIN_RATE]:
        frame = frame.merge(_reach_columns(res, at), on=["map", "label"], how="left")
    if len(res.maps) > 1:
        scores, _ = aggregate_scores(final, metric, res.labels, res.maps)
        rows = [{"map": ALL_MAPS, "label": lab, "kind": "aggregate", "n": scores[lab].shape[0],
                 **{f"{s}{suffix}": e[s][i] for s in ("median", "iqm") for i, suffix in enumerate(("", "_low", "_high"))}}
                for lab, e in aggregate_estimates(scores, reps).items()]
        frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    frame["n"] = frame["n"].astype(int)
    frame["metric"], frame["at"] = metric, at if at is not None else np.nan
    if "seeds_reached_80" in frame:
        frame["seeds_reached_80"] = frame["seeds_reached_80"].astype("Int64")
    first = ["map", "label", "kind", "metric", "at", "n"]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def _steps(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.3g}M"
    return f"{v / 1e3:.3g}k" if v >= 1e3 else f"{v:.0f}"


def _cell(r: pd.Series, n_maps: int, bold) -> str:
    median = f"{r['median']:.2f}"
    if r["best"]:
        median = bold(median)
    extras = [f"IQM {r['iqm']:.2f}", f"n={r['n']}" if r["kind"] == "map" else f"n={r['n']}x{n_maps}"]
    if r["kind"] == "map" and "steps_to_80" in r and not pd.isna(r.get("seeds_reached_80")):
        reached, reach = int(r["seeds_reached_80"]), r["steps_to_80"]
        text = "80% never" if pd.isna(reach) else f"80% @ {_steps(reach)}"
        extras.append(text if reached in (0, r["n"]) else f"{text} ({reached}/{r['n']} seeds)")
    return f"{median} [{r['median_low']:.2f}, {r['median_high']:.2f}] ({', '.join(extras)})"


def _grid(frame: pd.DataFrame, bold) -> List[List[str]]:
    """Rows of [map, cell per label], maps first then the aggregate row; '-' where a label has no runs."""
    frame = frame.copy()
    frame["best"] = np.isclose(frame["median"], frame.groupby("map")["median"].transform("max"))
    labels = sorted(frame["label"].unique())
    n_maps = int((frame["kind"] == "map").groupby(frame["map"]).any().sum())
    rows = []
    for m, sub in sorted(frame.groupby("map"), key=lambda kv: (kv[0] == ALL_MAPS, kv[0])):
        cells = {r["label"]: _cell(r, n_maps, bold) for _, r in sub.iterrows()}
        rows.append([m] + [cells.get(lab, "-") for lab in labels])
    return [["map"] + labels] + rows


def _notes(res: Results, frame: pd.DataFrame, metric: str, at: Optional[int]) -> List[str]:
    when = (f"last evaluation at or before {_steps(at)} env steps" if at is not None
            else res.describe_final(metric))
    notes = [f"Final {metric} ({when}): median over seeds [95% stratified-bootstrap CI] (IQM, seeds n"
             + (", env steps by which the median seed first reached 80% test win rate" if "steps_to_80" in frame else "")
             + "). Best median per row in bold."]
    if (frame["kind"] == "aggregate").any():
        notes.append(f"'{ALL_MAPS}': rliable aggregates over maps (median of per-map means, IQM over all runs), "
                     "on each algorithm's first n seeds per map.")
        _, left_out = aggregate_scores(res.final(metric, at), metric, res.labels, res.maps)
        if left_out:
            notes.append(f"Not in '{ALL_MAPS}' (no runs on every map): {', '.join(left_out)}.")
    unfinished = res.unfinished()
    if unfinished:
        notes.append(f"{len(unfinished)} run(s) not marked done, tabled up to their last evaluation: {', '.join(unfinished)}.")
    if res.skipped:
        notes.append(f"Skipped {len(res.skipped)} run(s):")
        notes += [f"- {s.message}" for s in res.skipped]
    return notes


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return s


def bench_costs(paths: Sequence[str | Path]) -> List[str]:
    """One note per bench directory with a summary.json: its own wall time, over every session."""
    import json

    notes = []
    for p in paths:
        try:
            sessions = json.loads((Path(p) / SUMMARY_JSON).read_text()).get("sessions") or []
            total = sum(float(s["wall_s"]) for s in sessions)
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            continue
        if sessions:
            notes.append(f"Bench {Path(p).name}: {total / 60:.1f} min of wall time over {len(sessions)} session(s), "
                         f"{sessions[0]['started']} to {sessions[-1]['ended']}.")
    return notes


def render(res: Results, frame: pd.DataFrame, fmt: str, metric: str, at: Optional[int] = None,
           extra_notes: Sequence[str] = ()) -> str:
    """The table as text in `fmt`, with its notes (and skipped runs) underneath."""
    if fmt not in FORMATS:
        raise unknown("table format", fmt, FORMATS)
    notes = _notes(res, frame, metric, at) + list(extra_notes)
    if fmt == "csv":
        return frame.to_csv(index=False) + "".join(f"# {n}\n" for n in notes)
    if fmt == "md":
        head, *body = _grid(frame, lambda s: f"**{s}**")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
    marker = "\x00B\x00"  # bold survives escaping, then becomes \textbf
    head, *body = _grid(frame, lambda s: f"{marker}{s}{marker}")

    def tex(s: str) -> str:
        parts = _latex_escape(s).split(marker)
        return "".join(f"\\textbf{{{p}}}" if i % 2 else p for i, p in enumerate(parts))

    lines = [f"\\begin{{tabular}}{{l{'l' * (len(head) - 1)}}}", "\\toprule", " & ".join(map(tex, head)) + " \\\\",
             "\\midrule"]
    lines += [" & ".join(map(tex, row)) + " \\\\" for row in body]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n" + "".join(f"% {n}\n" for n in notes)


def write_table(paths: Sequence[str | Path], out: Optional[str | Path] = None, fmt: str = "md",
                metric: Optional[str] = None, at: Optional[int] = None, reps: int = REPS) -> str:
    """Load, table, write to `out` and return the text. Without `out`, one RESULTS path's table
    goes to <RESULTS>/table.<md|csv|tex>; several paths' is only returned: a bench's own table.md
    is its own, not a merge of it with others. `metric`: default the runs' env metric
    (`Results.default_metric`)."""
    if fmt not in FORMATS:
        raise unknown("table format", fmt, FORMATS)
    res = load_results(paths)
    metric = metric or res.default_metric()
    res.require(metric)
    text = render(res, table_frame(res, metric, at, reps), fmt, metric, at, bench_costs(paths))
    if out is None and len(paths) > 1:
        return text
    first = Path(paths[0])
    target = Path(out) if out else (first if first.is_dir() else first.parent) / f"table.{FORMATS[fmt]}"
    write_text(target, text)
    return text
