"""The wvdn plugin: it is the plugin guide's code, it is monotonic, it loads through its entry point, it trains."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mafac.envs.base import EnvInfo
from mafac.mixers import MixInput
from mafac_wvdn import WVDNConfig, WVDNMixer

HERE = Path(__file__).resolve().parent.parent
INFO = EnvInfo(n_agents=4, n_actions=5, obs_dim=2, state_dim=6, episode_limit=10)


def test_module_is_the_guides_example():
    guide = HERE.parent.parent / "docs" / "plugins.md"
    if not guide.exists():
        pytest.skip("not in a mafac checkout")
    section = guide.read_text(encoding="utf-8").split("# Write your own mixer", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert (HERE / "mafac_wvdn.py").read_text(encoding="utf-8") == code


@pytest.mark.parametrize("seed", range(3))
def test_monotonic_in_every_agent_q_and_uses_the_state(seed):
    torch.manual_seed(seed)
    mixer = WVDNMixer(INFO, WVDNConfig(hidden=8), agent_hidden_dim=8)
    b, t, a = 3, 4, INFO.n_agents
    qs = (torch.randn(b, t, a) * 5).requires_grad_(True)
    state = torch.randn(b, t, INFO.state_dim) * 3
    inp = MixInput(qs, torch.zeros(b, t, a, dtype=torch.long), state, torch.zeros(b, t, a, 8))
    out = mixer(inp)
    assert out.shape == (b, t, 1)
    (grad,) = torch.autograd.grad(out.sum(), qs)
    assert (grad > 0).all()
    # not VDN: the weights depend on the state
    other = mixer(MixInput(qs, inp.actions, state + 1.0, inp.hidden))
    assert not torch.allclose(other, out)


def test_registered_through_the_entry_point():
    from importlib import metadata

    from mafac.mixers import MIXERS

    assert MIXERS.get("wvdn") is WVDNMixer
    assert MIXERS.source("wvdn") == f"mafac-wvdn {metadata.version('mafac-wvdn')}"


def test_tiny_training_run(tmp_path: Path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mafac", "train", "--algo", "wvdn", "--env", "matrix", "--map", "climbing",
           "--steps", "64", "--out", str(out), "--quiet", "--set", "mixer.hidden=16",
           "--set", "env.n_envs=4", "--set", "env.test_n_envs=4", "--set", "replay.capacity=64",
           "--set", "learner.batch_size=8", "--set", "learner.start_episodes=8", "--set", "run.test_interval=32"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows[-1]["env_steps"] == "64" and float(rows[-1]["updates"]) > 0
    assert "hidden: 16" in (out / "config.yaml").read_text()
