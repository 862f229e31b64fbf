"""`mafac table`: one row per map (plus an aggregate row), one column per algorithm.

Each cell: median of the final metric over seeds with its 95% stratified-bootstrap CI, the IQM,
the number of seeds, and the env steps at which the median seed first reached 80% (win rate only).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from mafac.analysis.load import Results, load_results
from mafac.analysis.stats import interval_estimates, scores_by_label, standard_funcs, steps_to
from mafac.atomic import write_text
from mafac.errors import MafacError

FORMATS = ("md", "csv", "latex")
THRESHOLD = 0.8


def _steps_label(v: Optional[float]) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "never"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k"


def table_frame(res: Results, metric: str = "test_win_rate", at: Optional[int] = None) -> pd.DataFrame:
    """Tidy numbers: one row per (map or 'all maps', label)."""
    final = res.final(metric, at)
    funcs = standard_funcs()
    rows = []
    for m in res.maps:
        scores = scores_by_label(final, metric, res.labels, [m])
        # One task: rliable's aggregate_median is the median of per-task *means*, so the median
        # over seeds is taken directly here.
        est = interval_estimates(scores, {"median": lambda x: np.median(x), "iqm": funcs["iqm"]})
        for lab, e in est.items():
            reach = []
            if metric == "test_win_rate":
                for _, run in res.data[(res.data["label"] == lab) & (res.data["map"] == m)].groupby("seed"):
                    reach.append(steps_to(run.sort_values("env_steps"), metric, THRESHOLD))
            known = [r for r in reach if r is not None]
            med_reach = float(np.median(known)) if reach and len(known) * 2 > len(reach) else None
            rows.append({"map": m, "label": lab, "n": len(scores[lab]), "median": e["median"][0],
                         "median_low": e["median"][1], "median_high": e["median"][2], "iqm": e["iqm"][0],
                         "iqm_low": e["iqm"][1], "iqm_high": e["iqm"][2],
                         "steps_to_80": med_reach if metric == "test_win_rate" else None})
    if len(res.maps) > 1:
        scores = scores_by_label(final, metric, res.labels, res.maps)
        if scores:
            est = interval_estimates(scores, {"median": funcs["median"], "iqm": funcs["iqm"]})
            for lab, e in est.items():
                rows.append({"map": "all maps", "label": lab, "n": scores[lab].shape[0], "median": e["median"][0],
                             "median_low": e["median"][1], "median_high": e["median"][2], "iqm": e["iqm"][0],
                             "iqm_low": e["iqm"][1], "iqm_high": e["iqm"][2], "steps_to_80": None})
    return pd.DataFrame(rows)


def render(frame: pd.DataFrame, fmt: str, metric: str, skipped) -> str:
    if fmt not in FORMATS:
        raise MafacError(f"unknown format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False)
    labels = sorted(frame["label"].unique())
    maps = list(dict.fromkeys(frame["map"]))
    bold = (lambda s: f"**{s}**") if fmt == "md" else (lambda s: f"\\textbf{{{s}}}")
    body: List[List[str]] = []
    for m in maps:
        sub = frame[frame["map"] == m].set_index("label")
        best = sub["median"].max()
        cells = []
        for lab in labels:
            if lab not in sub.index:
                cells.append("-")
                continue
            r = sub.loc[lab]
            med = f"{r['median']:.2f}"
            if np.isclose(r["median"], best):
                med = bold(med)
            cell = f"{med} [{r['median_low']:.2f}, {r['median_high']:.2f}] IQM {r['iqm']:.2f} n={int(r['n'])}"
            if m != "all maps" and metric == "test_win_rate":
                cell += f" 80%@{_steps_label(r['steps_to_80'])}"
            cells.append(cell)
        body.append([m] + cells)
    head = ["map"] + labels
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        text = "\n".join(lines)
        text += (f"\n\nFinal {metric}: median over seeds [95% stratified-bootstrap CI], IQM, number of seeds"
                 + (", env steps at which the median seed first reached 80%" if metric == "test_win_rate" else "")
                 + ". Best median per map in bold.\n")
    else:
        esc = lambda s: s.replace("_", "\\_").replace("%", "\\%")  # noqa: E731
        lines = ["\\begin{tabular}{l" + "l" * len(labels) + "}", "\\toprule", " & ".join(map(esc, head)) + " \\\\",
                 "\\midrule"]
        lines += [" & ".join(esc(c) for c in row) + " \\\\" for row in body]
        lines += ["\\bottomrule", "\\end{tabular}"]
        text = "\n".join(lines) + "\n"
    if skipped:
        note = "\n".join(f"- skipped {p}: {why}" for p, why in skipped)
        text += ("\nSkipped runs:\n" if fmt == "md" else "% skipped runs:\n% ") + (note if fmt == "md" else note.replace("\n", "\n% ")) + "\n"
    return text


def write_table(paths: Sequence[str | Path], out: Optional[str | Path] = None, fmt: str = "md",
                metric: str = "test_win_rate", at: Optional[int] = None) -> str:
    if fmt not in FORMATS:
        raise MafacError(f"unknown format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    res = load_results(paths)
    res.require(metric)
    text = render(table_frame(res, metric, at), fmt, metric, res.skipped)
    target = Path(out) if out else Path(paths[0]) / f"table.{ 'tex' if fmt == 'latex' else fmt}"
    write_text(target, text)
    return text
