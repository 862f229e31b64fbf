"""Env backends, one file each, found through the `mafac.envs` entry-point registry."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.options import build_options
from mafac.registry import Registry


def _validate_env_class(obj: object) -> Optional[str]:
    if not (isinstance(obj, type) and issubclass(obj, BatchedEnv)):
        return "does not implement the env interface (must subclass mafac.envs.BatchedEnv)"
    return None


ENVS = Registry(kind="env backend", group="mafac.envs", validate=_validate_env_class)


def get_env_class(backend: str) -> type:
    return ENVS.get(backend)


def env_options(backend: str, kwargs: Any = None) -> Any:
    """The backend's typed options (its `Config` dataclass) from `env.kwargs` overrides; a dict
    for an untyped backend. An unknown key or a bad value is a one-line MafacError."""
    cls = get_env_class(backend)
    if cls.Config is None:
        return dict(dataclasses.asdict(kwargs) if dataclasses.is_dataclass(kwargs) else kwargs or {})
    return build_options(cls.Config, kwargs, "env.kwargs")


def env_metric(backend: str) -> str:
    """The metrics.csv column a backend's runs are judged by (`BatchedEnv.metric`); the win rate for
    a backend that does not load here (a plugin's runs tabled on another machine)."""
    from mafac.errors import MafacError

    try:
        return str(getattr(get_env_class(backend), "metric", "test_win_rate"))
    except MafacError:
        return "test_win_rate"


def simulator(backend: str) -> Tuple[str, str]:
    """The (name, installed version) of the distribution that simulates a backend's envs; ("", "")
    for mafac's own (BatchedEnv.simulator)."""
    cls = get_env_class(backend)
    return (cls.simulator, cls.simulator_version()) if getattr(cls, "simulator", "") else ("", "")


def warn_if_made_with_another_simulator(run_dir, backend: str) -> None:
    """One warning when a run being reloaded (resumed, evaluated, rendered) was made under another
    version of its simulator: the envs may not be those the run learned in."""
    from mafac.errors import MafacError
    from mafac.log import get
    from mafac.rundir import RunInfo

    try:
        info = RunInfo.load(run_dir)
    except MafacError:
        return
    name, installed = simulator(backend)
    made = info.simulator_version
    if made and installed and made != installed:
        get("envs").warning(f"{run_dir} was made with {name} {made}; {name} {installed} is installed, so its "
                            f"simulator may differ (pip install {name}=={made} to reload it as it was)")


def check_map(backend: str, map_name: str) -> None:
    """The one map check, when a config is built and again when an env is: a backend that lists
    no maps (e.g. a plugin with open-ended scenarios) accepts any name."""
    from mafac.errors import unknown

    own = getattr(get_env_class(backend), "check_map", None)
    if callable(own):  # an open-ended backend (gym: any gymnasium id) checks a name's form itself
        own(map_name)
        return
    maps = list(get_env_class(backend).maps())
    if maps and map_name not in maps:
        raise unknown(f"{backend} map", map_name, maps)


def make_env(backend: str, map_name: str, n_envs: int, seed: int, kwargs: Any = None) -> BatchedEnv:
    from mafac.errors import MafacError

    cls = get_env_class(backend)
    check_map(backend, map_name)
    options = env_options(backend, kwargs)
    if dataclasses.is_dataclass(options):
        options = dataclasses.asdict(options)
    try:
        return cls(map_name, n_envs, seed, **options)
    except TypeError as e:
        if "argument" in str(e):
            raise MafacError(f"bad env.kwargs for backend {backend!r}: {e}")
        raise


def describe_env(backend: str, map_name: str, kwargs: Any = None):
    """The EnvInfo of a map without running anything, for backends cheap to build (`cheap_to_build`:
    SMAX compiles nothing until reset); None for the others (a real SC2 env starts a game)."""
    if not getattr(get_env_class(backend), "cheap_to_build", False):
        return None
    env = make_env(backend, map_name, 1, 0, kwargs)
    try:
        return env.info
    finally:
        env.close()


__all__ = ["BatchedEnv", "EnvInfo", "Observation", "Transition", "ENVS", "check_map", "describe_env", "env_metric", "env_options", "get_env_class",
           "make_env", "simulator", "warn_if_made_with_another_simulator"]
