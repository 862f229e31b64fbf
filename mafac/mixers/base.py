"""The mixer interface: how an algorithm turns per-agent Qs into the Q_tot it trains.

The shared learner computes everything common to value factorisation (agent Qs over the whole
episode batch, double-Q greedy actions, TD targets, masks) and asks the mixer only for what differs:
`forward` maps the agents' Qs of some joint action to Q_tot, and `extra_losses` adds terms such as
QTRAN's constraints. A mixer returns Q_tot of shape [B, T, K]: K = 1 for a joint value, K =
n_agents for independent learners (each trained on the team reward) or per-agent heads (QTRAN-alt).

Three optional hooks let a method change *what* the shared TD loss does without a learner of its own
(Weighted QMIX needs all three): `second_agent_dim` asks the learner to run a second agent network
(with its own target copy) whose Qs arrive as `MixInput.second_qs`; `target_value` is what TD targets
bootstrap from (default: `forward`, i.e. Q_tot itself); `td_weights` weights each step's squared TD
error (default: 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Optional

import torch
from torch import nn

from mafac.envs.base import EnvInfo


@dataclass
class NoConfig:
    """For mixers without hyperparameters."""


@dataclass
class MixInput:
    """One joint action's worth of what a mixer may look at. Shapes: B episodes, T steps, A agents."""

    agent_qs: torch.Tensor  # [B, T, A] Q_i of the given actions
    actions: torch.Tensor  # [B, T, A] long, the joint action those Qs belong to
    state: torch.Tensor  # [B, T, state_dim]
    hidden: torch.Tensor  # [B, T, A, H] the agents' GRU outputs (QTRAN's Q_jt reads them)
    all_qs: Optional[torch.Tensor] = None  # [B, T, A, n_actions] every action's Q_i (dueling mixers)
    avail: Optional[torch.Tensor] = None  # [B, T, A, n_actions] bool, which of those are available
    second_qs: Optional[torch.Tensor] = None  # [B, T, A, n_actions] the second agent network's Qs, if any


@dataclass
class LossContext:
    """What `extra_losses` gets: the online network's view of the sampled batch."""

    all_qs: torch.Tensor  # [B, T, A, n_actions] online agent Qs (unavailable actions not masked)
    avail: torch.Tensor  # [B, T, A, n_actions] bool
    chosen: MixInput  # the actions actually taken
    q_tot: torch.Tensor  # [B, T, K] this mixer's output for `chosen` (with gradients)
    mask: torch.Tensor  # [B, T] 1 where the step is a real transition
    targets: torch.Tensor  # [B, T, K] TD targets (detached)
    # [B, T, K] the target networks' `target_value` at each step's own greedy joint action (the one
    # the targets use at the next step: double-Q picks it with the online agents); detached
    greedy_target: Optional[torch.Tensor] = None


class Mixer(nn.Module):
    """Base class of every mixer, built-in or plugin.

    Class attributes a mixer may set:
      Config: a dataclass of its hyperparameters (defaults = its paper's), exposed as `mixer.*`.
      default_overrides: {"section.key": value} it needs elsewhere in the config.
      description: one line for `mafac list`.
Every mixer gets a target copy and trains the agents through its TD loss (QTRAN's Q_jt reads the
agents' hidden states with gradients, as in PyMARL's QTRAN learner).
    """

    Config: ClassVar[type] = NoConfig
    default_overrides: ClassVar[Dict[str, object]] = {}
    description: ClassVar[str] = ""

    def __init__(self, info: EnvInfo, config: object, agent_hidden_dim: int) -> None:
        super().__init__()
        self.info = info
        self.config = config

    def forward(self, inp: MixInput) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def out_dim(self) -> int:
        """K, the number of values `forward` returns per step; the learner holds the mixer to it, so
        a plugin's shape slip is one error naming the mixer, not a silent broadcast in the TD loss."""
        return 1

    def extra_losses(self, ctx: LossContext) -> Dict[str, torch.Tensor]:
        """Additional weighted loss terms, already multiplied by their weights."""
        return {}

    def second_agent_dim(self) -> Optional[int]:
        """GRU width of a second agent network the learner should unroll beside the agents (same
        inputs, own target copy, trained through this mixer's losses), or None. Weighted QMIX's
        unrestricted Q* has its own agents so that QMIX's restricted utilities do not limit it."""
        return None

    def target_value(self, inp: MixInput) -> torch.Tensor:
        """[B, T, K] what a TD target bootstraps from, called on the target mixer at the greedy joint
        action of the next state. Q_tot by default; WQMIX bootstraps both of its networks from Q*."""
        return self(inp)

    def td_weights(self, ctx: LossContext) -> Optional[torch.Tensor]:
        """[B, T, K] weights of each step's squared TD error (treated as constants), or None for 1.
        WQMIX down-weights the joint actions its Q_tot need not get right."""
        return None

    def joint_value(self, q_tot: torch.Tensor) -> torch.Tensor:
        """[..., K] -> [...]: one number per joint action, for tables and analysis. K > 1 values add
        up by default (IQL's per-agent Qs); a mixer whose K values each estimate Q_jt overrides it."""
        return q_tot.sum(-1) if q_tot.shape[-1] > 1 else q_tot[..., 0]


NEG = -1e9  # "unavailable" in place of -inf: a fully padded step stays finite, and is masked later


def mask_unavailable(qs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Qs with unavailable actions pushed to NEG, ready for max/argmax over the last dimension."""
    return qs.masked_fill(~avail, NEG)


def require_positive(config: object, *keys: str) -> None:
    """The one wording for a size-like mixer setting that must be at least 1."""
    from mafac.errors import MafacError

    for key in keys:
        value = getattr(config, key)
        if value <= 0:
            raise MafacError(f"bad value {value!r} for mixer.{key}; it must be > 0")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real steps only; x is [B, T] or [B, T, K] (mask broadcast over K)."""
    if x.dim() == 3:
        mask = mask.unsqueeze(-1).expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def validate_mixer_class(obj: object) -> Optional[str]:
    """Registry check: a plugin must be a Mixer subclass with a dataclass Config."""
    import dataclasses

    if not (isinstance(obj, type) and issubclass(obj, Mixer)):
        return "does not implement the mixer interface (must subclass mafac.mixers.Mixer)"
    if not dataclasses.is_dataclass(obj.Config):
        return "has a Config that is not a dataclass"
    return None
