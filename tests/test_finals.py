"""The final evaluation (mafac/finals.py): a bench plays it at the end of every run, tables and the
marl-eval export use it, and it is the same figure whoever computes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mafac.analysis import export, load_results, table_frame
from mafac.errors import MafacError
from mafac.evaluation import final_evaluation
from mafac.rundir import FINAL_EVAL_JSON, METRICS_CSV, STATUS_DONE, RunInfo
from mafac.seeding import RunSeeds

MAFAC = [sys.executable, "-m", "mafac"]


def _bench(tmp: Path, tiny, *extra: str) -> subprocess.CompletedProcess:
    sets = [x for o in tiny() if not o.startswith("run.t_max") for x in ("--set", o)]
    cmd = MAFAC + ["bench", "--algos", "qmix", "--maps", "3m", "--seeds", "2", "--steps", "400", "--workers", "2",
                   "--out-root", str(tmp), "--name", "fin", "--no-probe"] + sets + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_bench_final_evaluation_is_the_tables_figure_and_reproducible(tmp_path, tiny_overrides):
    out = _bench(tmp_path, tiny_overrides, "--final-episodes", "10")
    assert out.returncode == 0, out.stderr[-2000:]
    root = tmp_path / "fin"
    for run in sorted((root / "runs").iterdir()):
        final = json.loads((run / FINAL_EVAL_JSON).read_text())
        last = pd.read_csv(run / METRICS_CSV).iloc[-1]
        # 10 episodes of the final policy: 3 rounds of the 4 test envs, cut to 10
        assert final["episodes"] == 10 == len(final["won"]) == len(final["returns"])
        assert final["env_steps"] == last["env_steps"] >= 400 and final["per_evaluation_episodes"] == 4
        kept = [w for w, a in zip(final["won"], final["aborted"]) if not a]
        assert final["test_win_rate"] == pytest.approx(np.mean(kept))
        # recomputed from the checkpoint by another process's code path: the same episodes
        (run / FINAL_EVAL_JSON).unlink()
        assert final_evaluation(run, episodes=10) == final
    res = load_results([root])
    assert res.final_episodes() == 10
    frame = table_frame(res, reps=50)
    seeds = sorted(res.finals["test_win_rate"])
    assert frame.iloc[0]["median"] == pytest.approx(np.median(seeds))
    assert "final evaluation: 10+ greedy episodes" in (root / "table.md").read_text()

    # another --final-episodes is the same bench: only the final evaluation is played again
    metrics = {p: p.read_text() for p in root.glob("runs/*/metrics.csv")}
    out = _bench(tmp_path, tiny_overrides, "--final-episodes", "6")
    assert out.returncode == 0 and "2 runs (0 already done)" in out.stderr, out.stderr[-2000:]
    assert {p: p.read_text() for p in root.glob("runs/*/metrics.csv")} == metrics
    assert all(json.loads(p.read_text())["episodes"] == 6 for p in root.glob(f"runs/*/{FINAL_EVAL_JSON}"))
    # fewer episodes afterwards (benchmarks/final_eval.py --episodes 4): played and returned, and the
    # bench's 6 stay on disk; the 4 are the first 4 of the 6 (the same seeded rounds)
    run = sorted((root / "runs").iterdir())[0]
    six = json.loads((run / FINAL_EVAL_JSON).read_text())
    four = final_evaluation(run, episodes=4)
    assert four["episodes"] == 4 and four["won"] == six["won"][:4] and four["returns"] == six["returns"][:4]
    assert json.loads((run / FINAL_EVAL_JSON).read_text()) == six
    # ...read off the stored six without playing: a file that lacks per-episode lengths (as written
    # before they were kept) makes it play them, and the played four are the read-off four
    old_format = {k: v for k, v in six.items() if k not in ("timed_out", "length")}
    (run / FINAL_EVAL_JSON).write_text(json.dumps(old_format))
    assert final_evaluation(run, episodes=4) == four
    assert four["length"] == six["length"][:4] and four["timed_out"] == six["timed_out"][:4]
    # a finished run without its checkpoint (committed from another machine): answered from the
    # stored evaluation when it holds the episodes, else one line saying why not
    (run / FINAL_EVAL_JSON).write_text(json.dumps(six))
    (run / "checkpoint.pt").unlink()
    assert final_evaluation(run, episodes=4) == four and final_evaluation(run, episodes=6) == six
    (run / FINAL_EVAL_JSON).write_text(json.dumps(old_format))
    with pytest.raises(MafacError, match="written before per-episode time-outs and lengths were kept"):
        final_evaluation(run, episodes=4)
    # (a rerun with current final evaluations is a no-op: tests/test_bench.py's end-to-end test)


def test_final_episodes_seeds_are_their_own_stream():
    s = RunSeeds(3).all(evaluations=40, final_rounds=40)
    assert len(set(s.values())) == len(s)
    assert RunSeeds(3).final_episodes(0) != RunSeeds(4).final_episodes(0)


def test_bad_final_episodes_is_one_line(tmp_path, tiny_overrides):
    out = _bench(tmp_path, tiny_overrides, "--final-episodes", "-3")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == "error: bad --final-episodes -3; it must be >= 0 (0: no final evaluation)"


# -- the marl-eval export, checked by marl-eval itself -----------------------------------------------

def _run_dir(root: Path, algo: str, map_name: str, seed: int, steps: np.ndarray, final: bool) -> None:
    d = root / "runs" / f"{algo}__{map_name}__s{seed}"
    d.mkdir(parents=True)
    RunInfo(algo, map_name, "smax", seed, STATUS_DONE, int(steps[-1]), int(steps[-1])).save(d)
    win = np.linspace(0, 0.9, len(steps)) * (0.9 if algo == "vdn" else 1.0)
    pd.DataFrame({"env_steps": steps, "test_win_rate": win, "test_return": win * 20}).to_csv(d / METRICS_CSV, index=False)
    if final:
        won = [1] * 30 + [0] * 10
        (d / FINAL_EVAL_JSON).write_text(json.dumps({
            "episodes": 40, "env_steps": int(steps[-1]), "per_evaluation_episodes": 4, "test_win_rate": 0.75,
            "test_return": 15.0, "won": won, "returns": [20.0 * w for w in won], "aborted": [0] * 40}))


def test_marl_eval_accepts_the_export_of_maps_with_different_budgets(tmp_path, capsys):
    marl_eval = pytest.importorskip("marl_eval", reason="id-marl-eval (installed --no-deps by .ci/run)")
    from marl_eval.utils.data_processing_utils import data_process_pipeline
    from marl_eval.utils.diagnose_data_errors import DiagnoseData

    root = tmp_path / "b"
    for algo in ("qmix", "vdn"):
        for seed in range(3):
            _run_dir(root, algo, "3m", seed, np.arange(0, 300_001, 10_000), final=True)  # 31 evaluations
            _run_dir(root, algo, "8m", seed, np.arange(0, 400_001, 10_000), final=seed != 2)  # 41
    notes = []
    path = export([root], say=notes.append)
    assert any("resampled onto 31 evenly spaced evaluation points" in n for n in notes), notes
    assert any("2 of 12 runs have no final evaluation" in n for n in notes), notes
    tree = json.loads(path.read_text())
    check = DiagnoseData(tree).check_data()
    assert check == {"smax": {k: True for k in ("valid_algorithms", "valid_algorithm_names", "valid_runs",
                                                 "valid_steps", "valid_metrics")}}, capsys.readouterr().out
    processed = data_process_pipeline(tree, metrics_to_normalize=["test_return"])
    assert processed["extra"]["number_of_steps"] == 31 and processed["extra"]["number_of_runs"] == 3
    assert marl_eval is not None
    q3, q8 = tree["smax"]["3m"]["qmix"]["run_0"], tree["smax"]["8m"]["qmix"]["run_0"]
    # 3m is already on the grid: unchanged; 8m's 41 evaluations -> 31 points from 0 to 400k
    assert [q3[f"step_{i}"]["step_count"] for i in range(31)] == list(range(0, 300_001, 10_000))
    assert q8["step_30"]["step_count"] == 400_000 and q8["step_15"]["step_count"] == 200_000
    assert q8["step_15"]["test_win_rate"] == [pytest.approx(0.45)]  # linear curve: the middle value
    # the absolute metric: every final episode, or the last evaluation where there is none
    assert q3["absolute_metrics"]["test_win_rate"] == [1.0] * 30 + [0.0] * 10
    assert tree["smax"]["8m"]["qmix"]["run_2"]["absolute_metrics"]["test_win_rate"] == [pytest.approx(0.9)]


# -- benchmarks/final_eval.py on a bench finished on two machines ------------------------------------

def _stored_run(root: Path, seed: int, status: str, env_steps: int, won, old_format: bool = False) -> Path:
    """A run dir as a bench leaves it in git: run.json, config.yaml and final_eval.json, no checkpoint."""
    from mafac.config import build_config

    d = root / "runs" / f"qmix__3m__s{seed}"
    d.mkdir(parents=True)
    cfg = build_config("qmix", "3m", seed=seed, overrides=["env.test_n_envs=4"])
    (d / "config.yaml").write_text(cfg.to_yaml())
    RunInfo("qmix", "3m", "smax", seed, status, env_steps, 1000).save(d)
    n = len(won)
    data = {"episodes": n, "env_steps": env_steps, "per_evaluation_episodes": 4, "test_win_rate": float(np.mean(won)),
            "won": won, "returns": [float(w) for w in won], "aborted": [0] * n}
    if not old_format:
        data.update(timed_out=[1 - w for w in won], length=[10 + i for i in range(n)])
    (d / FINAL_EVAL_JSON).write_text(json.dumps(data))
    return d


def test_final_eval_script_reads_finals_off_stored_runs_and_keeps_earlier_rows(tmp_path):
    root = tmp_path / "b"
    _stored_run(root, 0, STATUS_DONE, 1000, [1, 1, 0, 0, 1, 1, 1, 1])  # first 4: 0.5
    _stored_run(root, 1, STATUS_DONE, 1000, [1] * 8, old_format=True)  # only an earlier CSV row can give it
    _stored_run(root, 2, STATUS_DONE, 1000, [0] * 8, old_format=True)  # nor that: skipped, named
    _stored_run(root, 3, "running", 400, [1] * 8)  # unfinished: skipped, whatever it stores
    (root / "final_eval_4.csv").write_text(
        "run,algo,map,seed,env_steps,episodes,test_win_rate,test_timeout_rate,test_episode_length\n"
        "qmix__3m__s1,qmix,3m,1,1000,4,0.75,0.25,33.5\n")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "final_eval.py"
    out = subprocess.run([sys.executable, str(script), str(root), "--episodes", "4"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = {ln.split(":")[0]: ln for ln in out.stdout.splitlines() if ln.startswith("qmix__")}
    assert "win 0.500 (time-outs 0.500, mean length 11.5) over 4 episodes" in lines["qmix__3m__s0"]
    assert "kept from final_eval_4.csv" in lines["qmix__3m__s1"]
    assert "skipped" in lines["qmix__3m__s2"] and "written before per-episode" in lines["qmix__3m__s2"]
    assert "skipped (not finished: running, 400 of 1,000 env steps)" in lines["qmix__3m__s3"]
    table = pd.read_csv(root / "final_eval_4.csv")
    assert table["run"].tolist() == ["qmix__3m__s0", "qmix__3m__s1"]
    assert table["test_win_rate"].tolist() == [0.5, 0.75] and table["test_episode_length"].tolist() == [11.5, 33.5]
    assert "| 3m | qmix | 0.625 | 0.500 / 0.750 |" in out.stdout
