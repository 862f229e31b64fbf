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


@pytest.mark.slow
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


@pytest.mark.parametrize("name", mafac.__all__)
def test_api_verbs_are_plain_functions(name):
    """Each verb is a function of mafac.api (not a module made callable): it pickles (so Ray and
    multiprocessing can ship it), carries its own docstring, and no module shadows it."""
    import inspect
    import pickle
    import types

    import mafac.api
    import mafac.benchmark.run  # noqa: F401  importing the packages must not replace the verbs
    import mafac.rendering  # noqa: F401
    import mafac.search.study  # noqa: F401
    import mafac.trainer  # noqa: F401

    fn = getattr(mafac, name)
    assert isinstance(fn, types.FunctionType) and fn is getattr(mafac.api, name)
    assert pickle.loads(pickle.dumps(fn)) is fn
    assert fn.__doc__ and inspect.getdoc(fn) != inspect.getdoc(mafac.api)


def test_import_loads_no_heavy_library_even_with_every_verb_named():
    code = ("import sys, mafac; [getattr(mafac, n) for n in mafac.__all__]; "
            "print(sorted(m for m in ('torch', 'jax', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_bench_through_the_api(tmp_path, tiny_overrides):
    import yaml

    settings = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in tiny_overrides() if not s.startswith("run.t_max"))}
    data = mafac.bench("vdn", ["3m"], seeds=[0], steps=200, workers=1, name="api", out_root=tmp_path, probe=False,
                       **settings)
    assert set(data["algo"]) == {"vdn"} and list(data["env_steps"]) == [0, 200]
    assert (tmp_path / "api" / "runs" / "vdn__3m__s0" / "metrics.csv").exists()


def test_a_quiet_bench_writes_nothing_on_stdout(tmp_path, capfd):
    """A notebook's bench: no progress bar, nothing on stdout (its own, or its worker processes'),
    the lines on the "mafac.bench" logger, the table returned."""
    import logging

    said = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("mafac").addHandler(handler)
    logging.getLogger("mafac").setLevel(logging.INFO)
    try:
        data = mafac.bench("vdn", "climbing", seeds=1, steps=100, workers=1, name="q", out_root=tmp_path, env="matrix",
                           preset="matrix", probe=False, quiet=True, **{"run.test_interval": 50})
    finally:
        logging.getLogger("mafac").removeHandler(handler)
        logging.getLogger("mafac").setLevel(logging.NOTSET)
    out, err = capfd.readouterr()
    assert out == "" and "it/s" not in err and "step/s" not in err  # no stdout, no bar
    assert data["env_steps"].iloc[0] == 0 and data["env_steps"].iloc[-1] >= 100 and "vdn" in data.attrs["table"]
    assert said[0].startswith("mafac bench q: 1 algo x 1 map x 1 seed = 1 run (0 already done)")
    assert any(line.startswith("  disk: up to ") for line in said) and said[-1].startswith("bench q: 1/1 runs done")
    # load=False: the BenchResult, which still serves as the bench directory it used to be
    result = mafac.bench("vdn", "climbing", seeds=1, steps=100, workers=1, name="q", out_root=tmp_path, env="matrix",
                         preset="matrix", probe=False, quiet=True, load=False, **{"run.test_interval": 50})
    from pathlib import Path

    assert Path(result) == tmp_path / "q" == result.root and (result / "summary.json").exists() and not result.failed
