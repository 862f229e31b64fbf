"""Plugins through real distributions: the installed example (examples/mafac-wvdn) and packages this
test writes as `*.dist-info` directories on a temporary path, found by importlib.metadata exactly as
pip-installed ones are. mafac always runs as a subprocess with that path on PYTHONPATH; no mocks.

Covered: `mafac list` shows each part's origin (built-in, or distribution and version); a plugin
mixer and a plugin env backend train end to end; a plugin that fails to import, does not implement
the interface, has an untyped Config or reuses a built-in name is one line naming it, its
distribution and the problem, while everything else keeps working; `mafac train --algo broken`
exits non-zero with that line and no traceback.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from plugin_dist import write_distribution

ROOT = Path(__file__).resolve().parent.parent
MAFAC = Path(sys.executable).with_name("mafac")
CMD = [str(MAFAC)] if MAFAC.exists() else [sys.executable, "-m", "mafac"]
EXAMPLE_DIST = "mafac-wvdn"
INSTALL_EXAMPLE = f"{sys.executable} -m pip install -e {ROOT / 'examples' / 'mafac-wvdn'}"

# name -> (distribution, version, {group: {entry name: target}}, {module file: source})
PLUGINS = {
    "broken": ("mafac-broken-import", "0.1", {"mafac.mixers": {"broken": "mafac_broken_import:BrokenMixer"}}, {
        "mafac_broken_import.py": 'raise RuntimeError("boom: this plugin fails on purpose")\n'}),
    "exits": ("mafac-exits", "0.2", {"mafac.mixers": {"exits": "mafac_exits:Mixer"}}, {
        "mafac_exits.py": "import sys\nsys.exit(3)\n"}),
    "notamixer": ("mafac-not-a-mixer", "0.3", {"mafac.mixers": {"notamixer": "mafac_not_a_mixer:mix"}}, {
        "mafac_not_a_mixer.py": "def mix(agent_qs):\n    return agent_qs.sum(-1)\n"}),
    "vdn": ("mafac-dupe", "0.4", {"mafac.mixers": {"vdn": "mafac_dupe:SumMixer"}}, {
        "mafac_dupe.py": textwrap.dedent("""\
            from mafac.mixers import Mixer

            class SumMixer(Mixer):
                description = "an imposter VDN"

                def forward(self, inp):
                    return inp.agent_qs.sum(-1, keepdim=True)
            """)}),
    "badconfig": ("mafac-bad-config", "0.5", {"mafac.mixers": {"badconfig": "mafac_bad_config:BadConfigMixer"}}, {
        "mafac_bad_config.py": textwrap.dedent("""\
            from mafac.mixers import Mixer

            class BadConfigMixer(Mixer):
                Config = dict  # hyperparameters must be a dataclass so `mixer.*` keys can be typed

                def forward(self, inp):
                    return inp.agent_qs.sum(-1, keepdim=True)
            """)}),
    "badenv": ("mafac-bad-env", "0.6", {"mafac.envs": {"badenv": "mafac_bad_env:NotAnEnv"}}, {
        "mafac_bad_env.py": "class NotAnEnv:\n    pass\n"}),
    # A working env backend: one of mafac's matrix games under a new name, from its own package.
    "toy": ("mafac-toy-env", "1.0", {"mafac.envs": {"toy": "mafac_toy_env:ToyEnv"}}, {
        "mafac_toy_env.py": textwrap.dedent("""\
            from mafac.envs.matrix import MatrixEnv

            class ToyEnv(MatrixEnv):
                name = "toy"

                @classmethod
                def maps(cls):
                    return ("climbing", "penalty")
            """)}),
}
FAILING = {  # plugin name -> what its one line must say
    "broken": ["failed to import", "RuntimeError", "boom: this plugin fails on purpose"],
    "exits": ["failed to import", "SystemExit"],
    "notamixer": ["does not implement the mixer interface", "mafac.mixers.Mixer"],
    "vdn": ["reuses the built-in name 'vdn'"],
    "badconfig": ["has a Config that is not a dataclass"],
    "badenv": ["does not implement the env interface"],
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site-packages")
    for dist, version, groups, modules in PLUGINS.values():
        write_distribution(site, dist, version, groups, modules)
    return site


def mafac(*args, site=None, timeout=300):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)


def one_error_line(proc) -> str:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{proc.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def require_example() -> str:
    try:
        version = metadata.version(EXAMPLE_DIST)
    except metadata.PackageNotFoundError:
        pytest.fail(f"the example plugin is not installed; run: {INSTALL_EXAMPLE}", pytrace=False)
    return version


def read_metrics(run_dir: Path):
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert rows, f"{run_dir}/metrics.csv has no rows"
    return rows


# -- mafac list ------------------------------------------------------------------------------------
def test_list_shows_origins_and_each_failure_in_one_line(plugin_site):
    example_version = require_example()
    proc = mafac("list", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = out.splitlines()

    def line_of(name):
        found = [l for l in lines if l.split() and l.split()[0] == name and "[" in l]
        assert len(found) == 1, (name, out)
        return found[0]

    for builtin in ("iql", "vdn", "qmix", "qtran", "qtran_alt", "qplex", "ow_qmix", "cw_qmix", "qatten", "smax", "matrix"):
        assert line_of(builtin).endswith("[built-in]"), line_of(builtin)
    assert line_of("wvdn").endswith(f"[{EXAMPLE_DIST} {example_version}]")
    assert line_of("toy").endswith("[mafac-toy-env 1.0]")
    toy_maps = lines[lines.index(line_of("toy")) + 1]
    assert toy_maps.strip() == "maps: climbing, penalty"

    assert "Plugins that failed to load" in out
    for name, needles in FAILING.items():
        dist, version = PLUGINS[name][:2]
        found = [l for l in lines if f"{dist} {version}" in l]
        assert len(found) == 1, (name, out)
        assert f"'{name}'" in found[0], found[0]
        for needle in needles:
            assert needle in found[0], (needle, found[0])
    for working in ("wvdn", "toy"):
        assert not any(f"'{working}'" in l for l in lines), out


def test_list_without_plugins_has_no_failures():
    proc = mafac("list")
    assert proc.returncode == 0, proc.stderr
    assert "failed to load" not in proc.stdout


# -- failing plugins ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["broken", "exits", "notamixer", "badconfig"])
def test_train_with_a_failed_plugin_is_one_error_line(name, plugin_site, tmp_path):
    proc = mafac("train", "--algo", name, "--env", "matrix", "--map", "climbing", "--steps", "8",
                 "--out", tmp_path / "run", site=plugin_site)
    line = one_error_line(proc)
    dist, version = PLUGINS[name][:2]
    assert proc.returncode == 1
    for needle in [f"'{name}'", f"{dist} {version}"] + FAILING[name]:
        assert needle in line, (needle, line)
    assert not (tmp_path / "run").exists()


def test_failed_env_plugin_is_one_error_line(plugin_site, tmp_path):
    proc = mafac("train", "--algo", "vdn", "--env", "badenv", "--map", "x", "--steps", "8",
                 "--out", tmp_path / "run", site=plugin_site)
    line = one_error_line(proc)
    for needle in ["'badenv'", "mafac-bad-env 0.6"] + FAILING["badenv"]:
        assert needle in line, (needle, line)


def test_unknown_name_mentions_failed_plugins(plugin_site):
    line = one_error_line(mafac("config", "--algo", "nosuch", site=plugin_site))
    assert "unknown algorithm 'nosuch'" in line and "broken" in line and "mafac list" in line


@pytest.mark.slow
def test_builtins_and_a_plugin_env_train_beside_broken_plugins(plugin_site, tmp_path):
    """`vdn` is still mafac's own although a plugin claims the name; the env backend comes from a plugin."""
    run = tmp_path / "run"
    proc = mafac("train", "--algo", "vdn", "--env", "toy", "--map", "climbing", "--steps", "32", "--out", run,
                 "--quiet", "--set", "env.n_envs=4", "--set", "env.test_n_envs=4", "--set", "replay.capacity=64",
                 "--set", "learner.batch_size=8", "--set", "learner.start_episodes=8",
                 "--set", "run.test_interval=16", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = read_metrics(run)
    assert int(rows[-1]["env_steps"]) >= 32 and int(rows[-1]["updates"]) > 0
    config = (run / "config.yaml").read_text()
    assert "backend: toy" in config and "algo: vdn" in config
    # the built-in VDN, not the imposter: its mixer has no parameters
    check = subprocess.run([sys.executable, "-c", textwrap.dedent("""\
        from mafac.mixers import MIXERS
        from mafac.mixers.vdn import VDNMixer
        assert MIXERS.get("vdn") is VDNMixer and MIXERS.source("vdn") == "built-in"
        from mafac.envs import ENVS
        print(ENVS.source("toy"))
        """)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(plugin_site)})
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "mafac-toy-env 1.0"


# -- the example plugin: the whole product ------------------------------------------------------------
@pytest.mark.slow
def test_example_trains_on_smax(tmp_path, tiny_overrides):
    require_example()
    run = tmp_path / "wvdn"
    sets = [a for o in tiny_overrides() for a in ("--set", o)]
    proc = mafac("train", "--algo", "wvdn", "--map", "3m", "--steps", "200", "--out", run, "--quiet", *sets)
    assert proc.returncode == 0, proc.stderr
    rows = read_metrics(run)
    assert int(rows[-1]["env_steps"]) >= 200 and int(rows[-1]["updates"]) > 0
    assert "algo: wvdn" in (run / "config.yaml").read_text()
    assert "hidden: 32" in (run / "config.yaml").read_text()  # the plugin's own config, as mixer.*


@pytest.mark.slow
def test_example_in_bench_and_table(tmp_path, tiny_overrides):
    """`mafac bench --algos qmix,wvdn` runs both and its table (or `mafac table`) has a row for each."""
    require_example()
    sets = [a for o in tiny_overrides() for a in ("--set", o)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(CMD + ["bench", "--algos", "qmix,wvdn", "--maps", "3m", "--seeds", "1", "--steps", "200",
                                 "--no-probe", *sets], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    table = subprocess.run(CMD + ["table", "results"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    text = table.stdout
    cells = [[c.strip() for c in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("|")]
    header = next(c for c in cells if c[0] == "map")
    row = next((c for c in cells if c[0] == "3m"), None)
    assert row is not None, f"no 3m row in the table:\n{text}"
    for algo in ("qmix", "wvdn"):  # a column for each, and a measured value in the 3m row
        assert algo in header, text
        assert re.match(r"\**\d\.\d\d", row[header.index(algo)]), (algo, text)


# -- the documented example plugin ------------------------------------------------------------------
def documented_plugin():
    """The code and pyproject of the "Write your own mixer" guide (docs/plugins.md)."""
    import re

    for doc in (ROOT / "docs" / "plugins.md",):
        if doc.exists() and "# Write your own mixer" in doc.read_text():
            text = doc.read_text().split("# Write your own mixer", 1)[1]
            python = re.search(r"```python\n(.*?)```", text, re.S).group(1)
            toml = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
            return python, toml
    pytest.skip("no 'Write your own mixer' guide in docs/plugins.md")


@pytest.mark.slow
def test_documented_plugin_works(tmp_path):
    import re
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    python, toml = documented_plugin()
    project = tomllib.loads(toml)
    name, version = project["project"]["name"], project["project"]["version"]
    ((algo, target),) = project["project"]["entry-points"]["mafac.mixers"].items()
    module = target.split(":")[0]
    site = tmp_path / "site"
    write_distribution(site, name, version, {"mafac.mixers": {algo: target}}, {f"{module}.py": python})
    assert len(python.strip().splitlines()) <= 40, "the README's example should stay small"
    listing = mafac("list", site=site)
    assert re.search(rf"^  {algo} .*\[{name} {version}\]$", listing.stdout, re.M), listing.stdout
    run = tmp_path / "run"
    proc = mafac("train", "--algo", algo, "--env", "matrix", "--map", "climbing", "--steps", "32", "--out", run,
                 "--quiet", "--set", "env.n_envs=4", "--set", "env.test_n_envs=4", "--set", "replay.capacity=64",
                 "--set", "learner.batch_size=8", "--set", "learner.start_episodes=8",
                 "--set", "run.test_interval=16", site=site)
    assert proc.returncode == 0, proc.stderr
    assert int(read_metrics(run)[-1]["updates"]) > 0


def documented_extension_plugin() -> str:
    """The code of the plugin guide's `LossExtension` example (docs/plugins.md)."""
    import re

    text = (ROOT / "docs" / "plugins.md").read_text().split("A method that changes the loss", 1)[1]
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_documented_extension_example_trains_and_weights_its_td_errors():
    """The README's optimistic VDN, loaded as written: the learner builds its extension, its
    weights are OW-QMIX's rule on the batch, and with alpha = 1 it is exactly VDN."""
    import torch

    from mafac.agent import build_agent
    from mafac.config import build_config
    from mafac.envs.base import EnvInfo
    from mafac.learner import Learner
    from mafac.replay import EpisodeBatch

    namespace: dict = {}
    exec(compile(documented_extension_plugin(), "README.md (LossExtension example)", "exec"), namespace)
    ovdn, config_cls = namespace["OVDNMixer"], namespace["OVDNConfig"]
    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=2, state_dim=3, episode_limit=3)
    cfg = build_config(algo="vdn", preset="fast", overrides=["agent.hidden_dim=8"])  # the replay learner's config
    g = torch.Generator().manual_seed(0)
    batch = EpisodeBatch(obs=torch.rand(4, 4, 2, 2, generator=g), state=torch.rand(4, 4, 3, generator=g),
                         avail=torch.ones(4, 4, 2, 3, dtype=torch.bool), actions=torch.randint(3, (4, 3, 2), generator=g),
                         reward=torch.randn(4, 3, generator=g), terminated=torch.zeros(4, 3), mask=torch.ones(4, 3))

    def learner(**config):
        torch.manual_seed(1)
        agent = build_agent(info, cfg.agent)
        return Learner(info, cfg, agent, ovdn(info, config_cls(**config), cfg.agent.hidden_dim))

    optimistic = learner(alpha=0.1)
    assert type(optimistic.extension).__name__ == "OptimisticWeights" and optimistic.target_extension is not None
    view = optimistic.batch_view(batch)
    weights = optimistic.extension.weights(view)
    assert weights.unique().tolist() == pytest.approx([0.1, 1.0])  # both sides of the rule occur on this batch
    assert torch.equal(weights == 1.0, view.q_tot.detach() < view.targets)
    _, stats = optimistic.loss(batch)
    assert 0.1 < float(stats["td_weight"]) < 1.0
    from mafac.mixers import get_mixer

    torch.manual_seed(1)
    vdn = Learner(info, cfg, build_agent(info, cfg.agent), get_mixer("vdn")(info, cfg.mixer, cfg.agent.hidden_dim))
    plain = learner(alpha=1.0)  # every weight 1: the TD loss is VDN's
    assert float(plain.loss(batch)[1]["td_loss"]) == pytest.approx(float(vdn.loss(batch)[1]["td_loss"]), rel=1e-6)
    penalised = learner(alpha=1.0, scale_penalty=0.5)
    assert "scale_penalty" in penalised.train(batch, episodes=0)
