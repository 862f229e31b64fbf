"""A plain final-win-rate table, used when the analysis package (mafac.analysis) is not available."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mafac.atomic import write_text


def write_summary_table(root: Path) -> str:
    runs = json.loads((Path(root) / "summary.json").read_text())["runs"]
    cells = {}
    for name, r in runs.items():
        algo, map_name, _ = name.split("__")
        if r.get("status") == "done" and r.get("test_win_rate") is not None:
            cells.setdefault(map_name, {}).setdefault(algo, []).append(r["test_win_rate"])
    algos = sorted({a for m in cells.values() for a in m})
    lines = ["| map | " + " | ".join(algos) + " |", "|---|" + "---|" * len(algos)]
    for map_name in sorted(cells):
        row = [f"{np.median(cells[map_name][a]):.2f} (n={len(cells[map_name][a])})" if a in cells[map_name] else "-"
               for a in algos]
        lines.append(f"| {map_name} | " + " | ".join(row) + " |")
    text = "Final test win rate, median over seeds\n\n" + "\n".join(lines) + "\n"
    write_text(Path(root) / "table.md", text)
    return text
