"""`mafac list`: what can be run, and where each piece comes from."""

from __future__ import annotations

from typing import List


def render_listing() -> str:
    from mafac.envs import ENVS
    from mafac.mixers import MIXERS

    lines: List[str] = ["Algorithms (--algo):"]
    for e in MIXERS.entries():
        desc = getattr(e.obj, "description", "") or ""
        lines.append(f"  {e.name:<10} {desc}  [{e.source}]")
    lines.append("")
    lines.append("Env backends (--env) and their maps (--map):")
    for e in ENVS.entries():
        try:
            maps = ", ".join(e.obj.maps())
        except Exception as exc:  # a plugin's maps() may fail; say so rather than crash the listing
            maps = f"(maps unavailable: {type(exc).__name__}: {exc})"
        lines.append(f"  {e.name:<10} [{e.source}]")
        lines.append(f"    maps: {maps}")
    failures = MIXERS.failures() + ENVS.failures()
    try:
        from mafac.bench.executors import EXECUTORS

        lines.append("")
        lines.append("Bench executors (--executor): " + ", ".join(f"{e.name} [{e.source}]" for e in EXECUTORS.entries()))
        failures += EXECUTORS.failures()
    except ModuleNotFoundError:
        pass
    if failures:
        lines.append("")
        lines.append("Plugins that failed to load:")
        for e in failures:
            lines.append(f"  {e.name} ({e.source}): {e.error}")
    return "\n".join(lines)
