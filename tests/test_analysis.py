"""`mafac table/plot/export` on synthetic results with known values, written here as real run dirs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats as sps

from mafac.analysis import export, load_results, table_frame, write_plots, write_table
from mafac.cli.analysis import export as export_cmd, plot as plot_cmd, table as table_cmd
from mafac.analysis.load import read_metrics
from mafac.analysis.plots import FIGURES, _run_curves, palette
from mafac.config import build_config
from mafac.errors import MafacError
from mafac.rundir import METRIC_COLUMNS, STATUS_DONE, RunInfo

STEPS = np.arange(0, 100_001, 10_000)
REPS = 200  # enough for CIs to be meaningful, cheap enough for CI machines
QMIX = [0.9, 1.0, 0.95, 0.85, 0.92]  # median 0.92, IQM = mean(0.9, 0.92, 0.95)
VDN = [0.5, 0.6, 0.55, 0.4, 0.45]
# iql runs only on 3m, 3 seeds: first reaches 80% at 20k, 50k, never -> median seed at 50k
IQL = {0: (0.85, 20_000), 1: (0.9, 50_000), 2: (0.3, None)}


def _curve(final: float, reach80_at: int | None) -> np.ndarray:
    """Zero, then 0.8 from `reach80_at` on (never if None), ending at `final`."""
    curve = np.zeros(len(STEPS))
    if reach80_at is not None:
        curve[STEPS >= reach80_at] = 0.8
    curve[-1] = final
    return curve


def _run(root: Path, algo: str, map_name: str, seed: int, curve, steps=STEPS, status=STATUS_DONE) -> Path:
    d = root / "runs" / f"{algo}__{map_name}__s{seed}"
    d.mkdir(parents=True)
    RunInfo(algo, map_name, "smax", seed, status, int(steps[-1]), int(steps[-1])).save(d)
    (d / "config.yaml").write_text(build_config(algo, map_name, seed, backend="smax").to_yaml())
    curve = np.asarray(curve, dtype=float)
    pd.DataFrame({"env_steps": steps, "episodes": steps // 20, "test_win_rate": curve, "test_return": curve * 20,
                  "loss": 0.1, "epsilon": 0.05, "wall_s": steps / 500}).to_csv(d / "metrics.csv", index=False)
    return d


@pytest.fixture
def bench(tmp_path) -> Path:
    root = tmp_path / "bench"
    for m in ("3m", "8m"):
        for seed, (q, v) in enumerate(zip(QMIX, VDN)):
            _run(root, "qmix", m, seed, _curve(q, 30_000))
            _run(root, "vdn", m, seed, _curve(v, None))
    for seed, (final, reach) in IQL.items():
        _run(root, "iql", "3m", seed, _curve(final, reach))
    return root


@pytest.fixture(autouse=True)
def console_lines(capsys):
    """The library's log lines on stderr, as the CLI shows them (mafac/log.py)."""
    from mafac.log import console

    with console():
        yield


def _row(frame: pd.DataFrame, m: str, label: str) -> pd.Series:
    return frame[(frame["map"] == m) & (frame["label"] == label)].iloc[0]


