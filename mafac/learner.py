"""The one learner every mixer shares: double-Q TD(lambda)/n-step targets on episode batches.

Per update: unroll the online and target DRQNs over the sampled episodes, pick the double-Q greedy
next actions among *available* ones, mix both sides with the (target) mixer, form masked TD
targets that bootstrap at truncation but not at termination, add the mixer's extra losses, clip
the gradient norm, step the optimiser, and hard-update the targets every N episodes.

A method that changes the loss does so through its mixer's optional LossExtension (see
mafac/mixers/base.py): the value targets bootstrap from, per-step weights on the squared TD error,
and added loss terms, with any networks it needs (WQMIX's Q* agents). Without one (VDN, QMIX, QPLEX)
the update is the shared TD loss alone.
"""

from __future__ import annotations

import copy
import math
from typing import Dict, Optional

import torch

from mafac import precision
from mafac.agent import DRQN, agent_input_dim, build_inputs
from mafac.config import Config
from mafac.envs.base import EnvInfo
from mafac.errors import MafacError
from mafac.mixers.base import BatchView, MixInput, Mixer, TargetView, mask_unavailable, masked_mean
from mafac.replay import EpisodeBatch, EpisodeBuffer
from mafac.reward_norm import RewardStandardiser

# The stats `Learner.loss` and `_step` report of every update; any other key is a LossExtension's
# named loss term (QTRAN's opt_loss, WQMIX's central_loss, a plugin's), which metrics.csv averages.
LEARNER_STATS = frozenset({"loss", "td_loss", "grad_norm", "q_taken", "target", "td_weight", "lr"})


class NonFiniteLoss(MafacError):
    """Raised when a loss turns NaN/inf: the run is recorded as failed, never silently continued."""


def lambda_returns(reward, terminated, mask, next_values, gamma: float, lam: float) -> torch.Tensor:
    """TD(lambda) targets, computed backwards; lam = 0 is one-step TD.

    reward/terminated/mask: [B, T]; next_values: [B, T, K] = target value of the state after step t.
    After an episode's last real step there is nothing to mix in, so the recursion bootstraps fully
    from next_values there; termination zeroes the bootstrap, truncation keeps it.
    """
    b, t, k = next_values.shape
    cont = (1.0 - terminated).unsqueeze(-1)
    r = reward.unsqueeze(-1)
    if lam == 0.0:  # one-step TD needs no recursion
        return r + gamma * cont * next_values
    out = torch.zeros_like(next_values)
    ret_next = next_values[:, -1]
    for i in range(t - 1, -1, -1):
        if i < t - 1:
            nxt_real = mask[:, i + 1].unsqueeze(-1)
            blend = lam * out[:, i + 1] + (1.0 - lam) * next_values[:, i]
            ret_next = nxt_real * blend + (1.0 - nxt_real) * next_values[:, i]
        else:
            ret_next = next_values[:, i]
        out[:, i] = r[:, i] + gamma * cont[:, i] * ret_next
    return out


def nstep_returns(reward, terminated, mask, next_values, gamma: float, n: int) -> torch.Tensor:
    """n-step targets: sum_{j<m} gamma^j r_{t+j} + gamma^m V(s_{t+m}), m = min(n, steps left);
    the bootstrap is dropped when step t+m-1 terminated (and kept when it was truncated)."""
    b, t, k = next_values.shape

    def pad(x):
        return torch.cat([x, x.new_zeros((b, n) + tuple(x.shape[2:]))], dim=1)

    r, m, term, nv = pad(reward), pad(mask), pad(terminated), pad(next_values)
    acc = reward.new_zeros(b, t)
    steps = reward.new_zeros(b, t)
    for j in range(n):  # n is small; each iteration is a whole-batch tensor op
        acc = acc + (gamma ** j) * r[:, j:j + t] * m[:, j:j + t]
        steps = steps + m[:, j:j + t]
    last = (torch.arange(t, device=reward.device).unsqueeze(0) + steps.long() - 1).clamp(min=0)
    boot = nv.gather(1, last.unsqueeze(-1).expand(b, t, k))
    keep = (gamma ** steps) * (1.0 - term.gather(1, last))
    return acc.unsqueeze(-1) + keep.unsqueeze(-1) * boot


