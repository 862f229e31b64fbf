"""The vectorised runner: all envs stepped in one call, all (env, agent) pairs acted in one call.

Envs auto-reset independently, so no env idles while others finish. Each env writes its current
episode into a staging row; when episodes end, their rows go to the replay in one indexed copy.
Nothing in the per-step path loops over envs or agents in Python.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from mafac.agent import DRQN, StepInputs, select_actions
from mafac.config import AgentConfig
from mafac.envs.base import BatchedEnv, Observation, Transition
from mafac.replay import EpisodeBuffer, allocate


@dataclass
class Finished:
    """Episodes that ended on one step. An aborted one (see Transition) has no outcome: `won` is
    False there, and win rates must leave it out."""

    returns: np.ndarray
    won: np.ndarray
    lengths: np.ndarray
    aborted: np.ndarray

    @property
    def count(self) -> int:
        return len(self.returns)


@dataclass
class GreedyEpisodes:
    """Per-episode outcomes of test play. Besides wins it keeps how the other episodes ended
    (time-out vs defeat) and how long they lasted: a win rate stuck below 1 means different things
    in each case. Aborted episodes (no outcome, see Transition) are counted in `test_aborted` and
    left out of every rate and mean; all of them aborted leaves those NaN."""

    won: np.ndarray  # bool [N]
    returns: np.ndarray  # [N]
    timed_out: np.ndarray  # bool [N]
    length: np.ndarray  # [N] steps
    aborted: np.ndarray  # bool [N]

    @classmethod
    def concat(cls, parts: Sequence["GreedyEpisodes"]) -> "GreedyEpisodes":
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def first(self, n: int) -> "GreedyEpisodes":
        return GreedyEpisodes(*(getattr(self, f.name)[:n] for f in dataclasses.fields(self)))

    def summary(self) -> Dict[str, float]:
        kept = ~self.aborted

        def mean(x: np.ndarray) -> float:
            return float(x[kept].mean()) if kept.any() else float("nan")

        return {"test_win_rate": mean(self.won), "test_return": mean(self.returns),
                "test_timeout_rate": mean(self.timed_out), "test_episode_length": mean(self.length),
                "test_aborted": int(self.aborted.sum())}


def _tensor(x) -> torch.Tensor:
    """numpy (possibly read-only, as JAX hands them out) -> tensor, copying only when it must."""
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        x = x.copy()
    return torch.as_tensor(x)


class Runner:
    def __init__(self, env: BatchedEnv, agent: DRQN, agent_cfg: AgentConfig, buffer: Optional[EpisodeBuffer], seed: int) -> None:
        self.env = env
        self.agent = agent
        self.agent_cfg = agent_cfg
        self.info = env.info
        self.buffer = buffer
        self.n_envs = env.n_envs
        self.generator = torch.Generator().manual_seed(seed)
        e, a = self.n_envs, self.info.n_agents
        self.rows = torch.arange(e)
        self.inputs = StepInputs(e, self.info, agent_cfg)
        self.staging = allocate(buffer.fields, e) if buffer is not None else None
        self.t = torch.zeros(e, dtype=torch.int64)
        # the agent's recurrent state lives with the agent (run.device); inputs and the acting RNG
        # on the CPU, so exploration draws the same numbers on every device
        self.device = next(agent.parameters()).device
        self.hidden = torch.zeros(e * a, agent.hidden_dim, device=self.device)
        self.last_actions = torch.full((e, a), -1, dtype=torch.int64)
        self.returns = torch.zeros(e, dtype=torch.float64)
        self.current: Optional[Observation] = None

    # -- episodes ------------------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None) -> None:
        self.current = self.env.reset(seed)
        self.t.zero_()
        self.hidden.zero_()
        self.last_actions.fill_(-1)
        self.returns.zero_()
        if self.staging is not None:
            for v in self.staging.values():
                v.zero_()
            self._write_obs(self.rows, self.t, self.current.obs, self.current.state, self.current.avail_actions)

    def _write_obs(self, rows, t, obs, state, avail) -> None:
        s = self.staging
        s["obs"][rows, t] = _tensor(obs).to(s["obs"].dtype)
        s["state"][rows, t] = _tensor(state).to(s["state"].dtype)
        s["avail"][rows, t] = _tensor(avail)

    @torch.no_grad()
    def act(self, epsilon: float) -> torch.Tensor:
        cur = self.current
        e, a = self.n_envs, self.info.n_agents
        avail = _tensor(cur.avail_actions)
        inputs = self.inputs(_tensor(cur.obs), self.last_actions)
        q, self.hidden = self.agent.step(inputs.view(e * a, -1).to(self.device), self.hidden)
        return select_actions(q.view(e, a, -1).cpu(), avail, epsilon, self.generator)

    def step(self, epsilon: float) -> Finished:
        actions = self.act(epsilon)
        tr = self.env.step(actions.numpy())
        reward = _tensor(tr.reward)
        self.returns += reward.double()
        if self.staging is not None:
            s, rows, t = self.staging, self.rows, self.t
            s["actions"][rows, t] = actions.to(s["actions"].dtype)
            s["reward"][rows, t] = reward
            s["terminated"][rows, t] = _tensor(tr.terminated)
            s["filled"][rows, t] = True
            self._write_obs(rows, t + 1, tr.obs, tr.state, tr.avail_actions)
        self.t += 1
        self.last_actions = actions
        done = _tensor(tr.done)
        finished = Finished(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))
        if bool(done.any()):
            idx = done.nonzero().squeeze(1)
            finished = Finished(self.returns[idx].numpy().copy(), np.asarray(tr.battle_won)[idx.numpy()],
                                self.t[idx].numpy().copy(), np.asarray(tr.aborted)[idx.numpy()])
            if self.staging is not None:
                self.buffer.insert({k: v[idx] for k, v in self.staging.items()}, self.t[idx])
                for v in self.staging.values():
                    v[idx] = 0
                nxt = tr.next
                ii = idx.numpy()
                self._write_obs(idx, torch.zeros_like(idx), nxt.obs[ii], nxt.state[ii], nxt.avail_actions[ii])
            self.t[idx] = 0
            self.returns[idx] = 0
            self.last_actions = self.last_actions.clone()
            self.last_actions[idx] = -1
            self.hidden.view(self.n_envs, self.info.n_agents, -1)[idx] = 0
        self.current = tr.next
        return finished

    def play_greedy(self, seed: int) -> "GreedyEpisodes":
        """One greedy (test) episode per env, from episodes seeded by `seed` alone."""
        self.reset(seed)
        returns = np.zeros(self.n_envs)
        won = np.zeros(self.n_envs, dtype=bool)
        timed_out = np.zeros(self.n_envs, dtype=bool)
        aborted = np.zeros(self.n_envs, dtype=bool)
        length = np.zeros(self.n_envs)
        seen = np.zeros(self.n_envs, dtype=bool)
        while not seen.all():
            acts = self.act(0.0)
            tr = self.env.step(acts.numpy())
            fresh = ~seen
            returns[fresh] += tr.reward[fresh]
            length[fresh] += 1
            ended = tr.done & fresh
            won[ended] = tr.battle_won[ended]
            timed_out[ended] = tr.truncated[ended] & ~tr.aborted[ended]
            aborted[ended] = tr.aborted[ended]
            seen |= tr.done
            self.advance(acts, tr)
        return GreedyEpisodes(won, returns, timed_out, length, aborted)

    def advance(self, actions: torch.Tensor, tr: Transition) -> None:
        """The agents' next inputs after a step taken without storing it (greedy play, a render
        scene's step): these actions, and fresh agents in the envs whose episode just ended."""
        self.last_actions = actions
        if tr.done.any():
            idx = _tensor(np.nonzero(tr.done)[0])
            self.last_actions = self.last_actions.clone()
            self.last_actions[idx] = -1
            self.hidden.view(self.n_envs, self.info.n_agents, -1)[idx] = 0
        self.current = tr.next

    # -- checkpointing -------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        return {
            "env": self.env.snapshot(),
            "current": None if self.current is None else dataclasses.asdict(self.current),
            "staging": self.staging,
            "t": self.t, "hidden": self.hidden, "last_actions": self.last_actions, "returns": self.returns,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Dict[str, object]) -> None:
        if state["env"] is None:  # a backend that cannot snapshot: restart its episodes
            self.reset()
        else:
            self.env.restore(state["env"])
            self.current = Observation(**state["current"])
            self.staging = state["staging"]
            self.t, self.hidden = state["t"], state["hidden"].to(self.device)
            self.last_actions, self.returns = state["last_actions"], state["returns"]
        self.generator.set_state(state["generator"])
