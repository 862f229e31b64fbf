"""Env backends, one file each, found through the `mafac.envs` entry-point registry."""

from __future__ import annotations

from typing import Any, Dict, Optional

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.registry import Registry


def _validate_env_class(obj: object) -> Optional[str]:
    if not (isinstance(obj, type) and issubclass(obj, BatchedEnv)):
        return "does not implement the env interface (must subclass mafac.envs.BatchedEnv)"
    return None


ENVS = Registry(kind="env backend", group="mafac.envs", validate=_validate_env_class)


def get_env_class(backend: str) -> type:
    return ENVS.get(backend)


def make_env(backend: str, map_name: str, n_envs: int, seed: int, kwargs: Optional[Dict[str, Any]] = None) -> BatchedEnv:
    from mafac.errors import MafacError

    cls = get_env_class(backend)
    maps = list(cls.maps())
    if maps and map_name not in maps:
        from mafac.errors import unknown

        raise unknown(f"{backend} map", map_name, maps)
    try:
        return cls(map_name, n_envs, seed, **(kwargs or {}))
    except TypeError as e:
        if "argument" in str(e):
            raise MafacError(f"bad env.kwargs for backend {backend!r}: {e}")
        raise


__all__ = ["BatchedEnv", "EnvInfo", "Observation", "Transition", "ENVS", "get_env_class", "make_env"]
