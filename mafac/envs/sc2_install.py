"""Is a real StarCraft II + SMAC installation there, and where: checks run in the parent process.

Everything a user can get wrong about the installation (SMAC missing, the unrelated SMAC3 installed
under the same name, no StarCraft II, a map not unzipped) is checked here, before a single worker
starts: inside a worker it would surface as a pysc2 traceback from a child process. Kept apart from
the worker pool (`sc2`) so that `mafac list` and config validation can ask about maps without
touching processes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import posixpath
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

from mafac.errors import MafacError, unknown

SMAC_INSTALL = "pip install git+https://github.com/oxwhirl/smac.git"
SC2_DOWNLOAD = "https://github.com/Blizzard/s2client-proto#downloads"
SMAC_MAPS_DOWNLOAD = "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"

# The standard SMAC scenarios; used for `maps()` when SMAC itself cannot be imported.
STANDARD_MAPS: Tuple[str, ...] = (
    "3m", "8m", "25m", "5m_vs_6m", "8m_vs_9m", "10m_vs_11m", "27m_vs_30m", "MMM", "MMM2",
    "2s3z", "3s5z", "3s5z_vs_3s6z", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "1c3s5z", "2m_vs_1z",
    "corridor", "6h_vs_8z", "2s_vs_1sc", "so_many_baneling", "bane_vs_bane", "2c_vs_64zg",
)


def check_smac(smac_spec: Optional[ModuleSpec], pysc2_spec: Optional[ModuleSpec]) -> None:
    """Fail with the fix if the importable `smac` is not the StarCraft Multi-Agent Challenge.

    Judged from the package's files, not by importing it (SMAC3's import is slow and may itself
    fail) nor by its version: both projects publish as "smac", and SMAC's own version is 1.0.0.
    """
    if smac_spec is None:
        raise MafacError(f"SMAC (StarCraft Multi-Agent Challenge) is not installed; install it with: {SMAC_INSTALL}")
    locations = [Path(p) for p in (smac_spec.submodule_search_locations or [])]
    where = ", ".join(str(p) for p in locations) or str(smac_spec.origin)
    if not any((p / "env" / "starcraft2").is_dir() for p in locations):
        what = ("SMAC3, the hyper-parameter optimiser" if any((p / "facade").is_dir() for p in locations)
                else "not SMAC (it has no smac.env.starcraft2)")
        raise MafacError(
            f"the installed 'smac' package at {where} is {what}, not the StarCraft Multi-Agent "
            f"Challenge; fix: pip uninstall smac, then {SMAC_INSTALL}")
    if pysc2_spec is None:
        raise MafacError(f"SMAC is installed but its dependency pysc2 is missing; reinstall SMAC: {SMAC_INSTALL}")


def _find_spec(name: str) -> Optional[ModuleSpec]:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def default_sc2_dir(home: Path, platform: str = sys.platform) -> Path:
    """pysc2's last fallback (run_configs/platforms.py), after SC2PATH and ExecuteInfo.txt."""
    if platform == "darwin":
        return Path("/Applications/StarCraft II")
    if platform == "cygwin":
        return Path("/cygdrive/c/Program Files (x86)/StarCraft II")
    if platform.startswith("win"):
        return Path("C:/Program Files (x86)/StarCraft II")
    return home / "StarCraftII"


def _has_launcher(platform: str) -> bool:
    """Windows and macOS, where the Battle.net launcher installs the game (Cygwin runs pysc2's
    Cygwin config, which never reads ExecuteInfo.txt)."""
    return platform == "darwin" or (platform.startswith("win") and platform != "cygwin")


def _execute_info(home: Path, platform: str) -> Tuple[Optional[Path], Optional[Path]]:
    """(the game's directory or None, the file if it exists) from the ExecuteInfo.txt that the
    Battle.net launcher writes, which pysc2 reads before its default path: the game may be
    installed anywhere, and its "executable" line names the binary, a fixed depth below the
    installation."""
    if platform == "darwin":
        folder, levels = home / "Library" / "Application Support" / "Blizzard", 6  # .../SC2.app/Contents/MacOS/SC2
    elif _has_launcher(platform):
        folder, levels = home / "Documents", 3  # ...\Versions\BaseNNNNN\SC2_x64.exe
    else:
        return None, None
    path = folder / "StarCraft II" / "ExecuteInfo.txt"
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")  # the game ends it with a NUL
    except OSError:  # not there: the game was never started, or is not installed
        return None, None
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("=")]
        if len(parts) == 2 and parts[0] == "executable":
            found = parts[1].replace("\\", "/")
            for _ in range(levels):
                found = posixpath.dirname(found)
            return (Path(found) if found else None), path
    return None, path


