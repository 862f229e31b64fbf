"""Joint action-value tables of small games, read off a trained run.

The matrix-game papers compare methods by the Q_tot each learns for every joint action; this
computes those tables from a Trainer's networks, for a given history of joint actions leading to
the state of interest (empty for one-step games; the first joint action for the two-step game).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from mafac.agent import build_inputs
from mafac.mixers.base import LossExtension, MixInput, TargetView


@dataclass
class QTables:
    q_tot: np.ndarray  # [n_actions] * n_agents: the mixer's Q_tot (Q_jt for QTRAN)
    q_sum: np.ndarray  # same shape: sum_i Q_i (what the agents' greedy actions maximise)
    agent_qs: np.ndarray  # [n_agents, n_actions]
    greedy: tuple  # the agents' decentralised greedy joint action
    # same shape: the value TD targets bootstrap from (`LossExtension.bootstrap`, here with the online
    # networks), where it is not Q_tot: WQMIX's unrestricted Q*; None otherwise
    q_target: Optional[np.ndarray] = None

    def as_dict(self) -> Dict[str, object]:
        out = {"q_tot": self.q_tot.tolist(), "q_sum": self.q_sum.tolist(), "agent_qs": self.agent_qs.tolist(),
               "greedy": list(self.greedy)}
        if self.q_target is not None:
            out["q_target"] = self.q_target.tolist()
        return out


@torch.no_grad()
def joint_q_tables(trainer, history: Sequence[Sequence[int]] = (), env_seed: int = 0) -> QTables:
    """Play `history` (joint actions) from a reset env, then tabulate every joint action there."""
    from mafac.envs import make_env

    cfg, info = trainer.cfg, trainer.info
    env = make_env(cfg.env.backend, cfg.env.map, 1, env_seed, cfg.env.kwargs)
    try:
        cur = env.reset(env_seed)
        obs, states, avails = [cur.obs[0]], [cur.state[0]], [cur.avail_actions[0]]
        for joint in history:
            tr = env.step(np.asarray([joint]))
            obs.append(tr.obs[0]), states.append(tr.state[0]), avails.append(tr.avail_actions[0])
    finally:
        env.close()
    t = len(obs)
    o = torch.as_tensor(np.stack(obs)).unsqueeze(0)  # [1, t, A, obs]
    last = torch.full((1, t, info.n_agents), -1, dtype=torch.int64)
    if history:
        last[0, 1:] = torch.as_tensor(np.asarray(history), dtype=torch.int64)
    inputs = build_inputs(o, last, info, cfg.agent).permute(0, 2, 1, 3).reshape(info.n_agents, t, -1)
    q, h = trainer.agent.unroll(inputs)
    q_now = q[:, -1]  # [A, n_actions]
    h_now = h[:, -1]  # [A, H]
    avail = torch.as_tensor(avails[-1])
    state = torch.as_tensor(states[-1]).float()
    n, a = info.n_actions, info.n_agents
    joints = torch.as_tensor(list(itertools.product(range(n), repeat=a)))  # [n^a, A]
    qs = q_now[torch.arange(a), joints]  # [n^a, A]
    m = joints.shape[0]
    inp = MixInput(qs.view(1, m, a), joints.view(1, m, a), state.expand(1, m, -1),
                   h_now.expand(1, m, a, -1), q_now.expand(1, m, a, n), avail.expand(1, m, a, n))
    mixer = trainer.mixer
    q_tot = mixer.joint_value(mixer(inp)[0])  # [m]; IQL: the sum of its per-agent values
    q_target = None
    ext = trainer.learner.extension
    if ext is not None and type(ext).bootstrap is not LossExtension.bootstrap:
        # the extension's bootstrap value (WQMIX's Q*) at every joint action, each after `history`:
        # m episodes of t steps, the joint action at the last one
        past = torch.as_tensor(np.asarray(history), dtype=torch.int64).view(len(history), a)
        actions = torch.cat([past.expand(m, -1, -1), joints.view(m, 1, a)], dim=1)  # [m, t, A]
        every = inputs.repeat(m, 1, 1)  # [m*A, t, in]
        states = torch.as_tensor(np.stack(states)).float().expand(m, -1, -1)
        view = TargetView(None, every, MixInput(qs.new_zeros(m, t, a), actions, states, h.new_zeros(m, t, a, h.shape[-1]),
                                                 q.new_zeros(m, t, a, n), torch.ones(m, t, a, n, dtype=torch.bool)))
        q_target = mixer.joint_value(ext.bootstrap(view)[:, -1]).view((n,) * a).numpy()
    greedy = tuple(int(x) for x in q_now.masked_fill(~avail, -1e9).argmax(-1))
    shape = (n,) * a
    return QTables(q_tot.view(shape).numpy(), qs.sum(-1).view(shape).numpy(), q_now.numpy(), greedy, q_target)
