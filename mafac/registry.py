"""Registries of mixers, env backends and bench executors, filled from entry points.

Built-ins are declared in `mafac/builtin_plugins.py` and published by setup.py as entry points in
the same groups a user's package uses (`mafac.mixers`, `mafac.envs`, `mafac.executors`): there is
one loading path for both. A plugin that fails to load is remembered with its reason, so one broken
package never takes the others down and `mafac list` can say why.

What counts as a failure, each reported as one line naming the plugin, its distribution and the
problem (`Entry.line`): the target does not import (any exception, even SystemExit), the object
fails the registry's `validate` (e.g. not a Mixer subclass), or the name is a built-in's or another
plugin's.
Asking for a failed plugin by name raises a MafacError carrying that same line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List, Optional

from mafac.errors import MafacError, describe, unknown

BUILTIN = "built-in"
MAFAC_DIST = "mafac"  # entry points published by mafac itself: the built-in table is authoritative


@dataclass
class Entry:
    name: str
    source: str  # "built-in" or "<distribution> <version>"
    target: str  # "module:attr", for messages
    obj: Any = None
    error: Optional[str] = None
    kind: str = "plugin"

    def line(self) -> str:
        """The one line that says which plugin failed, from which distribution, and why."""
        return f"{self.kind} {self.name!r} from {self.source} ({self.target}): {self.error}"


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
        try:
            eps = _entry_points(self.group)
        except Exception as e:  # a malformed entry_points.txt somewhere on the path
            self._entries[f"!{self.group}"] = Entry(self.group, "an installed distribution", self.group,
                                                    error=f"could not read entry points: {describe(e)}",
                                                    kind=self.kind)
            eps = []
        for ep in sorted(eps, key=lambda ep: (ep.name, _dist_label(ep))):
            dist = _dist_label(ep)
            if _dist_name(ep) == MAFAC_DIST or (ep.name in builtin_targets
                                                and ep.value.replace(" ", "") == builtin_targets[ep.name]):
                continue  # mafac's own published entry points: already added from the table
            if ep.name in builtin_targets:
                self._entries[f"!{ep.name}@{dist}"] = Entry(
                    ep.name, dist, ep.value, kind=self.kind,
                    error=f"reuses the built-in name {ep.name!r}; give it another name in its entry points")
                continue
            if ep.name in self._entries:
                prev = self._entries[ep.name]
                self._entries[f"!{ep.name}@{dist}"] = Entry(
                    ep.name, dist, ep.value, kind=self.kind,
                    error=f"the name {ep.name!r} is already provided by {prev.source}; rename one of them")
                continue
            self._add(ep.name, ep.value, dist, ep.load)

    def _add(self, name: str, target: str, source: str, loader: Callable[[], Any]) -> None:
        entry = Entry(name, source, target, kind=self.kind)
        try:
            obj = loader()
        except (Exception, SystemExit) as e:  # a plugin's import may raise anything, even exit
            entry.error = f"failed to import: {describe(e)}"
        else:
            problem = self._problem(obj)
            if problem:
                entry.error = problem
            else:
                entry.obj = obj
        self._entries[name] = entry

    def _problem(self, obj: Any) -> Optional[str]:
        try:
            problem = self.validate(obj) if self.validate else None
        except Exception as e:  # a hostile object (e.g. a property that raises) is still just a failure
            problem = f"could not be checked: {describe(e)}"
        return problem

    # -- queries -------------------------------------------------------------------------------
    def register(self, name: str, obj: Any, source: str = BUILTIN) -> None:
        """Add an object at run time (tests, notebooks); entry points are the normal way."""
        self._load()
        problem = self._problem(obj)
        if problem:
            raise MafacError(f"cannot register {self.kind} {name!r}: {problem}")
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}"
        self._entries[name] = Entry(name, source, target, obj, kind=self.kind)

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
        return sorted((e for e in self._entries.values() if e.error is not None), key=lambda e: (e.name, e.source))

    def source(self, name: str) -> str:
        self.get(name)
        return self._entries[name].source

    def get(self, name: str) -> Any:
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            err = unknown(self.kind, name, self.names())
            failed = sorted({e.name for e in self.failures()} - set(self.names()))
            if failed:
                err = MafacError(f"{err}; plugins that failed to load: {', '.join(failed)} (see `mafac list`)")
            raise err
        if entry.error is not None:
            raise MafacError(f"{entry.line()}; see `mafac list`")
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


def _dist_name(ep: metadata.EntryPoint) -> Optional[str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    try:
        name = dist.metadata["Name"]
    except Exception:
        return None
    return name.lower().replace("_", "-") if name else None


def _dist_label(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    try:
        name, version = dist.metadata["Name"], dist.version
    except Exception:
        name, version = None, None
    return f"{name or 'an unnamed distribution'} {version or '(no version)'}".strip()

