"""Which torch device a run's networks, learner and replay live on (`run.device`).

Only torch moves: SMAX's JAX step stays on the CPU (its batches are small and its jitted step
would pay a host round trip each env step to feed the agents), and so does the acting RNG, so a
run's exploration draws are the same on every device.
"""

from __future__ import annotations

import re

from mafac.errors import MafacError

CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_VALID = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: object) -> None:
    if not isinstance(name, str) or not _VALID.match(name):
        raise MafacError(f"bad value {name!r} for run.device; valid choices: {', '.join(CHOICES)}")


def resolve_device(name: str):
    """`run.device` -> a torch.device that exists here; 'auto' is cuda when torch sees one."""
    import torch

    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
            raise MafacError(f"run.device={name!r} but torch sees no CUDA device ({build}); "
                             f"use run.device=cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise MafacError(f"run.device={name!r} but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)
