"""The mixer interface, and the optional loss extension for methods that change the loss.

A **mixer** turns the agents' Qs of a joint action into Q_tot: `forward(MixInput) -> [B, T, K]`,
plus its `Config` dataclass, `out_dim()` (K: 1 for a joint value, n_agents for independent
learners or per-agent heads) and a one-line `description`. That is all VDN, QMIX, QPLEX, Qatten's
mixing, IQL and a plugin's mixer are. The shared learner does everything else: agent Qs over the
whole episode batch, double-Q greedy actions, TD(lambda)/n-step targets, masks, the TD loss.

A method that changes *the loss* itself (QTRAN's constraints and V(s), Weighted QMIX's Q* with its
own agents, weights and bootstrap, Qatten's attention regulariser) names a `LossExtension` subclass
as its mixer's `Extension`. The learner builds it beside the mixer, gives it a target copy, trains
its parameters with everything else, and calls it with a `BatchView` (online side) or a
`TargetView` (target side): the documented views below are all it can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, Optional

import torch
from torch import nn

from mafac.envs.base import EnvInfo

if TYPE_CHECKING:
    from mafac.replay import EpisodeBatch


@dataclass
class NoConfig:
    """For mixers without hyperparameters."""


@dataclass
class MixInput:
    """One joint action's worth of what a mixer may look at, for T steps of B episodes of A agents.
    The learner fills every field, always, on both sides (online: the taken actions at steps
    0..T-1, with gradients; target: the double-Q greedy actions at steps 0..T, detached). Only an
    input built by hand (a test, a table) may leave `all_qs`/`avail` out, for a mixer that does not
    read them."""

    agent_qs: torch.Tensor  # [B, T, A] Q_i of `actions`
    actions: torch.Tensor  # [B, T, A] long, the joint action those Qs belong to
    state: torch.Tensor  # [B, T, state_dim]
    hidden: torch.Tensor  # [B, T, A, H] the agents' GRU outputs at those steps
    all_qs: Optional[torch.Tensor] = None  # [B, T, A, n_actions] every action's Q_i (unavailable ones not masked)
    avail: Optional[torch.Tensor] = None  # [B, T, A, n_actions] bool, which actions are available


class Mixer(nn.Module):
    """Base class of every mixer, built-in or plugin.

    Class attributes a mixer may set:
      Config: a dataclass of its hyperparameters (defaults = its paper's), exposed as `mixer.*`.
      description: one line for `mafac list`.
      default_overrides: {"section.key": value} it needs elsewhere in the config (optional).
      Extension: a LossExtension subclass, for a method that changes the loss (optional).
      learners: the learner kinds it supports (default: replay and online).
      learner_notes: {learner kind: one line} of what was measured of it under a learner it
        supports but does badly under; said when a run or bench starts and in `mafac list`.
    Every mixer gets a target copy and trains the agents through the TD loss on its Q_tot.
    """

    Config: ClassVar[type] = NoConfig
    description: ClassVar[str] = ""
    default_overrides: ClassVar[Dict[str, object]] = {}
    Extension: ClassVar[Optional[type]] = None
    # the learners (learner.kind) it trains under: every mixer and LossExtension built on the
    # views below runs under both; a plugin that needs target networks narrows this to ("replay",)
    learners: ClassVar[tuple] = ("replay", "online")
    learner_notes: ClassVar[Dict[str, str]] = {}

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

    def joint_value(self, q_tot: torch.Tensor) -> torch.Tensor:
        """[..., K] -> [...]: one number per joint action, for tables and analysis. K > 1 values add
        up by default (IQL's per-agent Qs); a mixer whose K values each estimate Q_jt overrides it."""
        return q_tot.sum(-1) if q_tot.shape[-1] > 1 else q_tot[..., 0]


@dataclass
class BatchView:
    """What a LossExtension sees of one update, online side. Shapes: B episodes, T steps (T + 1
    stored states: the last one is what step T-1 led to), A agents, K = the mixer's out_dim."""

    batch: "EpisodeBatch"  # the sampled episodes: obs/state/avail [B, T+1, ...], actions/reward/terminated/mask [B, T]
    inputs: torch.Tensor  # [B*A, T+1, in] the agents' inputs, for an extension's own agent network
    mixer: Mixer  # the online mixer (call it for values at other joint actions)
    chosen: MixInput  # the taken actions at steps 0..T-1, online agents' Qs and hidden states, with gradients
    q_tot: torch.Tensor  # [B, T, K] mixer(chosen), with gradients
    targets: torch.Tensor  # [B, T, K] the TD targets, detached
    greedy_target: torch.Tensor  # [B, T, K] the bootstrap value at each step's own greedy joint action, detached
    mask: torch.Tensor  # [B, T] 1 where the step is a real transition


@dataclass
class TargetView:
    """What a LossExtension's target copy sees when the targets are formed (all detached)."""

    batch: "EpisodeBatch"
    inputs: torch.Tensor  # [B*A, T+1, in]
    greedy: MixInput  # steps 0..T: the double-Q greedy joint action (chosen by the online agents), target agents' Qs


class LossExtension(nn.Module):
    """What a method changes in the loss, with the networks it needs for that (they are trained with
    the agents and mixer, and get a target copy). Built as `Extension(mixer, info, new_agent)`:
    `new_agent(hidden_dim)` makes another recurrent agent network over the agents' own inputs (what
    WQMIX's Q* runs on). Override any of the three hooks (the defaults leave the TD loss as it is)."""

    def __init__(self, mixer: Mixer, info: EnvInfo, new_agent: Optional[Callable[[int], nn.Module]] = None) -> None:
        super().__init__()
        self.info = info
        self.config = mixer.config

    def bootstrap(self, view: TargetView) -> Optional[torch.Tensor]:
        """[B, T+1, K] what TD targets bootstrap from, at the greedy joint action of each stored
        step (called on the target copy); None: the target mixer's Q_tot there."""
        return None

    def weights(self, view: BatchView) -> Optional[torch.Tensor]:
        """[B, T, K] weights of each step's squared TD error (constants), or None for 1."""
        return None

    def losses(self, view: BatchView) -> Dict[str, torch.Tensor]:
        """Loss terms added to the TD loss, already multiplied by their weights (logged by name)."""
        return {}


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
    """Registry check: a plugin must be a Mixer subclass with a dataclass Config (and, if it has
    one, a LossExtension subclass as its Extension)."""
    import dataclasses

    if not (isinstance(obj, type) and issubclass(obj, Mixer)):
        return "does not implement the mixer interface (must subclass mafac.mixers.Mixer)"
    if not dataclasses.is_dataclass(obj.Config):
        return "has a Config that is not a dataclass"
    if obj.Extension is not None and not (isinstance(obj.Extension, type) and issubclass(obj.Extension, LossExtension)):
        return "has an Extension that is not a mafac.mixers.LossExtension subclass"
    return None