class Learner:
    def __init__(self, info: EnvInfo, cfg: Config, agent: DRQN, mixer: Mixer,
                 device: Optional[torch.device] = None, seed: int = 0) -> None:
        """`device`: where every network and the optimizer state live (default: the agent's); the
        batches it trains on must be there too (EpisodeBuffer(device=...) samples them there).
        `seed`: the learner's own random stream, so every learner kind is built alike (this one
        draws nothing: its batches are sampled by the replay)."""
        self.info = info
        self.cfg = cfg
        self.lc = cfg.learner
        self.reward_stats = RewardStandardiser() if self.lc.standardise_rewards else None
        self.device = device if device is not None else next(agent.parameters()).device
        self.agent = agent.to(self.device)
        self.mixer = mixer.to(self.device)
        ext_cls = type(mixer).Extension
        in_dim = agent_input_dim(info, cfg.agent)
        self.extension = (None if ext_cls is None else
                          ext_cls(mixer, info, lambda hidden: DRQN(in_dim, hidden, info.n_actions)).to(self.device))
        self._make_targets()
        self.autocast_dtype = precision.resolve(self.lc.precision, self.device)
        self.params = list(agent.parameters()) + list(mixer.parameters())
        if self.extension is not None:
            self.params += list(self.extension.parameters())
        # One kernel over all parameters rather than a Python loop per tensor: on the CPU the
        # per-tensor default is about a fifth of a small update (Adam fused: 2.5x faster step).
        # None (torch's default) elsewhere, e.g. on `meta`, where the device test runs.
        self._one_kernel = True if self.device.type in ("cpu", "cuda") else None
        if self.lc.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.params, lr=self.lc.lr, fused=self._one_kernel)
        else:
            self.optimizer = torch.optim.RMSprop(self.params, lr=self.lc.lr, alpha=self.lc.optim_alpha,
                                                 eps=self.lc.optim_eps, foreach=self._one_kernel)
        self.updates = 0
        self.last_target_update_episode = 0

    def _make_targets(self) -> None:
        """The networks TD targets bootstrap from: frozen copies, refreshed every
        learner.target_update_episodes (the online learner bootstraps from the online ones)."""
        self.target_agent = copy.deepcopy(self.agent)
        self.target_mixer = copy.deepcopy(self.mixer)
        self.target_extension = copy.deepcopy(self.extension)
        for net in (self.target_agent, self.target_mixer, self.target_extension):
            for p in (net.parameters() if net is not None else ()):
                p.requires_grad_(False)

    @staticmethod
    def buffer_capacity(cfg: Config) -> int:
        """Episodes the run's EpisodeBuffer holds."""
        return cfg.replay.capacity

    @staticmethod
    def update_episodes(cfg: Config) -> int:
        """Episodes in the batch one update (`update_on`) trains on."""
        return cfg.learner.batch_size

    @staticmethod
    def updates_for(learner: dict, online: dict, episodes: float) -> float:
        """How many updates a run of `episodes` finished episodes makes (config sections as dicts:
        the bench's wall-time estimate reads stored configs)."""
        start = max(int(learner["batch_size"]), int(learner["start_episodes"]))
        return max(0.0, episodes - start) / int(learner["train_every_episodes"])

    def update_on(self, batch: EpisodeBatch, episodes: int, env_steps: int) -> None:
        """One update on `batch`, as `train_due` makes them (the bench's probe times this)."""
        self.train(batch, episodes, env_steps)

    def train_due(self, buffer: EpisodeBuffer, since_train: int, episodes: int, env_steps: int):
        """The updates that `since_train` newly finished episodes call for: (episodes still
        counted towards the next update, [each update's stats])."""
        lc, out = self.lc, []
        if buffer.size < max(lc.batch_size, lc.start_episodes):
            return 0, out
        while since_train >= lc.train_every_episodes:
            since_train -= lc.train_every_episodes
            out.append(self.train(buffer.sample(lc.batch_size), episodes, env_steps))
        return since_train, out

    def _inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """The agents' inputs [B*A, T+1, in], built once per batch for every network that reads them."""
        b, tp1, a, _ = batch.obs.shape
        last = torch.full((b, tp1, a), -1, dtype=torch.int64, device=batch.obs.device)
        last[:, 1:] = batch.actions
        inputs = build_inputs(batch.obs, last, self.info, self.cfg.agent)  # [B, T+1, A, in]
        return inputs.permute(0, 2, 1, 3).reshape(b * a, tp1, -1)

    def _unroll(self, net: DRQN, batch: EpisodeBatch, flat: Optional[torch.Tensor] = None):
        b, tp1, a, _ = batch.obs.shape
        q, h = net.unroll(self._inputs(batch) if flat is None else flat)
        q = q.view(b, a, tp1, -1).permute(0, 2, 1, 3)
        h = h.view(b, a, tp1, -1).permute(0, 2, 1, 3)
        return q, h  # [B, T+1, A, n_actions], [B, T+1, A, H]

    def targets(self, batch: EpisodeBatch, online_q: Optional[torch.Tensor] = None,
                flat: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Detached TD targets [B, T, K] (`online_q`: the online agents' Qs, for double Q)."""
        if online_q is None:
            with torch.no_grad():
                online_q = self._unroll(self.agent, batch)[0]
        return self._target_side(batch, online_q, flat)[0]

    def _target_side(self, batch: EpisodeBatch, online_q: torch.Tensor, flat: Optional[torch.Tensor] = None,
                     target_unroll=None):
        """(TD targets [B, T, K], the bootstrap value of each step's own greedy joint action [B, T, K]).

        The bootstrap value is formed at the greedy joint action of every stored step, 0..T: steps
        1..T are what the targets bootstrap from, steps 0..T-1 what WQMIX's weights compare them with.
        The one extra step per episode costs a few per cent of the target mixing, not of an update.
        `target_unroll`: the target agents' (Qs, hiddens) on `batch` when the caller has them
        already (the online learner, whose target agents are its online ones)."""
        with torch.no_grad():
            flat = self._inputs(batch) if flat is None else flat
            with precision.autocast(self.device, self.autocast_dtype):
                tq, th = self._unroll(self.target_agent, batch, flat) if target_unroll is None else target_unroll
                chooser = online_q if self.lc.double_q else tq
                greedy = mask_unavailable(chooser, batch.avail).argmax(dim=-1)  # [B, T+1, A]
                tq_greedy = tq.gather(-1, greedy.unsqueeze(-1)).squeeze(-1)
                at_greedy = MixInput(tq_greedy, greedy, batch.state, th, tq, batch.avail)
                values = None
                if self.target_extension is not None:
                    values = self.target_extension.bootstrap(TargetView(batch, flat, at_greedy))
                if values is None:
                    values = self.target_mixer(at_greedy)
            values = values.float()  # the return recursion and the targets are float32 at any precision
            next_values = values[:, 1:]
            reward = batch.reward
            if self.reward_stats is not None:  # once per update: this is called once per update
                self.reward_stats.update(reward, batch.mask)
                reward = self.reward_stats(reward)
            if self.lc.n_step == 1:  # config.validate allows n_step > 1 only with td_lambda == 0
                targets = lambda_returns(reward, batch.terminated, batch.mask, next_values,
                                         self.lc.gamma, self.lc.td_lambda)
            else:
                targets = nstep_returns(reward, batch.terminated, batch.mask, next_values, self.lc.gamma,
                                        self.lc.n_step)
            return targets, values[:, :-1]

    def batch_view(self, batch: EpisodeBatch, target_side=None) -> BatchView:
        """The online side of one update on `batch` (with gradients), as a LossExtension sees it.
        `target_side`: (targets, greedy_target) formed beforehand (the online learner forms them
        once per batch of fresh episodes, before its epochs); None forms them here."""
        flat = self._inputs(batch)
        q, h = self._unroll(self.agent, batch, flat)
        chosen_qs = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # [B, T, A]
        chosen = MixInput(chosen_qs, batch.actions, batch.state[:, :-1], h[:, :-1], q[:, :-1], batch.avail[:, :-1])
        q_tot = self.mixer(chosen)
        if q_tot.shape[-1] != self.mixer.out_dim():
            raise MafacError(f"mixer {type(self.mixer).__name__} returned {q_tot.shape[-1]} values per step "
                             f"but its out_dim() says {self.mixer.out_dim()}")
        if target_side is None:
            target_side = self._target_side(batch, q.detach(), flat)
        targets, greedy_target = target_side
        return BatchView(batch, flat, self.mixer, chosen, q_tot, targets, greedy_target, batch.mask)

    def loss(self, batch: EpisodeBatch, target_side=None):
        with precision.autocast(self.device, self.autocast_dtype):
            view = self.batch_view(batch, target_side)
            weights, extras = None, {}
            if self.extension is not None:
                weights = self.extension.weights(view)
                extras = self.extension.losses(view)
        extras = {k: v.float() for k, v in extras.items()}
        q_tot, targets = view.q_tot.float(), view.targets
        td = q_tot - targets
        td_loss = masked_mean(td ** 2 if weights is None else weights.detach() * td ** 2, batch.mask)
        total = td_loss + sum(extras.values()) if extras else td_loss
        stats = {"td_loss": td_loss.detach(), "q_taken": masked_mean(q_tot.detach(), batch.mask),
                 "target": masked_mean(targets, batch.mask)}
        if weights is not None:
            stats["td_weight"] = masked_mean(weights.detach(), batch.mask)
        stats.update({k: v.detach() for k, v in extras.items()})
        return total, stats

    def lr_at(self, env_steps: int) -> float:
        """The learning rate at `env_steps` (a function of the step, so a resume needs no state)."""
        if self.lc.lr_schedule == "constant":
            return self.lc.lr
        frac = min(1.0, max(0.0, env_steps / self.cfg.run.t_max))
        return self.lc.lr + (self.lc.lr_final - self.lc.lr) * frac

    def train(self, batch: EpisodeBatch, episodes: int, env_steps: int = 0) -> Dict[str, float]:
        out = self._step(*self.loss(batch), env_steps)
        if episodes - self.last_target_update_episode >= self.lc.target_update_episodes:
            self.update_targets()
            self.last_target_update_episode = episodes
        return out

    def _step(self, total: torch.Tensor, stats: Dict[str, torch.Tensor], env_steps: int) -> Dict[str, float]:
        """One gradient step on `total`: the finite check, clipping, the scheduled lr."""
        if not torch.isfinite(total):
            raise NonFiniteLoss(f"non-finite loss ({float(total.detach())}) at update {self.updates}; "
                                f"try a lower learner.lr (now {self.lc.lr}) or learner.grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.lc.grad_clip, foreach=self._one_kernel)
        lr = self.lr_at(env_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.updates += 1
        out = {k: float(v) for k, v in stats.items()}
        out["loss"] = float(total.detach())
        out["lr"] = lr
        out["grad_norm"] = float(grad_norm) if math.isfinite(float(grad_norm)) else float("nan")
        return out

    def update_targets(self) -> None:
        self.target_agent.load_state_dict(self.agent.state_dict())
        self.target_mixer.load_state_dict(self.mixer.state_dict())
        if self.extension is not None:
            self.target_extension.load_state_dict(self.extension.state_dict())

    def state_dict(self) -> Dict[str, object]:
        state = {
            "agent": self.agent.state_dict(), "mixer": self.mixer.state_dict(),
            "target_agent": self.target_agent.state_dict(), "target_mixer": self.target_mixer.state_dict(),
            "optimizer": self.optimizer.state_dict(), "updates": self.updates,
            "last_target_update_episode": self.last_target_update_episode,
        }
        if self.extension is not None:  # absent otherwise, so other algorithms' checkpoints are unchanged
            state["extension"] = self.extension.state_dict()
            state["target_extension"] = self.target_extension.state_dict()
        if self.reward_stats is not None:
            state["reward_stats"] = self.reward_stats.state_dict()
        return state

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.mixer.load_state_dict(state["mixer"])
        self.target_agent.load_state_dict(state["target_agent"])
        self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.last_target_update_episode = int(state["last_target_update_episode"])
        if self.extension is not None:
            self.extension.load_state_dict(state["extension"])
            self.target_extension.load_state_dict(state["target_extension"])
        if self.reward_stats is not None:
            self.reward_stats.load_state_dict(state["reward_stats"])
