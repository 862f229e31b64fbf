"""Run directories are data: loading a checkpoint never runs code, and a bad one is one line.

Each test starts from a real tiny run and edits its checkpoint as an attacker or an old mafac
version would, then drives `mafac eval`, a resume (`mafac train --out`) and a bench resume.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mafac.checkpoint import FORMAT_VERSION, REPLAY_DIR, shard_name
from mafac.config import build_config
from mafac.errors import MafacError
from mafac.evaluation import evaluate_checkpoint
from mafac.rundir import CHECKPOINT, RUN_JSON, RunInfo
from mafac.trainer import train_run

MAFAC = [sys.executable, "-m", "mafac"]


class _Marker:
    """Unpickling this creates a file: the harmless stand-in for `os.system(...)`."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    path.write_bytes(buf.getvalue())


def _load(path: Path):
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory, tiny_overrides):
    root = tmp_path_factory.mktemp("safety")

    def cfg(t_max):
        return build_config(algo="qmix", map_name="3m", seed=0, overrides=tiny_overrides(**{"run.t_max": t_max}))

    train_run(cfg(400), root / "run")
    return {"dir": root / "run", "cfg": cfg}


@pytest.fixture
def run_copy(done_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(done_run["dir"], d)
    return d


def _one_line_error(exc_info, *needles):
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def _resume(done_run, run_dir):
    return train_run(done_run["cfg"](600), run_dir)


def test_checkpoint_is_plain_data_with_a_format_version(run_copy):
    state = _load(run_copy / CHECKPOINT)  # weights_only: would raise on any Python object
    assert state["format"] == "mafac-checkpoint" and state["format_version"] == FORMAT_VERSION
    assert state["replay_shards"] and all(set(s) == {"start", "end"} for s in state["replay_shards"])
    for s in state["replay_shards"]:
        _load(run_copy / REPLAY_DIR / shard_name(s["start"], s["end"]))


def test_malicious_pickle_is_refused_and_never_runs(done_run, run_copy, tmp_path):
    marker = tmp_path / "PWNED"
    _save({"format": "mafac-checkpoint", "learner": _Marker(marker)}, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        evaluate_checkpoint(run_copy)
    _one_line_error(exc, str(run_copy / CHECKPOINT), "refused")
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, str(run_copy / CHECKPOINT), "refused")
    assert RunInfo.load(run_copy).status == "failed"
    # the CLI: one error line, non-zero exit, no traceback
    out = subprocess.run(MAFAC + ["eval", str(run_copy)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and out.stderr.strip().startswith("error:") and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not marker.exists(), "unpickling ran the attacker's code"


def test_malicious_replay_shard_is_refused(done_run, run_copy, tmp_path):
    marker = tmp_path / "PWNED"
    state = _load(run_copy / CHECKPOINT)
    s = state["replay_shards"][0]
    shard = run_copy / REPLAY_DIR / shard_name(s["start"], s["end"])
    _save({"slots": _Marker(marker)}, shard)
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, str(shard), "refused")
    assert not marker.exists()


def test_an_old_pickled_checkpoint_is_one_line(done_run, run_copy):
    state = _load(run_copy / CHECKPOINT)
    state["numpy_rng"] = np.random.get_state()  # mafac 0.1 pickled numpy objects like this
    del state["format"], state["format_version"]
    torch.save(state, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, str(run_copy / CHECKPOINT), "refused")


def test_wrong_format_version_is_one_line(done_run, run_copy):
    state = _load(run_copy / CHECKPOINT)
    state["format_version"] = 1
    _save(state, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        evaluate_checkpoint(run_copy)
    _one_line_error(exc, "format version 1", f"reads version {FORMAT_VERSION}")


def test_missing_key_is_named(done_run, run_copy):
    state = _load(run_copy / CHECKPOINT)
    del state["runner"]["hidden"]
    _save(state, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, str(run_copy / CHECKPOINT), "runner", "missing key 'hidden'")


def test_wrong_shape_is_named(done_run, run_copy):
    state = _load(run_copy / CHECKPOINT)
    key = next(iter(state["learner"]["agent"]))
    state["learner"]["agent"][key] = torch.zeros(3, 3)
    _save(state, run_copy / CHECKPOINT)
    for attempt in (lambda: evaluate_checkpoint(run_copy), lambda: _resume(done_run, run_copy)):
        with pytest.raises(MafacError) as exc:
            attempt()
        _one_line_error(exc, f"learner.agent.{key}", "shape [3, 3]")


def test_shard_names_are_derived_never_read_from_the_checkpoint(done_run, run_copy, tmp_path):
    victim = tmp_path / "victim.pt"
    torch.save({"keep": torch.ones(1)}, victim)
    state = _load(run_copy / CHECKPOINT)
    rel = Path("..") / ".." / victim.name
    state["replay_shards"] = [dict(s, file=str(rel)) for s in state["replay_shards"]]
    _save(state, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, "replay_shards")
    # episode ranges that do not fit the replay are refused too, before any file is touched
    state["replay_shards"] = [{"start": -5, "end": 10**9}]
    _save(state, run_copy / CHECKPOINT)
    with pytest.raises(MafacError) as exc:
        _resume(done_run, run_copy)
    _one_line_error(exc, "replay_shards")
    assert victim.exists() and torch.load(victim, weights_only=True)["keep"].item() == 1.0


@pytest.mark.slow
def test_bench_restarts_a_run_whose_checkpoint_is_refused(tmp_path, tiny_overrides):
    sets = [x for o in tiny_overrides(**{"run.t_max": 400}) if not o.startswith("run.t_max") for x in ("--set", o)]
    cmd = MAFAC + ["bench", "--algos", "qmix", "--maps", "3m", "--seeds", "1", "--steps", "400", "--workers", "1",
                   "--out-root", str(tmp_path), "--name", "b", "--no-probe"] + sets
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    run_dir = tmp_path / "b" / "runs" / "qmix__3m__s0"
    marker = tmp_path / "PWNED"
    _save({"format": "mafac-checkpoint", "x": _Marker(marker)}, run_dir / CHECKPOINT)
    info = json.loads((run_dir / RUN_JSON).read_text())
    info.update(status="running", env_steps=200)  # as if killed mid-run
    (run_dir / RUN_JSON).write_text(json.dumps(info))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "refused" in again.stderr and "restarting run" in again.stderr
    assert not marker.exists()
    assert RunInfo.load(run_dir).status == "done"
    _load(run_dir / CHECKPOINT)  # rewritten as plain data