def _install_advice(platform: str) -> str:
    if _has_launcher(platform):
        return ("install StarCraft II with the Battle.net app and start it once (it then writes the "
                "ExecuteInfo.txt that tells pysc2 where the game is), or set SC2PATH to your StarCraft II directory")
    if platform == "cygwin":
        return ("install StarCraft II on Windows with the Battle.net app, or set SC2PATH to its directory "
                "as a Cygwin path (/cygdrive/c/...)")
    return (f"install the Linux package from {SC2_DOWNLOAD} (unzip with password iagreetotheeula into "
            "~/StarCraftII) or set SC2PATH to your StarCraft II directory")


def sc2_root(environ: Mapping[str, str], home: Path, platform: str = sys.platform) -> Path:
    """Where pysc2 will look for StarCraft II, found the way pysc2 finds it, and checked to really
    be an installation: a wrong path otherwise fails deep inside a worker's pysc2.

    pysc2's order: SC2PATH; on Windows and macOS, when it is unset or empty, ExecuteInfo.txt next;
    then the platform's default. On Linux and Cygwin a set-but-empty SC2PATH is taken as it is, the
    path "", where pysc2 then fails."""
    advice = _install_advice(platform)
    configured = environ.get("SC2PATH")
    if configured:
        root, source = Path(configured).expanduser(), f"SC2PATH={configured}"
    elif configured is not None and not _has_launcher(platform):
        raise MafacError(f"SC2PATH is set but empty, and pysc2 then looks for StarCraft II at '' (it falls "
                         f"back to {default_sc2_dir(home, platform)} only when SC2PATH is unset); unset SC2PATH "
                         f"or set it to your StarCraft II directory")
    else:
        unset = "SC2PATH is not set" if configured is None else "SC2PATH is empty"
        found, info = _execute_info(home, platform)
        if found is not None:
            root, source = found, f"{found} (from {info})"
        else:
            root = default_sc2_dir(home, platform)
            if not root.exists():
                tried = f", {info} names no game," if info is not None else ""
                raise MafacError(f"StarCraft II not found: {unset}{tried} and {root} does not exist; {advice}")
            source = f"{root} ({unset})"
    if not (root / "Versions").is_dir():
        raise MafacError(f"{source} is not a StarCraft II installation (it has no Versions/ directory); {advice}")
    return root


def installed_maps(root: Path) -> List[str]:
    return sorted(p.stem for p in (root / "Maps" / "SMAC_Maps").glob("*.SC2Map"))


def check_map(map_name: str, root: Path, known: Sequence[str]) -> Path:
    """The map's file, which SMAC loads from $SC2PATH/Maps/SMAC_Maps/<name>.SC2Map."""
    if map_name not in known:
        raise unknown("SMAC map", map_name, known)
    path = root / "Maps" / "SMAC_Maps" / f"{map_name}.SC2Map"
    if not path.is_file():
        found = ", ".join(installed_maps(root)) or "none"
        raise MafacError(
            f"SMAC map {map_name!r} not found at {path}; installed SMAC maps: {found}; download "
            f"{SMAC_MAPS_DOWNLOAD} and unzip it into {root / 'Maps'}")
    return path


def preflight(map_name: str, environ: Mapping[str, str] = os.environ, home: Optional[Path] = None) -> Path:
    """All installation checks for running real SC2, in the order a user has to fix them."""
    check_smac(_find_spec("smac"), _find_spec("pysc2"))
    root = sc2_root(environ, Path.home() if home is None else home)
    return check_map(map_name, root, smac_map_names())


@functools.lru_cache(maxsize=None)
def smac_map_names() -> Tuple[str, ...]:
    """SMAC's own map registry when SMAC imports (it may list maps a user registered), else the
    standard scenarios."""
    try:
        check_smac(_find_spec("smac"), _find_spec("pysc2"))
        registry = importlib.import_module("smac.env.starcraft2.maps.smac_maps").get_smac_map_registry()
        return tuple(registry)
    except Exception:
        return STANDARD_MAPS
