"""`mafac list`: what can be run, and where each piece comes from.

Every algorithm, env backend (with its maps) and bench executor is shown with its origin:
`built-in`, or the plugin's distribution and version. Plugins that failed to load are listed last,
one line each (`Entry.line`: the plugin, its distribution, the problem), so a broken package is
visible without hiding anything that works.
"""

from __future__ import annotations

from typing import List


def _width(names: List[str], minimum: int = 10) -> int:
    return max([minimum] + [len(n) for n in names])


def render_listing() -> str:
    from mafac.envs import ENVS
    from mafac.mixers import MIXERS

    lines: List[str] = ["Algorithms (--algo):"]
    mixers = MIXERS.entries()
    w = _width([e.name for e in mixers])
    for e in mixers:
        desc = (getattr(e.obj, "description", "") or "").strip()
        learners = ", ".join(e.obj.learners)  # every registered mixer is a Mixer subclass
        lines.append(f"  {e.name:<{w}} {desc + '  ' if desc else ''}(learners: {learners})  [{e.source}]")
        lines += [f"  {'':<{w}} note: {note}" for note in getattr(e.obj, "learner_notes", {}).values()]
    lines.append("")
    lines.append("Learners (--set learner.kind=..., or --preset online):")
    lines.append("  online  no replay, no target network: each online.episodes_per_update fresh episodes trained "
                 "on for online.epochs x online.minibatches steps (PQN-style; the default)")
    lines.append("  replay  episode replay + target networks, an update per learner.train_every_episodes (--preset fast)")
    lines.append("")
    lines.append("Env backends (--env) and their maps (--map):")
    envs = ENVS.entries()
    w = _width([e.name for e in envs])
    for e in envs:
        try:
            maps = ", ".join(str(m) for m in e.obj.maps()) or "(any name the backend accepts)"
        except Exception as exc:  # a plugin's maps() may fail; say so rather than crash the listing
            maps = f"(maps unavailable: {type(exc).__name__}: {exc})"
        lines.append(f"  {e.name:<{w}} [{e.source}]")
        lines.append(f"    maps: {maps}")
    failures = MIXERS.failures() + ENVS.failures()
    executors = _executors()
    if executors is not None:
        lines.append("")
        lines.append("Bench executors (--executor): " + ", ".join(f"{e.name} [{e.source}]" for e in executors.entries()))
        failures += executors.failures()
    if failures:
        lines.append("")
        lines.append("Plugins that failed to load (everything above still works):")
        for e in failures:
            lines.append(f"  {e.line()}")
    return "\n".join(lines)


def _executors():
    """The bench executor registry, when the bench feature is present."""
    import importlib

    try:
        mod = importlib.import_module("mafac.benchmark.executors")
    except ModuleNotFoundError as e:
        if e.name and "mafac.benchmark.executors".startswith(e.name):
            return None
        raise
    return getattr(mod, "EXECUTORS", None)
