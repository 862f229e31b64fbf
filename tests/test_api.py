"""The Python API: the README's snippet as written, lazy imports, and the CLI going through it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import mafac
from mafac.errors import MafacError

from conftest import ROOT


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_runs_as_written(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_snippet(), "README.md (Python API)", "exec"), namespace)
    metrics, data = namespace["metrics"], namespace["data"]
    assert list(metrics["env_steps"]) == [0, 1000, 2000]
    assert metrics.attrs["run_dir"] == "results/runs/api_demo"
    assert (tmp_path / "win_rate.png").stat().st_size > 0
    # load_results reads back what train returned: the same evaluations
    assert list(data["env_steps"]) == list(metrics["env_steps"])
    assert list(data["test_win_rate"]) == pytest.approx(list(metrics["test_win_rate"]))
    assert set(data["algo"]) == {"qmix"} and set(data["map"]) == {"3m"}


def test_import_is_lazy():
    code = "import sys, mafac; mafac.make_config; print(sorted(m for m in ('torch', 'jax', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_make_config_takes_dotted_settings():
    cfg = mafac.make_config("vdn", "8m", preset="fast", seed=3, steps=1234,
                            **{"learner.lr": 2e-3, "learner.optimizer": "rmsprop", "agent.obs_agent_id": False})
    assert (cfg.algo, cfg.env.map, cfg.seed, cfg.run.t_max) == ("vdn", "8m", 3, 1234)
    assert cfg.learner.lr == 2e-3 and cfg.learner.optimizer == "rmsprop" and cfg.agent.obs_agent_id is False
    with pytest.raises(MafacError, match="unknown config key 'learner.lrr'"):
        mafac.make_config(**{"learner.lrr": 1})


def test_train_and_bench_are_modules_and_functions():
    """mafac.train / mafac.bench are also a module and a package; both uses must keep working."""
    import inspect

    from mafac.bench.spec import parse_seeds  # noqa: F401  (imports the package first)
    from mafac.train import train_run  # noqa: F401

    assert callable(mafac.train) and callable(mafac.bench)
    assert "config" in inspect.signature(mafac.train).parameters
    assert "algos" in inspect.signature(mafac.bench).parameters
    assert mafac.train.train_run is train_run


@pytest.mark.slow
def test_bench_through_the_api(tmp_path, tiny_overrides):
    settings = dict(s.split("=", 1) for s in tiny_overrides() if not s.startswith("run.t_max"))
    data = mafac.bench("vdn", ["3m"], seeds=[0], steps=200, workers=1, name="api", out_root=tmp_path, **settings)
    assert set(data["algo"]) == {"vdn"} and list(data["env_steps"]) == [0, 200]
    assert (tmp_path / "api" / "runs" / "vdn__3m__s0" / "metrics.csv").exists()
