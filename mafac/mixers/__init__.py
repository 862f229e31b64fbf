"""Mixers, one file each, found through the `mafac.mixers` entry-point registry."""

from mafac.mixers.base import (NEG, BatchView, LossExtension, MixInput, Mixer, NoConfig, TargetView, mask_unavailable,
                               masked_mean, validate_mixer_class)
from mafac.registry import Registry

MIXERS = Registry(kind="algorithm", group="mafac.mixers", validate=validate_mixer_class)


def get_mixer(name: str) -> type:
    return MIXERS.get(name)


def learner_note(algo: str, learner_kind: str) -> str:
    """What was measured of `algo` under `learner_kind` where it does badly there ("" elsewhere)."""
    return getattr(get_mixer(algo), "learner_notes", {}).get(learner_kind, "")


__all__ = ["NEG", "BatchView", "LossExtension", "MixInput", "Mixer", "NoConfig", "TargetView", "MIXERS", "get_mixer", "learner_note",
           "mask_unavailable", "masked_mean"]