def _md_row(text: str, m: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {m} |"))


def test_table_numbers_on_known_seed_values(bench):
    frame = table_frame(load_results([bench]), reps=REPS)
    q = _row(frame, "3m", "qmix")
    assert q["n"] == 5 and q["median"] == pytest.approx(0.92)
    assert q["iqm"] == pytest.approx(np.mean([0.9, 0.92, 0.95])) == pytest.approx(sps.trim_mean(QMIX, 0.25))
    assert q["median_low"] <= 0.92 <= q["median_high"] and q["iqm_low"] <= q["iqm"] <= q["iqm_high"]
    assert q["median_low"] >= min(QMIX) and q["median_high"] <= max(QMIX)
    assert q["steps_to_80"] == 30_000 and q["seeds_reached_80"] == 5
    v = _row(frame, "8m", "vdn")
    assert v["median"] == pytest.approx(0.5) and np.isnan(v["steps_to_80"]) and v["seeds_reached_80"] == 0
    i = _row(frame, "3m", "iql")
    assert i["n"] == 3 and i["median"] == pytest.approx(0.85) and i["iqm"] == pytest.approx(np.mean([0.85, 0.9, 0.3]))
    assert i["steps_to_80"] == 50_000 and i["seeds_reached_80"] == 2
    agg = _row(frame, "all maps", "qmix")  # both maps hold the same seeds: the aggregate equals a map's numbers
    assert agg["kind"] == "aggregate" and agg["n"] == 5 and agg["iqm"] == pytest.approx(q["iqm"])
    assert "iql" not in set(frame[frame["map"] == "all maps"]["label"])  # no runs on 8m


def test_markdown_table_bolds_best_and_is_written(bench):
    text = write_table([bench], reps=REPS)
    assert (bench / "table.md").read_text() == text
    assert _md_row(text, "map") == "| map | iql | qmix | vdn |"
    row = _md_row(text, "3m")
    cells = row.split(" | ")
    assert cells[2].startswith("**0.92** [") and "IQM 0.92, n=5, 80% @ 30k" in cells[2]
    assert "**" not in cells[1] + cells[3]
    assert "0.85 [" in cells[1] and "80% @ 50k (2/3 seeds)" in cells[1]
    assert "80% never" in cells[3]
    assert "**0.92**" in _md_row(text, "all maps") and "n=5x2" in _md_row(text, "all maps")
    assert "Not in 'all maps' (no runs on every map): iql." in text


def test_at_uses_last_evaluation_before_the_step_budget(bench):
    frame = table_frame(load_results([bench]), at=55_000, reps=REPS)
    assert _row(frame, "3m", "qmix")["median"] == pytest.approx(0.8)
    assert _row(frame, "3m", "vdn")["median"] == pytest.approx(0.0)
    assert _row(frame, "3m", "iql")["steps_to_80"] == 50_000
    with pytest.raises(MafacError, match="no run has a test_win_rate evaluation at or before"):
        table_frame(load_results([bench]), at=-1)


def test_csv_and_latex_formats(bench, tmp_path):
    csv_text = write_table([bench], fmt="csv", reps=REPS)
    assert (bench / "table.csv").exists()
    frame = pd.read_csv(io.StringIO(csv_text), comment="#")
    assert {"map", "label", "median", "median_low", "median_high", "iqm", "iqm_low", "iqm_high", "n",
            "steps_to_80"} <= set(frame.columns)
    assert len(frame) == 3 + 2 + 2  # 3m: three labels, 8m: two, all maps: two
    tex = write_table([bench], fmt="latex", out=tmp_path / "t.tex", reps=REPS)
    assert "\\begin{tabular}" in tex and "\\textbf{0.92}" in tex and "80\\% @ 30k" in tex
    assert (tmp_path / "t.tex").read_text() == tex
    with pytest.raises(MafacError, match="unknown table format 'html'"):
        write_table([bench], fmt="html")


def test_single_seed_and_single_map_do_not_crash(tmp_path):
    root = tmp_path / "one"
    _run(root, "qmix", "3m", 0, _curve(0.7, 30_000))
    run_dir = _run(root, "vdn", "3m", 0, _curve(0.6, None))
    frame = table_frame(load_results([root]), reps=REPS)
    q = _row(frame, "3m", "qmix")
    assert q["n"] == 1 and q["median"] == q["median_low"] == q["median_high"] == pytest.approx(0.7)
    assert "all maps" not in set(frame["map"])
    assert len(write_plots([root], tmp_path / "plots", reps=REPS)) == 2 * len(FIGURES)
    assert load_results([run_dir]).labels == ["vdn"]  # a single run dir is a RESULTS argument too


def test_every_figure_is_a_real_image(bench, tmp_path):
    out = tmp_path / "figs"
    result = CliRunner().invoke(plot_cmd, [str(bench), "--out", str(out), "--reps", "100"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{e}" for n in FIGURES for e in ("pdf", "png"))
    for name in FIGURES:
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(out / f"{name}.png")
        assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 300 and img.std() > 0.01
        pdf = (out / f"{name}.pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and len(pdf) > 1000


def test_default_plot_dir_and_fixed_palette(tmp_path):
    root = tmp_path / "small"
    for seed in range(2):
        _run(root, "qmix", "3m", seed, _curve(0.9, 30_000))
    paths = write_plots([root], reps=100)
    assert {p.parent for p in paths} == {root / "plots"}
    assert palette(["vdn", "qmix"]) == palette(["qmix", "vdn"])
    assert palette(["qmix", "vdn"])["qmix"] != palette(["qmix", "vdn"])["vdn"]


def test_learning_curves_share_one_step_grid():
    a = pd.DataFrame({"env_steps": [0, 10, 20, 30], "test_win_rate": [0.0, 0.2, 0.4, 0.6]})
    b = pd.DataFrame({"env_steps": [5, 25], "test_win_rate": [0.0, 1.0]})
    grid, curves = _run_curves([a, b])
    assert grid[0] == 5 and grid[-1] == 25 and curves.shape == (2, len(grid))
    assert np.allclose(curves[0], grid * 0.02) and np.allclose(curves[1], (grid - 5) / 20)


def test_merging_two_result_directories(bench, tmp_path):
    ref = tmp_path / "reference"
    for seed in range(3):
        _run(ref, "qmix", "3m", seed, _curve(0.7, 50_000))
    res = load_results([bench, ref])
    assert {"qmix (bench)", "qmix (reference)", "vdn (bench)"} <= set(res.labels)
    text = write_table([bench, ref], out=tmp_path / "t.md", reps=REPS)
    assert "| map | iql (bench) | qmix (bench) | qmix (reference) | vdn (bench) |" in text
    assert "0.70 [0.70, 0.70] (IQM 0.70, n=3, 80% @ 50k)" in _md_row(text, "3m")
    assert not (ref / "table.md").exists() and (tmp_path / "t.md").exists()


def test_marl_eval_export(bench, tmp_path):
    notes = []
    path = export([bench], say=notes.append)
    assert path == bench / "marl_eval.json"
    tree = json.loads(path.read_text())
    assert list(tree) == ["smax"] and sorted(tree["smax"]) == ["3m", "8m"]
    # iql ran on 3m only: marl-eval needs every algorithm on every task, so it is left out, and said
    assert sorted(tree["smax"]["3m"]) == ["qmix", "vdn"] and any("left out iql" in n for n in notes), notes
    runs = tree["smax"]["3m"]["qmix"]
    assert list(runs) == [f"run_{s}" for s in range(5)]
    run = runs["run_1"]
    assert list(run) == [f"step_{i}" for i in range(len(STEPS))] + ["absolute_metrics"]  # marl-eval reads order
    assert run["step_3"] == {"step_count": 30_000, "test_win_rate": [0.8], "test_return": [16.0]}
    assert isinstance(run["step_10"]["step_count"], int) and run["step_10"]["step_count"] == 100_000
    assert run["absolute_metrics"] == {"test_win_rate": [QMIX[1]], "test_return": [QMIX[1] * 20]}
    result = CliRunner().invoke(export_cmd, [str(bench), "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0 and json.loads((tmp_path / "m.json").read_text()) == tree
    assert "left out iql" in result.output  # (CliRunner mixes stderr in)


def _replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line] = text
    path.write_text("".join(lines))


def _unlink(d: Path, *names: str) -> None:
    for name in names:
        (d / name).unlink()


GARBAGE = np.random.default_rng(0).bytes(4096)  # what a disk or a stray writer leaves: any byte 0x00-0xff

DAMAGE = {
    "missing metrics": (lambda d: (d / "metrics.csv").unlink(), "metrics.csv: missing"),
    "binary metrics": (lambda d: (d / "metrics.csv").write_bytes(GARBAGE), "metrics.csv: unreadable (not text: "),
    "zero-filled metrics": (lambda d: (d / "metrics.csv").write_bytes(b"\0" * 4096),
                            "metrics.csv: unreadable (not text: control byte 0x00 at character 0)"),
    "no files": (lambda d: _unlink(d, "run.json", "config.yaml", "metrics.csv"), "vdn__8m__s4: no files: never started"),
    "only metrics": (lambda d: _unlink(d, "run.json", "config.yaml"),
                     "run.json: missing, and no config.yaml to identify the run from (the dir holds metrics.csv)"),
    "no run.json, corrupt config": (lambda d: (_unlink(d, "run.json"), (d / "config.yaml").write_text("algo: [")),
                                    "run.json: missing, and {bad}/config.yaml: not valid YAML"),
    "no run.json, config without env": (lambda d: (_unlink(d, "run.json"), (d / "config.yaml").write_text("algo: vdn\n")),
                                        "config.yaml: not a resolved mafac config (no env section)"),
    "partial last line": (lambda d: (d / "metrics.csv").write_text((d / "metrics.csv").read_text()[:-9]),
                          "metrics.csv: truncated (partial last line)"),
    "short row": (lambda d: _replace_line(d / "metrics.csv", 4, "30000,1500,0.5\n"), "line 5 has 3 fields, expected 7"),
    "non-numeric": (lambda d: _replace_line(d / "metrics.csv", 2, "10000,500,abc,1,0.1,0.05,20\n"),
                    "non-numeric value 'abc' in column test_win_rate on line 3"),
    "empty": (lambda d: (d / "metrics.csv").write_text(""), "metrics.csv: empty file"),
    "missing column": (lambda d: (d / "metrics.csv").write_text("env_steps,loss\n0,1\n"),
                       "missing required column(s) test_win_rate"),
    "corrupt run.json, no config": (lambda d: ((d / "run.json").write_text("{not json"), _unlink(d, "config.yaml")),
                                    "run.json: corrupt run file"),
    "run.json without seed, no config": (
        lambda d: ((d / "run.json").write_text('{"algo": "vdn", "map": "8m", "env": "smax"}'), _unlink(d, "config.yaml")),
        "run.json: corrupt run file (TypeError: RunInfo.__init__() missing 1 required positional argument: 'seed'), "
        "and no config.yaml to identify the run from (the dir holds metrics.csv, run.json)"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_corrupt_run_is_named_skipped_and_the_rest_tabled(bench, capsys, case):
    damage, problem = DAMAGE[case]
    bad = bench / "runs" / "vdn__8m__s4"
    damage(bad)
    problem = problem.format(bad=bad)
    text = write_table([bench], reps=REPS)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {bad}") and problem in err[0]
    assert "Skipped 1 run(s):" in text and f"- {bad}" in text and problem in text
    assert "n=5" in _md_row(text, "3m").split(" | ")[3]  # vdn on 3m untouched
    assert "n=4" in _md_row(text, "8m").split(" | ")[3]  # vdn on 8m tabled without the bad seed


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_run_without_a_usable_run_json_is_tabled_from_its_config(bench, capsys, tmp_path, damage):
    bad = bench / "runs" / "vdn__8m__s4"
    if damage == "missing":
        (bad / "run.json").unlink()
    else:
        (bad / "run.json").write_text('{"algo": "vdn", "map": "8m", "env": "smax", "seed": "four"}')
    res = load_results([bench])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {bad / 'run.json'}: ")
    assert err[0].endswith("; tabled from config.yaml and metrics.csv, status unknown")
    assert res.skipped == []
    row = res.final().set_index("run_dir").loc[str(bad)]
    assert (row["algo"], row["map"], row["env"], row["seed"], row["status"]) == ("vdn", "8m", "smax", 4, "unknown")
    assert row["test_win_rate"] == pytest.approx(VDN[4])
    text = write_table([bench], out=tmp_path / "t.md", reps=REPS)
    assert "n=5" in _md_row(text, "8m").split(" | ")[3] and "Skipped" not in text
    assert f"1 run(s) not marked done, tabled up to their last evaluation: {bad} (unknown)." in text


def test_binary_metrics_are_unreadable_not_truncated(tmp_path):
    good = "env_steps,test_win_rate\n0,0.0\n10000,0.5\n".encode()
    cases = {"random bytes": GARBAGE, "NUL bytes": b"\0" * 100, "NUL-padded tail": good + b"\0" * 100,
             "latin-1": good + "1e4,caf\xe9".encode("latin-1"), "ASCII controls": bytes(range(1, 32)) * 4}
    for name, data in cases.items():
        (tmp_path / "metrics.csv").write_bytes(data)
        with pytest.raises(MafacError) as e:
            read_metrics(tmp_path / "metrics.csv")
        assert ": unreadable (not text: " in str(e.value) and "truncated" not in str(e.value), name
    (tmp_path / "metrics.csv").write_bytes(good[:-3])  # a real partial last line is still called truncated
    with pytest.raises(MafacError, match="truncated"):
        read_metrics(tmp_path / "metrics.csv")


def test_every_dir_under_runs_is_tabled_or_named(bench, capsys):
    runs = bench / "runs"
    (runs / "qmix__8m__s5").mkdir()  # created, then killed before its first write
    temp_only = runs / "qmix__8m__s6"
    temp_only.mkdir()
    (temp_only / ".run.json.x1.tmp").write_text("{")  # killed mid atomic write
    (runs / "vdn__3m__s0" / "run.json").unlink()  # tabled from config.yaml
    (runs / "iql__3m__s1" / "metrics.csv").write_bytes(GARBAGE)
    (runs / "notes.txt").write_text("a file, not a run")
    result = CliRunner().invoke(table_cmd, [str(bench), "--reps", "100"])
    assert result.exit_code == 0, result.output
    res = load_results([bench], warn=False)
    tabled, skipped = set(res.data["run_dir"]), {s.run_dir for s in res.skipped}
    assert tabled | skipped == {str(d) for d in runs.iterdir() if d.is_dir()} and not tabled & skipped
    assert skipped == {str(runs / "qmix__8m__s5"), str(temp_only), str(runs / "iql__3m__s1")}
    text = (bench / "table.md").read_text()
    assert "Skipped 3 run(s):" in text
    assert f"- {runs / 'qmix__8m__s5'}: no files: never started" in text
    assert f"- {temp_only / 'run.json'}: missing, and no config.yaml to identify the run from (the dir holds .run.json.x1.tmp)" in text
    assert f"- {runs / 'iql__3m__s1' / 'metrics.csv'}: unreadable (not text: " in text
    assert "n=5" in _md_row(text, "3m").split(" | ")[3]  # vdn on 3m with its seed 0 from config.yaml
    assert "n=2" in _md_row(text, "3m").split(" | ")[1]  # iql lost seed 1


def test_duplicate_and_unfinished_runs_are_reported(bench, tmp_path, capsys):
    dup = bench / "more" / "qmix__3m__s0__later"
    dup.mkdir(parents=True)
    RunInfo("qmix", "3m", "smax", 0, "running", 20_000, 100_000).save(dup)
    pd.DataFrame({"env_steps": [0, 10_000, 20_000], "test_win_rate": [0.0, 0.1, 0.2]}).to_csv(dup / "metrics.csv", index=False)
    (bench / "runs" / "iql__3m__s2" / "run.json").write_text(
        (bench / "runs" / "iql__3m__s2" / "run.json").read_text().replace('"done"', '"running"'))
    res = load_results([bench])
    assert [s.run_dir for s in res.skipped] == [str(dup)] and "duplicate of" in res.skipped[0].message
    text = write_table([bench], out=tmp_path / "t.md", reps=REPS)
    assert "n=5" in _md_row(text, "3m").split(" | ")[2]
    assert "1 run(s) not marked done" in text and "iql__3m__s2 (running)" in text


def test_bad_metric_path_and_empty_results(bench, tmp_path):
    with pytest.raises(MafacError, match=r"unknown metric 'nope'; available metric columns: .*test_win_rate"):
        write_table([bench], metric="nope")
    with pytest.raises(MafacError, match="does not exist"):
        write_table([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MafacError, match="no loadable runs"):
        write_table([tmp_path / "empty"])
    only_bad = tmp_path / "bad"
    (_run(only_bad, "qmix", "3m", 0, _curve(0.5, None)) / "metrics.csv").write_text("")
    with pytest.raises(MafacError, match=r"no loadable runs .*1 run\(s\) skipped"):
        load_results([only_bad], warn=False)
    written = {"episodes", "test_win_rate", "test_return", "loss", "epsilon", "wall_s"}  # what _run writes
    assert set(load_results([bench]).metrics()) == written and written <= set(METRIC_COLUMNS)


def test_table_command(bench, tmp_path):
    runner = CliRunner()
    out = tmp_path / "t.md"
    result = runner.invoke(table_cmd, [str(bench), "--out", str(out), "--reps", "100", "--metric", "test_return"])
    assert result.exit_code == 0, result.output
    assert result.output == out.read_text() and "**18.40**" in _md_row(result.output, "3m")
    bad = runner.invoke(table_cmd, [str(bench), "--metric", "nope"])
    assert bad.exit_code != 0 and isinstance(bad.exception, MafacError) and "nope" in str(bad.exception)
    missing = runner.invoke(table_cmd, [str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, MafacError) and "nowhere" in str(missing.exception)


def _check_reference(new: Path, ref: Path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "check_reference.py"
    return subprocess.run([sys.executable, str(script), str(new), "--reference", str(ref)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_check_reference_agrees_with_a_rerun_and_flags_a_broken_learner(bench, tmp_path):
    # Same directory name on both sides: the labels must still tell them apart.
    rerun, broken = tmp_path / "a" / "bench", tmp_path / "broken"
    for seed, (q, v) in enumerate(zip(QMIX, VDN)):
        _run(rerun, "qmix", "3m", seed, _curve(q - 0.02, 30_000))
        _run(rerun, "vdn", "3m", seed, _curve(v + 0.03, None))
        _run(broken, "qmix", "3m", seed, _curve(0.05 * seed, None))  # QMIX no longer learns
        _run(broken, "vdn", "3m", seed, _curve(v, None))
    ok = _check_reference(rerun, bench)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [line.split()[:3] for line in ok.stdout.splitlines()[:2]] == [["ok", "3m", "qmix"], ["ok", "3m", "vdn"]]
    diff = _check_reference(broken, bench)
    assert diff.returncode == 1 and "DIFF 3m         qmix" in diff.stdout and "ok   3m         vdn" in diff.stdout
    assert "1 cell(s) outside tolerance" in diff.stdout


@pytest.mark.slow
def test_check_reference_bad_input_is_one_line(bench, tmp_path):
    missing = _check_reference(tmp_path / "nowhere", bench)
    assert missing.returncode == 2 and "nowhere" in missing.stderr and len(missing.stderr.splitlines()) == 1
    other_map = tmp_path / "other"
    _run(other_map, "qmix", "5m_vs_6m", 0, _curve(0.5, None))
    nothing = _check_reference(other_map, bench)
    assert nothing.returncode == 1 and "nothing compared" in nothing.stdout


MPE_RETURNS = {"qmix": [-60.0, -55.0, -58.0], "vdn": [-80.0, -75.0, -90.0]}


def _mpe_run(root: Path, algo: str, seed: int, final: float) -> Path:
    """An mpe run as `mafac train --env mpe` writes it: nothing is ever won, the return is the score."""
    d = root / "runs" / f"{algo}__simple_spread_v3__s{seed}"
    d.mkdir(parents=True)
    RunInfo(algo, "simple_spread_v3", "mpe", seed, STATUS_DONE, int(STEPS[-1]), int(STEPS[-1])).save(d)
    (d / "config.yaml").write_text(build_config(algo, "simple_spread_v3", seed, backend="mpe").to_yaml())
    returns = np.linspace(-150.0, final, len(STEPS))
    pd.DataFrame({"env_steps": STEPS, "episodes": STEPS // 25, "test_win_rate": 0.0, "test_return": returns,
                  "loss": 0.1, "epsilon": 0.05, "wall_s": STEPS / 500}).to_csv(d / "metrics.csv", index=False)
    return d


def test_each_env_backend_is_tabled_and_plotted_by_its_own_metric(bench, tmp_path):
    root = tmp_path / "mpe"
    for algo, finals in MPE_RETURNS.items():
        for seed, final in enumerate(finals):
            _mpe_run(root, algo, seed, final)
    assert load_results([root]).default_metric() == "test_return"
    assert load_results([bench]).default_metric() == "test_win_rate"
    result = CliRunner().invoke(table_cmd, [str(root), "--reps", "100"])  # as a bench's summary calls it
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("| map | qmix | vdn |") and "Final test_return (last evaluation)" in text
    assert "**-58.00**" in _md_row(text, "simple_spread_v3") and "-80.00" in _md_row(text, "simple_spread_v3")
    assert "80%" not in text  # no win-rate milestones where nothing can be won
    won = write_table([root], metric="test_win_rate", out=tmp_path / "w.md", reps=100)  # --metric still decides
    assert "Final test_win_rate" in won and "**0.00**" in _md_row(won, "simple_spread_v3")
    out = tmp_path / "figs"
    result = CliRunner().invoke(plot_cmd, [str(root), "--out", str(out), "--reps", "100"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.png"))) == len(FIGURES)
    with pytest.raises(MafacError, match=r"different metrics \(test_return for mpe; test_win_rate for smax\); "
                                         r"name one with --metric"):
        write_table([root, bench], reps=100)
    mixed = write_table([root, bench], metric="test_return", out=tmp_path / "m.md", reps=100)
    assert "simple_spread_v3" in mixed and "| 3m |" in mixed


FIVE_PLUS = ("cw_qmix", "iql", "qmix", "qplex", "vdn")  # five algorithms: the matrix form


def _many(root: Path, algos=FIVE_PLUS, maps=("3m", "8m"), seeds=3) -> Path:
    """Runs of several algorithms whose final win rates differ by algorithm, with seed noise."""
    rng = np.random.default_rng(7)
    for m in maps:
        for i, a in enumerate(algos):
            for s in range(seeds):
                _run(root, a, m, s, _curve(float(np.clip(0.95 - 0.1 * i + 0.08 * rng.normal(), 0, 1)), None))
    return root


def _bar_numbers(fig) -> dict:
    """(left, right) -> (point, low, high) as the bar chart draws them: a bar over the CI and a
    black tick at the point, row by row, named by the two axes' tick labels."""
    ax, right = fig.axes
    lefts = [t.get_text() for t in ax.get_yticklabels()]
    rights = [t.get_text() for t in right.get_yticklabels()]
    bars = sorted(ax.patches, key=lambda p: p.get_y())
    ticks = sorted((seg for c in ax.collections for seg in c.get_segments()), key=lambda s: s[0][1])
    return {(lefts[k], rights[k]): (ticks[k][0][0], bar.get_x(), bar.get_x() + bar.get_width())
            for k, bar in enumerate(bars)}


def _matrix_numbers(fig) -> dict:
    """(row, column) -> the text of that cell, as the matrix draws it."""
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    return {(rows[round(t.get_position()[1])], cols[round(t.get_position()[0])]): t.get_text() for t in ax.texts}


def test_probability_of_improvement_matrix_shows_the_bar_charts_numbers(tmp_path):
    from mafac.analysis.plots import _pyplot, improvement, improvement_bars, improvement_matrix_figure
    from mafac.analysis.stats import aggregate_scores, probability_of_improvement

    reps = 50  # the numbers are compared, not judged: a cheap bootstrap will do
    res = load_results([_many(tmp_path / "five")])
    plt, colours = _pyplot(), palette(res.labels)
    cells = _matrix_numbers(improvement(res, colours, plt, reps))  # what `mafac plot` draws for five
    scores, _ = aggregate_scores(res.final(), "test_win_rate", res.labels, res.maps)
    probs = probability_of_improvement(scores, reps)  # seeded: the same numbers again
    bars = _bar_numbers(improvement_bars(probs, colours, plt))
    assert cells == _matrix_numbers(improvement_matrix_figure(probs, plt))
    assert len(bars) == 10 and len(cells) == 25  # 5 choose 2 pairs; 5 x 5 cells, the diagonal's "-" included
    for (x, y), (p, lo, hi) in bars.items():
        point, low, high = probs[(x, y)]
        assert (p, lo) == pytest.approx((point, low)) and hi == pytest.approx(max(high, low + 1e-3))  # a zero CI: 1e-3 wide
        assert cells[(x, y)] == f"{point:.2f}\n[{low:.2f}, {high:.2f}]"
        assert cells[(y, x)] == f"{1 - point:.2f}\n[{1 - high:.2f}, {1 - low:.2f}]"
    assert {cells[(a, a)] for a in res.labels} == {"-"}
    assert len({c for c in cells.values() if c != "-"}) > 3  # the algorithms really differ
    four = load_results([_many(tmp_path / "four", algos=FIVE_PLUS[:4])])  # up to four: the bars
    assert len(_bar_numbers(improvement(four, palette(four.labels), plt, reps))) == 6


def test_no_legend_covers_a_curve(tmp_path):
    from mafac.analysis.plots import DRAWERS, _pyplot

    plt = _pyplot()
    for maps in (("3m",), ("3m", "8m", "2s3z", "3s5z", "5m_vs_6m")):  # one panel; five and a spare one
        res = load_results([_many(tmp_path / "-".join(maps), maps=maps, seeds=2)])
        for name in ("learning_curves", "final_performance", "performance_profiles"):
            fig = DRAWERS[name](res, palette(res.labels), plt, 20)  # where the legend goes, not the CIs
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            legends = [lg for lg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
            assert len(legends) == 1, name
            box = legends[0].get_window_extent(renderer)
            data_axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
            assert data_axes and not any(box.overlaps(ax.get_window_extent(renderer)) for ax in data_axes), name
            assert len(legends[0].get_texts()) == len(FIVE_PLUS)
            plt.close(fig)


def test_benches_of_one_map_each_merge_into_one_table(tmp_path):
    """`mafac table results/hard_*`: a bench per map, the same algorithms: one column per
    algorithm and the aggregate row over every map; nothing written into any bench's own files."""
    benches = [_many(tmp_path / f"hard_{m}", algos=("qmix", "qtran", "vdn"), maps=(m,)) for m in ("2s3z", "3s5z")]
    res = load_results(benches)
    assert res.labels == ["qmix", "qtran", "vdn"] and res.maps == ["2s3z", "3s5z"]
    text = write_table(benches, reps=100)
    assert "| map | qmix | qtran | vdn |" in text and "n=3x2" in _md_row(text, "all maps")
    assert not any((b / "table.md").exists() for b in benches)
    result = CliRunner().invoke(table_cmd, [str(b) for b in benches] + ["--reps", "100"])
    assert result.exit_code == 0 and "| all maps |" in result.output and "--out FILE writes it" in result.output
    with pytest.raises(MafacError, match="2 RESULTS paths: say where their plots go with --out DIR"):
        write_plots(benches, reps=REPS)
    # a source that overlaps another (the same algorithm on the same map) keeps the two apart
    rerun = _many(tmp_path / "rerun_2s3z", algos=("qmix",), maps=("2s3z",))
    assert {"qmix (hard_2s3z)", "qmix (rerun_2s3z)", "vdn (hard_2s3z)"} <= set(load_results(benches + [rerun]).labels)


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, 1), (4, 3), (10, 4), (7, 2)])
def test_our_iqm_is_rliables(shape):
    from rliable import metrics

    from mafac.analysis.stats import iqm
    x = np.random.default_rng(sum(shape)).random(shape)
    x[0, 0] = x[-1, -1]  # a tie, as seeds that end at the same win rate make
    assert iqm(x) == pytest.approx(metrics.aggregate_iqm(x), rel=1e-12, abs=1e-15)
