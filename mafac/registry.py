"""Registries of mixers, env backends and bench executors, filled from entry points.

Built-ins are declared in `mafac/builtin_plugins.py` and published by setup.py as entry points in
the same groups a user's package uses (`mafac.mixers`, `mafac.envs`, `mafac.executors`): there is
one loading path for both. A plugin that fails to load is remembered with its reason, so one broken
package never takes the others down and `mafac list` can say why.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List, Optional

from mafac.errors import MafacError, unknown

BUILTIN = "built-in"


@dataclass
class Entry:
    name: str
    source: str  # "built-in" or "<distribution> <version>"
    target: str  # "module:attr", for messages
    obj: Any = None
    error: Optional[str] = None


@dataclass
class Registry:
    kind: str  # "algorithm", "env backend", "executor": used in messages
    group: str  # entry-point group
    validate: Optional[Callable[[Any], Optional[str]]] = None  # returns a problem or None
    _entries: Dict[str, Entry] = field(default_factory=dict)
    _loaded: bool = False

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from mafac import builtin_plugins

        builtin_targets = builtin_plugins.ENTRY_POINTS.get(self.group, {})
        # Built-ins first, from the one table setup.py publishes; a source checkout that was never
        # pip-installed still works because the table is read directly.
        for name, target in builtin_targets.items():
            self._add(name, target, BUILTIN, lambda t=target: _import_target(t))
        for ep in _entry_points(self.group):
            dist = _dist_label(ep)
            if ep.name in builtin_targets:
                if ep.value.replace(" ", "") == builtin_targets[ep.name]:
                    continue  # mafac's own published entry point: already added
                self._entries.setdefault(f"!{ep.name}@{dist}", Entry(
                    ep.name, dist, ep.value,
                    error=f"reuses the built-in name {ep.name!r}; rename it in its entry points"))
                continue
            if ep.name in self._entries:
                prev = self._entries[ep.name]
                self._entries[f"!{ep.name}@{dist}"] = Entry(
                    ep.name, dist, ep.value,
                    error=f"name {ep.name!r} is already provided by {prev.source}")
                continue
            self._add(ep.name, ep.value, dist, ep.load)

    def _add(self, name: str, target: str, source: str, loader: Callable[[], Any]) -> None:
        entry = Entry(name, source, target)
        try:
            obj = loader()
        except Exception as e:  # a plugin's import may raise anything
            entry.error = f"failed to import {target}: {type(e).__name__}: {_one_line(e)}"
        else:
            problem = self.validate(obj) if self.validate else None
            if problem:
                entry.error = f"{target} {problem}"
            else:
                entry.obj = obj
        self._entries[name] = entry

    # -- queries -------------------------------------------------------------------------------
    def register(self, name: str, obj: Any, source: str = BUILTIN) -> None:
        """Add an object at run time (tests, notebooks); entry points are the normal way."""
        self._load()
        problem = self.validate(obj) if self.validate else None
        if problem:
            raise MafacError(f"cannot register {self.kind} {name!r}: {problem}")
        self._entries[name] = Entry(name, source, f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}", obj)

    def unregister(self, name: str) -> None:
        self._load()
        self._entries.pop(name, None)

    def names(self) -> List[str]:
        self._load()
        return sorted(n for n, e in self._entries.items() if e.error is None and not n.startswith("!"))

    def entries(self) -> List[Entry]:
        self._load()
        return [e for n, e in sorted(self._entries.items()) if e.error is None]

    def failures(self) -> List[Entry]:
        self._load()
        return [e for e in self._entries.values() if e.error is not None]

    def source(self, name: str) -> str:
        self.get(name)
        return self._entries[name].source

    def get(self, name: str) -> Any:
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            raise unknown(self.kind, name, self.names())
        if entry.error is not None:
            raise MafacError(f"{self.kind} {name!r} from {entry.source} is unavailable: {entry.error}")
        return entry.obj

    def __contains__(self, name: str) -> bool:
        return name in self.names()


def _import_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _entry_points(group: str) -> Iterable[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=group))
    except TypeError:  # Python < 3.10 API
        return list(metadata.entry_points().get(group, []))


def _dist_label(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else repr(e)
