"""Mixers, one file each, found through the `mafac.mixers` entry-point registry."""

from mafac.mixers.base import (NEG, BatchView, LossExtension, MixInput, Mixer, NoConfig, TargetView, mask_unavailable,
                               masked_mean, validate_mixer_class)
from mafac.registry import Registry

MIXERS = Registry(kind="algorithm", group="mafac.mixers", validate=validate_mixer_class)


def get_mixer(name: str) -> type:
    return MIXERS.get(name)


__all__ = ["NEG", "BatchView", "LossExtension", "MixInput", "Mixer", "NoConfig", "TargetView", "MIXERS", "get_mixer",
           "mask_unavailable", "masked_mean"]
