"""Import JAX once, configured for this workload: CPU only, persistent compilation cache.

SMAX's step compiles for tens of seconds; the on-disk cache makes every later process (each bench
worker, each test) load it in a fraction of that.
"""

from __future__ import annotations

import os
from pathlib import Path

_DONE = False


def cache_dir() -> Path:
    return Path(os.environ.get("MAFAC_JAX_CACHE", Path.home() / ".cache" / "mafac" / "jax"))


def import_jax():
    global _DONE
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    if not _DONE:
        _DONE = True
        try:
            cache_dir().mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(cache_dir()))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        except (AttributeError, OSError):  # an older JAX, or a read-only home: just slower
            pass
    return jax
