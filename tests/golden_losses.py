"""Every built-in algorithm's loss, targets and gradients on fixed inputs, recorded once and held
equal afterwards: a refactoring of the learner or the mixer interface must not change a number.

Parameters are set from their shapes alone (not from the construction order or the names, both of
which a refactoring may change), so the recording is comparable across designs; gradients are
compared as a multiset of (shape, sum, norm). `python tests/golden_losses.py --write` records.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

GOLDEN = Path(__file__).parent / "golden" / "losses.pt"
ALGOS = ("iql", "vdn", "qmix", "qtran", "qtran_alt", "qplex", "ow_qmix", "cw_qmix", "qatten")


def _fill(module: torch.nn.Module, shift: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            fan_in = p.shape[-1] if p.dim() > 1 else n
            values = torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + n * 0.011 + shift)
            p.copy_((values / math.sqrt(fan_in)).view_as(p).to(p.dtype))


def _batch(info):
    from mafac.replay import EpisodeBatch

    g = torch.Generator().manual_seed(11)
    b, t, a, n = 4, 5, info.n_agents, info.n_actions
    lengths = torch.tensor([5, 3, 4, 2])
    mask = (torch.arange(t) < lengths[:, None]).float()
    avail = torch.rand(b, t + 1, a, n, generator=g) < 0.7
    avail[..., 0] = True
    scores = torch.rand(b, t, a, n, generator=g).masked_fill(~avail[:, :-1], -1)
    return EpisodeBatch(obs=torch.rand(b, t + 1, a, info.obs_dim, generator=g),
                        state=torch.rand(b, t + 1, info.state_dim, generator=g), avail=avail,
                        actions=scores.argmax(-1), reward=torch.randn(b, t, generator=g) * mask,
                        terminated=torch.zeros(b, t).index_put_((torch.arange(b), lengths - 1), torch.tensor([1.0, 0, 1, 0])),
                        mask=mask)


def compute(algo: str) -> dict:
    """One update's numbers for `algo` (TD(lambda) 0.6, double Q) on the fixed batch."""
    from mafac.agent import build_agent
    from mafac.config import build_config
    from mafac.envs.base import EnvInfo
    from mafac.learner import Learner
    from mafac.mixers import get_mixer

    info = EnvInfo(n_agents=3, n_actions=5, obs_dim=6, state_dim=7, episode_limit=5)
    cfg = build_config(algo=algo, preset="pymarl", overrides=["agent.hidden_dim=8", "learner.td_lambda=0.6", "learner.gamma=0.9"])
    learner = Learner(info, cfg, build_agent(info, cfg.agent), get_mixer(algo)(info, cfg.mixer, cfg.agent.hidden_dim))
    online = [m for m in learner.__dict__.values() if isinstance(m, torch.nn.Module) and not _is_target(learner, m)]
    for m in online:
        _fill(m, 0.0)
    for m in [m for m in learner.__dict__.values() if isinstance(m, torch.nn.Module) and _is_target(learner, m)]:
        _fill(m, 0.5)
    batch = _batch(info)
    total, stats = learner.loss(batch)
    total.backward()
    grads = sorted((tuple(p.shape), float(p.grad.sum()), float(p.grad.norm()))
                   for p in learner.params if p.grad is not None)
    targets = learner.targets(batch)
    return {"total": float(total.detach()), "stats": {k: float(v) for k, v in stats.items()}, "grads": grads,
            "targets": targets.detach().clone()}


def _is_target(learner, module) -> bool:
    return any(module is getattr(learner, name, None) for name in dir(learner) if name.startswith("target_"))


def main() -> int:
    if "--write" not in sys.argv:
        print(__doc__)
        return 2
    GOLDEN.parent.mkdir(exist_ok=True)
    torch.save({algo: compute(algo) for algo in ALGOS}, GOLDEN)
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
