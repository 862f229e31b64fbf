"""run.device: placement of everything the learner touches, checked on the CPU (no GPU here)."""

from __future__ import annotations

import pytest
import torch

from mafac.config import build_config
from mafac.device import resolve_device
from mafac.errors import MafacError
from mafac.train import Trainer


def test_auto_resolves_to_what_torch_sees():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
def test_cuda_without_cuda_is_one_line():
    with pytest.raises(MafacError) as exc:
        resolve_device("cuda")
    msg = str(exc.value)
    assert "run.device='cuda'" in msg and "no CUDA device" in msg and "\n" not in msg


def test_bad_device_name_names_the_choices(tiny_overrides):
    with pytest.raises(MafacError, match=r"bad value 'gpu' for run.device; valid choices: auto, cpu, cuda, cuda:N"):
        build_config(overrides=tiny_overrides(**{"run.device": "gpu"}))


def test_trainer_puts_everything_on_its_device(tmp_path, tiny_overrides):
    cfg = build_config(algo="qmix", overrides=tiny_overrides(**{"run.device": "auto", "run.t_max": 200}))
    trainer = Trainer(cfg, tmp_path)
    try:
        want = resolve_device("auto")
        trainer.run()
        learner = trainer.learner
        assert learner.updates > 0
        nets = [learner.agent, learner.mixer, learner.target_agent, learner.target_mixer]
        assert all(p.device.type == want.type for n in nets for p in n.parameters())
        state = [t for s in learner.optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.dim()]
        assert state and all(t.device.type == want.type for t in state)
        batch = trainer.buffer.sample(4)
        assert all(getattr(batch, f).device.type == want.type for f in batch.__dataclass_fields__)
        assert trainer.runner.hidden.device.type == want.type
    finally:
        trainer.close()


def test_device_and_tensorboard_do_not_make_another_bench():
    from mafac.bench.manifest import differences

    old = {"grid": {}, "configs": {"r": {"run": {"t_max": 1}}}}  # recorded before the keys existed
    same = {"grid": {}, "configs": {"r": {"run": {"t_max": 1, "device": "cuda", "tensorboard": True}}}}
    assert differences(old, same) == []
    other = {"grid": {}, "configs": {"r": {"run": {"t_max": 2, "device": "cpu"}}}}
    assert differences(old, other) == ["config of r: run.t_max 1 -> 2"]
