"""What a sweep leaves besides its study: the trials table, the best config, the plots.

`best_config.yaml` is the resolved config of the best trial's first run (its `config.yaml`), so
`mafac train --config` reproduces that run and `mafac bench --config` its settings on any grid.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import List

from mafac.atomic import write_text
from mafac.errors import MafacError

TRIALS_CSV, TRIALS_MD, BEST_CONFIG, PLOTS = "trials.csv", "trials.md", "best_config.yaml", "plots"


def trials_frame(study):
    """One row per trial: number, state, value, each parameter, and the evidence and cost."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), "value": t.value}
        row.update({f"{k}": v for k, v in t.params.items()})
        ua = t.user_attrs
        row.update({"runs": ua.get("runs"), "episodes": ua.get("episodes"), "reached": ua.get("reached"),
                    "wall_s": round(sum(float(v) for k, v in ua.items() if k.startswith("wall_s_")), 1) or None,
                    "pruned_at": ua.get("pruned_at"), "error": ua.get("error")})
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all") if len(frame) else frame


def _markdown(frame) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float) and v.is_integer() and abs(v) >= 1000:  # counts and env steps
            return f"{int(v):,}"
        if isinstance(v, float):
            return f"{v:.4g}"
        text = str(v)
        return text if len(text) <= 160 else text[:157] + "..."  # a long error: trials.csv has it whole

    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def best_trial(study):
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not done:
        return None
    return study.best_trial


def summary(study) -> str:
    """The trials table in markdown, the objective's definition and the best trial."""
    frame = trials_frame(study)
    objective = study.user_attrs.get("objective", {})
    out = io.StringIO()
    out.write(f"Sweep {study.study_name}: {len(frame)} trial(s); objective {objective.get('name')}: "
              f"{objective.get('definition')}.\n\n")
    if len(frame):
        out.write(_markdown(frame))
    best = best_trial(study)
    if best is not None:
        shown = ", ".join(f"{k}={v}" for k, v in best.params.items())
        out.write(f"\nBest: trial {best.number}, {objective.get('name')} = {best.value:.4g} ({shown}); "
                  f"config in {BEST_CONFIG}.\n")
    return out.getvalue()


def write_report(root: Path, study) -> str:
    """trials.csv, trials.md, best_config.yaml and plots/; returns the summary text. A plot that
    cannot be drawn (too few trials) is a warning line, never a lost study."""
    root = Path(root)
    frame = trials_frame(study)
    write_text(root / TRIALS_CSV, frame.to_csv(index=False))
    text = summary(study)
    write_text(root / TRIALS_MD, text)
    best = best_trial(study)
    if best is not None:
        _write_best_config(root, best, study)
    notes = write_plots(root, study)
    return text + "".join(f"warning: {n}\n" for n in notes)


def _write_best_config(root: Path, best, study) -> None:
    from mafac.rundir import CONFIG_YAML, RUNS_DIR

    tdir = root / best.user_attrs.get("dir", "")
    configs = sorted((tdir / RUNS_DIR).glob(f"*/{CONFIG_YAML}"))
    if not configs:
        raise MafacError(f"{tdir}: the best trial's run configs are missing")
    objective = study.user_attrs.get("objective", {}).get("name")
    head = (f"# mafac sweep {study.study_name}: best trial {best.number}, {objective} = {best.value:.6g}\n"
            f"# its settings: " + ", ".join(f"{k}={v}" for k, v in best.params.items()) + "\n"
            f"# the resolved config of its run {configs[0].parent.name}; use with --config\n")
    write_text(root / BEST_CONFIG, head + configs[0].read_text())


def _objective_vs_params(study, path: Path, plt) -> None:
    """The objective against each parameter, one panel each in a grid (Optuna's slice plot puts
    every parameter in one row, unreadable past four): finished trials as dots coloured by trial
    number, pruned ones as hollow marks at their last intermediate value."""
    import math

    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if not done:
        raise ValueError("no finished trial")
    names = sorted({k for t in done + pruned for k in t.params})
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    objective = study.user_attrs.get("objective", {}).get("name", "objective")
    for ax, name in zip(axes.flat, names):
        for group, filled in ((pruned, False), (done, True)):
            xs = [t.params[name] for t in group if name in t.params]
            ys = [t.value if filled else list(t.intermediate_values.values())[-1] for t in group if name in t.params]
            if not xs:
                continue
            if filled:
                ax.scatter(xs, ys, c=[t.number for t in group if name in t.params], cmap="viridis", s=36, zorder=3)
            else:
                ax.scatter(xs, ys, facecolors="none", edgecolors="grey", s=36, zorder=2)
        if all(isinstance(t.params.get(name), float) for t in done) and name.endswith("lr"):
            ax.set_xscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(objective, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{study.study_name}: {objective} against each parameter (dots: finished trials, darker = later; "
                 f"rings: pruned, at their last evaluation)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(root: Path, study) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    out = Path(root) / PLOTS
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    try:
        _objective_vs_params(study, out / "objective_vs_params.png", plt)
    except Exception as e:  # no finished trial yet
        notes.append(f"plot objective_vs_params not drawn ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    for name, draw in (("history", vis.plot_optimization_history), ("importances", vis.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = draw(study)
            fig = result.figure if hasattr(result, "figure") else result.flat[0].figure
            fig.set_size_inches(max(6.0, fig.get_size_inches()[0]), 4.5)
            fig.tight_layout()
            fig.savefig(out / f"{name}.png", dpi=110)
            plt.close(fig)
        except Exception as e:  # too few trials for a plot must not cost the study
            notes.append(f"plot {name} not drawn ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    return notes
