"""The learner's arithmetic: float32, or bfloat16 autocast where the hardware computes it natively.

Only the networks' forward and backward run in bfloat16 under autocast; parameters, the optimiser
state, the TD targets and the loss stay float32, so the lower precision touches the Q estimates
(tens, to about 3 significant digits) and not the accumulation of the updates. Without native
support (no avx512_bf16 / AMX on the CPU) bfloat16 is emulated and slower than float32, which is
why `auto` checks the hardware instead of assuming.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Optional

import torch

PRECISIONS = ("float32", "bfloat16", "auto")


@lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX among the CPU's flags (Linux's /proc/cpuinfo; False where it cannot tell)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for a `learner.precision` setting (None: plain float32)."""
    if precision == "bfloat16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def describe(precision: str, device: torch.device) -> str:
    """The one line a run says at start about the precision it learns in."""
    dtype = resolve(precision, device)
    where = f"{device.type} {'has' if native_bf16(device) else 'lacks'} native bfloat16"
    used = "bfloat16 autocast" if dtype is not None else "float32"
    return f"learner precision: {used} (learner.precision={precision}; {where})"


def autocast(device: torch.device, dtype: Optional[torch.dtype]):
    """torch.autocast for the learner's forward passes, or nothing at float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
