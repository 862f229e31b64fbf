"""The search space file: config keys mapped to ranges or choices.

    learner.lr: {log: [1e-4, 3e-3]}          # log-uniform float
    learner.td_lambda: {range: [0.0, 0.9]}   # uniform float (`step: 0.1` makes it discrete)
    learner.batch_size: {int: [16, 128], step: 16}   # integers (`log: true` for log-uniform)
    agent.hidden_dim: [64, 96, 128]          # choices (any scalars)

Every key and every bound is checked against the real config (a config is built with it), so a
typo or an impossible value is one line naming it, before any trial starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

from mafac.errors import MafacError

KINDS = ("log", "range", "int")


@dataclass(frozen=True)
class Param:
    key: str
    kind: str  # choice | log | range | int
    values: tuple  # choices, or (low, high)
    step: Any = None
    log: bool = False

    def distribution(self):
        import optuna.distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(list(self.values))
        low, high = self.values
        if self.kind == "int":
            return d.IntDistribution(int(low), int(high), log=self.log, step=int(self.step or 1))
        if self.kind == "log":
            return d.FloatDistribution(float(low), float(high), log=True)
        return d.FloatDistribution(float(low), float(high), step=None if self.step is None else float(self.step))

    def extremes(self) -> List[Any]:
        return list(self.values)

    def describe(self) -> str:
        if self.kind == "choice":
            return "{" + ", ".join(map(str, self.values)) + "}"
        extra = f", step {self.step}" if self.step is not None else ""
        return f"{self.kind} [{self.values[0]}, {self.values[1]}]{extra}"


@dataclass(frozen=True)
class Space:
    params: tuple

    def distributions(self) -> Dict[str, Any]:
        return {p.key: p.distribution() for p in self.params}

    def grid(self) -> Dict[str, list]:
        """The grid sampler's points: every parameter must be a list of choices."""
        ranged = [p.key for p in self.params if p.kind != "choice"]
        if ranged:
            raise MafacError(f"--sampler grid needs choices for every key; {', '.join(ranged)} "
                             f"{'is a range' if len(ranged) == 1 else 'are ranges'}: give a list of values")
        return {p.key: list(p.values) for p in self.params}

    def grid_size(self) -> int:
        n = 1
        for p in self.params:
            n *= len(p.values) if p.kind == "choice" else 0
        return n

    def as_dict(self) -> Dict[str, str]:
        return {p.key: p.describe() for p in self.params}


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MafacError(f"{where}: bad bound {value!r}; expected a number")
    return value


def _param(where: str, key: str, spec: Any) -> Param:
    if isinstance(spec, list):
        if not spec or any(isinstance(v, (list, dict)) for v in spec):
            raise MafacError(f"{where}: {key}: a list of choices must hold at least one plain value, got {spec!r}")
        if len(set(map(repr, spec))) != len(spec):
            raise MafacError(f"{where}: {key}: repeated choices in {spec!r}")
        return Param(key, "choice", tuple(spec))
    if isinstance(spec, dict):
        kinds = [k for k in KINDS if k in spec]
        extra = sorted(set(spec) - set(KINDS) - {"step", "log"})
        if len(kinds) != 1 or extra:
            raise MafacError(f"{where}: {key}: bad spec {spec!r}; expected a list of choices or one of "
                             f"{{log: [low, high]}}, {{range: [low, high]}}, {{int: [low, high]}} (with optional step)")
        kind = kinds[0]
        bounds = spec[kind]
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise MafacError(f"{where}: {key}: {kind} needs [low, high], got {bounds!r}")
        low, high = (_number(f"{where}: {key}", b) for b in bounds)
        if not low < high:
            raise MafacError(f"{where}: {key}: {kind} [{low}, {high}] is empty; low must be < high")
        if kind == "log" and low <= 0:
            raise MafacError(f"{where}: {key}: log [{low}, {high}] needs low > 0")
        if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise MafacError(f"{where}: {key}: int [{low}, {high}] needs integer bounds")
        step = spec.get("step")
        if step is not None and (_number(f"{where}: {key}: step", step) <= 0 or kind == "log"):
            raise MafacError(f"{where}: {key}: bad step {step!r}; a positive number, and not with log")
        log = True if kind == "log" else spec.get("log", False)  # {log: [a, b]}, or {int: [a, b], log: true}
        if not isinstance(log, bool) or (log and kind == "range"):
            raise MafacError(f"{where}: {key}: bad log {log!r}; use {{log: [low, high]}} for a log-uniform float")
        return Param(key, kind, (low, high), step, bool(log))
    raise MafacError(f"{where}: {key}: bad spec {spec!r}; expected a list of choices or a mapping like {{log: [1e-4, 1e-3]}}")


def load_space(path: str | Path, check: Callable[[str, Any], None]) -> Space:
    """Parse and check a space file; `check(key, value)` raises a MafacError for a value the
    config refuses (it is given every choice and both bounds of every range)."""
    from mafac.config import load_yaml

    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, Mapping) or not data:
        raise MafacError(f"{path}: expected a mapping of config keys to ranges or choices, e.g. "
                         f"'learner.lr: {{log: [1e-4, 3e-3]}}'")
    params = []
    for key, spec in data.items():
        if not isinstance(key, str) or key in ("algo", "seed", "env.map", "env.backend", "run.t_max"):
            raise MafacError(f"{path}: {key!r} cannot be searched: it is part of the grid (--algos, --maps, "
                             f"--seeds, --env, --steps)")
        param = _param(str(path), key, spec)
        for value in param.extremes():
            try:
                check(key, int(value) if param.kind == "int" else value)
            except MafacError as e:
                raise MafacError(f"{path}: {key}: {e}")
        params.append(param)
    return Space(tuple(params))
