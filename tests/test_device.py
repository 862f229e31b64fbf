"""run.device: placement of everything the learner touches.

On a machine without a GPU a placement test that trains on the CPU and checks "everything is on the
CPU" cannot fail: the CPU is where everything is anyway. So the learner's placement is checked on
torch's `meta` device, a second device that exists everywhere: a tensor the learner forgets to move
(or creates on the default device) meets a meta tensor and the update raises. The full Trainer is
checked on CUDA where there is one."""

from __future__ import annotations

import pytest
import torch

from mafac.agent import build_agent
from mafac.builtin_plugins import ENTRY_POINTS
from mafac.config import build_config
from mafac.envs import make_env
from mafac.learner import Learner
from mafac.mixers import get_mixer
from mafac.replay import EpisodeBuffer
from mafac.device import resolve_device
from mafac.errors import MafacError
from mafac.trainer import Trainer


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


@pytest.mark.parametrize("algo", sorted(ENTRY_POINTS["mafac.mixers"]))
def test_an_update_runs_wholly_on_the_learners_device(algo):
    """Every built-in's loss, backward and optimizer step on `meta`: networks, targets, batches,
    gradients and optimizer state all there (a CPU tensor anywhere in the update raises)."""
    cfg = build_config(algo=algo, map_name="two_step", preset="matrix")
    info = make_env("matrix", "two_step", 1, 0, cfg.env.kwargs).info
    meta = torch.device("meta")
    learner = Learner(info, cfg, build_agent(info, cfg.agent), get_mixer(algo)(info, cfg.mixer, cfg.agent.hidden_dim), meta)
    buffer = EpisodeBuffer(info, 8, "float32", device=meta)
    buffer.lengths[:4], buffer.size = 2, 4  # four stored episodes (their contents are shapes only on meta)
    batch = buffer.sample(4)
    assert all(getattr(batch, f).device == meta for f in batch.__dataclass_fields__)
    total, stats = learner.loss(batch)
    learner.optimizer.zero_grad()
    total.backward()
    learner.optimizer.step()
    nets = [learner.agent, learner.mixer, learner.target_agent, learner.target_mixer]
    nets += [n for n in (learner.extension, learner.target_extension) if n is not None]
    assert all(p.device == meta for n in nets for p in n.parameters())
    assert all(p.grad is not None and p.grad.device == meta for p in learner.params if p.requires_grad)
    state = [t for s in learner.optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.dim()]
    assert state and all(t.device == meta for t in state)
    assert total.device == meta and all(v.device == meta for v in stats.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the meta test above covers the learner)")
def test_trainer_puts_everything_on_cuda(tmp_path, tiny_overrides):
    cfg = build_config(algo="qmix", overrides=tiny_overrides(**{"run.device": "auto", "run.t_max": 200}))
    trainer = Trainer(cfg, tmp_path)
    try:
        want = torch.device("cuda")
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
    from mafac.benchmark.manifest import differences

    old = {"grid": {}, "configs": {"r": {"run": {"t_max": 1}}}}  # recorded before the keys existed
    same = {"grid": {}, "configs": {"r": {"run": {"t_max": 1, "device": "cuda", "tensorboard": True}}}}
    assert differences(old, same) == []
    other = {"grid": {}, "configs": {"r": {"run": {"t_max": 2, "device": "cpu"}}}}
    assert differences(old, other) == ["config of r: run.t_max 1 -> 2"]
    # nor as the --set texts or settings that asked for them, which the grid records as given
    grid = {"algos": ["qmix"], "overrides": ["learner.lr=0.01"]}
    old = {"grid": grid, "configs": {}}
    sets = {"grid": dict(grid, overrides=["learner.lr=0.01", "run.device=cuda", " run.tensorboard = true"]),
            "configs": {}}
    assert differences(old, sets) == []
    assert differences(old, {"grid": dict(grid, settings={"run.device": "cuda"}), "configs": {}}) == []
    assert differences(old, {"grid": dict(grid, overrides=["run.device=cuda"]), "configs": {}}) == [
        "grid.overrides: ['learner.lr=0.01'] -> []"]
    assert differences(old, {"grid": dict(grid, settings={"run.tensorboard": True, "learner.lr": 0.1}),
                             "configs": {}}) == ["grid.settings: None -> {'learner.lr': 0.1}"]


def test_keys_added_later_with_their_old_behaviour_do_not_make_another_bench():
    from mafac.benchmark.manifest import differences

    old = {"grid": {}, "configs": {"r": {"learner": {"lr": 0.001}}}}  # before lr_schedule existed
    same = {"grid": {}, "configs": {"r": {"learner": {"lr": 0.001, "lr_schedule": "constant", "lr_final": 0.0}}}}
    assert differences(old, same) == []
    other = {"grid": {}, "configs": {"r": {"learner": {"lr": 0.001, "lr_schedule": "linear", "lr_final": 0.0}}}}
    assert differences(old, other) == ["config of r: learner.lr_schedule None -> 'linear'"]
