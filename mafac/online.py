"""The online learner: Q(lambda) on fresh episodes, no replay and no target network (PQN-style).

Gallici et al. 2024 ("Simplifying Deep Temporal Difference Learning") show that many parallel envs
plus LayerNorm make a target network and a replay unnecessary: each batch of fresh experience is
trained on for a few epochs and dropped. Here that batch is the `online.episodes_per_update` most
recently *finished* episodes. Whole episodes rather than fixed-length rollouts, because then every
GRU unroll starts from the zero state exactly as acting did (no stored hidden states going stale
across epochs, no burn-in), the fused `nn.GRU` unroll and the replay learner's batch code apply
unchanged, and a time-limit end is handled at the episode's own last step by the same
truncation-aware lambda-returns. The cost: an episode's data waits until it ends (at most the
episode limit, 100 steps on SMAX).

Per update, the lambda-returns are formed once, before the epochs, from the online agents and
mixer themselves (detached, double-Q as the replay learner's, same code: `Learner._target_side`
with the online networks in the target networks' place); then `online.epochs` passes over the
episodes in `online.minibatches` shuffled minibatches each take one gradient step per minibatch.
Every mixer and LossExtension runs under it as under the replay learner: what the replay learner
asks of its target copies (bootstrap values, WQMIX's Q*, QTRAN's Q_jt) is asked of the online
networks here, which is exactly PQN's meaning of a target.
"""

from __future__ import annotations

from typing import Dict, List

import torch

from mafac import precision
from mafac.config import Config
from mafac.learner import Learner
from mafac.replay import EpisodeBatch, EpisodeBuffer


class OnlineLearner(Learner):
    def __init__(self, *args, seed: int = 0, **kwargs) -> None:
        super().__init__(*args, seed=seed, **kwargs)
        self.oc = self.cfg.online
        self.generator = torch.Generator().manual_seed(seed)  # minibatch shuffles

    def _make_targets(self) -> None:
        # the online networks themselves; `_target_side` runs them under no_grad
        self.target_agent, self.target_mixer, self.target_extension = self.agent, self.mixer, self.extension

    @staticmethod
    def buffer_capacity(cfg: Config) -> int:
        # one update's episodes plus the most that can finish on the step that completes it
        return cfg.online.episodes_per_update + cfg.env.n_envs

    @staticmethod
    def update_episodes(cfg: Config) -> int:
        return cfg.online.episodes_per_update

    @staticmethod
    def updates_for(learner: dict, online: dict, episodes: float) -> float:
        return episodes / int(online["episodes_per_update"])

    def update_on(self, batch: EpisodeBatch, episodes: int, env_steps: int) -> None:
        self.train_episodes(batch, env_steps)

    def train_due(self, buffer: EpisodeBuffer, since_train: int, episodes: int, env_steps: int):
        if since_train < self.oc.episodes_per_update:
            return since_train, []
        return 0, self.train_episodes(buffer.latest(since_train), env_steps)

    def train_episodes(self, batch: EpisodeBatch, env_steps: int) -> List[Dict[str, float]]:
        """Epochs x minibatches of gradient steps on `batch`, towards returns formed once before them."""
        with torch.no_grad():
            flat = self._inputs(batch)
            with precision.autocast(self.device, self.autocast_dtype):
                unroll = self._unroll(self.agent, batch, flat)
            # the online agents are the target agents: one unroll serves as both
            targets, greedy = self._target_side(batch, unroll[0], flat, target_unroll=unroll)
        n = batch.mask.shape[0]
        parts = min(self.oc.minibatches, n)
        out = []
        for _ in range(self.oc.epochs):
            order = torch.randperm(n, generator=self.generator).to(self.device)
            for idx in order.chunk(parts):
                sub = batch.select(idx)
                length = sub.mask.shape[1]
                side = (targets[idx, :length], greedy[idx, :length])
                out.append(self._step(*self.loss(sub, side), env_steps))
        return out

    def update_targets(self) -> None:  # nothing to refresh
        pass

    def state_dict(self) -> Dict[str, object]:
        return {"agent": self.agent.state_dict(), "mixer": self.mixer.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "generator": self.generator.get_state(),
                **({"extension": self.extension.state_dict()} if self.extension is not None else {}),
                **({"reward_stats": self.reward_stats.state_dict()} if self.reward_stats is not None else {})}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.mixer.load_state_dict(state["mixer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.generator.set_state(state["generator"])
        if self.extension is not None:
            self.extension.load_state_dict(state["extension"])
        if self.reward_stats is not None:
            self.reward_stats.load_state_dict(state["reward_stats"])


LEARNERS = {"replay": Learner, "online": OnlineLearner}


def make_learner(info, cfg: Config, agent, mixer, device, seed: int) -> Learner:
    """The learner `learner.kind` names, built over the run's agent and mixer."""
    return LEARNERS[cfg.learner.kind](info, cfg, agent, mixer, device, seed=seed)
