"""Installing a plugin the way pip would, without pip: tests write real distributions with it."""

from __future__ import annotations

from pathlib import Path


def write_distribution(site: Path, dist: str, version: str, groups, modules) -> None:
    """What pip leaves in site-packages: the modules and a .dist-info with METADATA and entry points."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "".join(f"[{group}]\n" + "".join(f"{n} = {t}\n" for n, t in items.items()) + "\n"
                  for group, items in groups.items())
    (info / "entry_points.txt").write_text(eps)
    for filename, source in modules.items():
        (site / filename).write_text(source)
