"""Real StarCraft II (SMAC) behind mafac's batched env interface.

One worker process per env (see `sc2_worker`), each owning one `smac.env.StarCraft2Env`; a batched
step sends every env its actions before waiting for any reply, so the games advance in parallel.
Everything a user can get wrong about the installation (SMAC missing, the unrelated SMAC3 installed
under the same name, no StarCraft II, a map not unzipped) is checked here, in the parent, before a
single worker starts: inside a worker it would surface as a pysc2 traceback from a child process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import multiprocessing as mp
import os
import signal
import sys
import time
import weakref
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mafac.envs import sc2_worker
from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.errors import MafacError, unknown

DEFAULT_FACTORY = "smac.env:StarCraft2Env"
SMAC_INSTALL = "pip install git+https://github.com/oxwhirl/smac.git"
SC2_DOWNLOAD = "https://github.com/Blizzard/s2client-proto#downloads"
SMAC_MAPS_DOWNLOAD = "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"

# The standard SMAC scenarios; used for `maps()` when SMAC itself cannot be imported.
STANDARD_MAPS: Tuple[str, ...] = (
    "3m", "8m", "25m", "5m_vs_6m", "8m_vs_9m", "10m_vs_11m", "27m_vs_30m", "MMM", "MMM2",
    "2s3z", "3s5z", "3s5z_vs_3s6z", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "1c3s5z", "2m_vs_1z",
    "corridor", "6h_vs_8z", "2s_vs_1sc", "so_many_baneling", "bane_vs_bane", "2c_vs_64zg",
)

# PyMARL's sc2 config (src/config/envs/sc2.yaml), so results compare with the published ones.
# One deliberate difference: continuing_episode=True. It changes nothing in SMAC except that a
# time-limit end is then flagged in info["episode_limit"]; without it a timeout is
# indistinguishable from a true terminal state and the learner could not bootstrap there.
SMAC_DEFAULTS: Dict[str, Any] = {
    "continuing_episode": True,
    "difficulty": "7",
    "game_version": None,
    "move_amount": 2,
    "obs_all_health": True,
    "obs_instead_of_state": False,
    "obs_last_action": False,
    "obs_own_health": True,
    "obs_pathing_grid": False,
    "obs_terrain_height": False,
    "obs_timestep_number": False,
    "reward_death_value": 10,
    "reward_defeat": 0,
    "reward_negative_scale": 0.5,
    "reward_only_positive": True,
    "reward_scale": True,
    "reward_scale_rate": 20,
    "reward_sparse": False,
    "reward_win": 200,
    "replay_dir": "",
    "replay_prefix": "",
    "state_last_action": True,
    "state_timestep_number": False,
    "step_mul": 8,
    "heuristic_ai": False,
    "heuristic_rest": False,
    "debug": False,
}
# StarCraft2Env keywords that PyMARL leaves at SMAC's own defaults (StarCraft2Env's signature).
_OTHER_SMAC_DEFAULTS: Dict[str, Any] = {"window_size_x": 1920, "window_size_y": 1200}


def _option_type(key: str, value: Any) -> Any:
    if value is None:
        return Optional[str]
    if key.startswith("reward_") and type(value) is int:  # SMAC takes any number for these
        return float
    return type(value)


# The `env.kwargs.*` options of the sc2 backend: every StarCraft2Env keyword mafac passes, with
# PyMARL's values, plus how the workers are made (a test can point env_factory at a stand-in).
SC2Config = dataclasses.make_dataclass(
    "SC2Config",
    [(k, _option_type(k, v), dataclasses.field(default=v)) for k, v in {**SMAC_DEFAULTS, **_OTHER_SMAC_DEFAULTS}.items()]
    + [("env_factory", str, dataclasses.field(default=DEFAULT_FACTORY)),
       ("timeout_s", float, dataclasses.field(default=600.0))],
)
SC2Config.__module__ = __name__

_POLL_S = 0.05  # how often a waiting parent checks that the worker is still alive
_CLOSE_GRACE_S = 10.0  # time SC2 gets to shut down cleanly before its worker is terminated


# -- pre-flight checks (parent process, before any worker starts) -------------------------------

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
    """pysc2's own fallback when SC2PATH is unset."""
    if platform == "darwin":
        return Path("/Applications/StarCraft II")
    if platform.startswith("win"):
        return Path("C:/Program Files (x86)/StarCraft II")
    return home / "StarCraftII"


def sc2_root(environ: Mapping[str, str], home: Path, platform: str = sys.platform) -> Path:
    """Where pysc2 will look for StarCraft II ($SC2PATH, else its platform default), checked to
    really be an installation: a wrong path otherwise fails deep inside a worker's pysc2."""
    configured = environ.get("SC2PATH")
    if not configured:
        default = default_sc2_dir(home, platform)
        if not default.exists():
            raise MafacError(
                f"StarCraft II not found: SC2PATH is not set and {default} does not exist; install the "
                f"Linux package from {SC2_DOWNLOAD} (unzip with password iagreetotheeula into ~/StarCraftII) "
                "or set SC2PATH to your StarCraft II directory")
        root = default
        source = f"{default} (SC2PATH is not set)"
    else:
        root = Path(configured).expanduser()
        source = f"SC2PATH={configured}"
    if not (root / "Versions").is_dir():
        raise MafacError(
            f"{source} is not a StarCraft II installation (it has no Versions/ directory); point SC2PATH "
            f"at the directory unzipped from {SC2_DOWNLOAD}")
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


# -- the batched env ----------------------------------------------------------------------------

class SC2Env(BatchedEnv):
    """`n_envs` StarCraft II games, one worker process each.

    Extra keywords are StarCraft2Env's (defaults: `SMAC_DEFAULTS`). `env_factory` ("module:attr")
    names the class each worker builds; it is a string so that it crosses the process boundary,
    and only the default SMAC class gets the installation checks. `timeout_s` bounds the wait for
    any single reply (the first reset launches SC2, which can take a minute).
    """

    name = "sc2"
    Config = SC2Config

    def __init__(
        self,
        map_name: str,
        n_envs: int,
        seed: int,
        *,
        env_factory: str = DEFAULT_FACTORY,
        timeout_s: float = 600.0,
        **env_kwargs: Any,
    ) -> None:
        if int(n_envs) < 1:
            raise MafacError(f"n_envs must be at least 1 for the sc2 env, got {n_envs}")
        super().__init__(map_name, int(n_envs), int(seed))
        if env_factory == DEFAULT_FACTORY:
            valid = set(SMAC_DEFAULTS) | set(_OTHER_SMAC_DEFAULTS)
            for key in env_kwargs:
                if key not in valid:
                    raise unknown("sc2 env option", key, valid)
            preflight(map_name)
        kwargs = {**SMAC_DEFAULTS, **env_kwargs, "map_name": map_name}
        kwargs["difficulty"] = str(kwargs["difficulty"])  # SMAC keys difficulties by string
        self._timeout_s = float(timeout_s)
        self._avail: Optional[np.ndarray] = None
        self._closed = False

        ctx = mp.get_context("spawn")  # fork would copy the trainer's threads and CUDA state
        self._conns: List[Any] = []
        self._procs: List[Any] = []
        # Registered before the first start so that a failure half-way still cleans up.
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._conns)
        for i in range(self.n_envs):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(
                target=sc2_worker.worker_main,
                args=(child_end, env_factory, {**kwargs, "seed": self.seed + i}, os.getpid()),
                name=f"mafac-sc2-{i}",
                daemon=True,
            )
            proc.start()
            child_end.close()  # so the parent sees EOF when the worker dies
            self._conns.append(parent_end)
            self._procs.append(proc)

        infos = self._broadcast(sc2_worker.INFO, [None] * self.n_envs)
        first = infos[0]
        self._info = EnvInfo(
            n_agents=int(first["n_agents"]),
            n_actions=int(first["n_actions"]),
            obs_dim=int(first["obs_shape"]),
            state_dim=int(first["state_shape"]),
            episode_limit=int(first["episode_limit"]),
        )

    @classmethod
    def maps(cls) -> Sequence[str]:
        return smac_map_names()

    @property
    def info(self) -> EnvInfo:
        return self._info

    def reset(self, seed: Optional[int] = None) -> Observation:
        """Start a new episode in every env. `seed` is accepted for interface parity and ignored:
        SC2 takes its seed only when the game process launches (in __init__), and relaunching every
        game for each evaluation would cost far more than the reproducibility is worth here."""
        replies = self._broadcast(sc2_worker.RESET, [None] * self.n_envs)
        obs = _batch(replies)
        self._avail = obs.avail_actions
        return obs

    def step(self, actions: np.ndarray) -> Transition:
        actions = self._checked(actions)
        replies = self._broadcast(sc2_worker.STEP, list(actions))
        nxt = _batch([r["next"] for r in replies])
        final = _batch([r["final"] for r in replies])
        self._avail = nxt.avail_actions

        def flag(key: str, dtype: Any) -> np.ndarray:
            return np.array([r[key] for r in replies], dtype=dtype)

        return Transition(
            obs=final.obs,
            state=final.state,
            avail_actions=final.avail_actions,
            reward=flag("reward", np.float32),
            terminated=flag("terminated", bool),
            truncated=flag("truncated", bool),
            battle_won=flag("battle_won", bool),
            next=nxt,
        )

    def snapshot(self) -> None:
        return None  # a running SC2 game cannot be saved; the runner restarts episodes instead

    def close(self) -> None:
        self._closed = True
        self._finalizer()

    @property
    def worker_pids(self) -> List[int]:
        """For tests and diagnostics: the worker processes' ids."""
        return [p.pid for p in self._procs]

    # -- talking to workers ---------------------------------------------------------------------
    def _checked(self, actions: np.ndarray) -> np.ndarray:
        """Reject actions SMAC would reject with an assertion deep inside a worker."""
        if self._avail is None:
            raise RuntimeError("SC2Env.step() called before reset()")
        actions = np.asarray(actions)
        expected = (self.n_envs, self._info.n_agents)
        if actions.shape != expected or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be an int array of shape {expected}, got {actions.dtype} {actions.shape}")
        in_range = (actions >= 0) & (actions < self._info.n_actions)
        ok = in_range & np.take_along_axis(self._avail, np.where(in_range, actions, 0)[..., None], -1)[..., 0]
        if not ok.all():
            env, agent = (int(x) for x in np.argwhere(~ok)[0])
            raise ValueError(f"action {int(actions[env, agent])} is not available to agent {agent} in env {env}")
        return actions.astype(np.int64)

    def _broadcast(self, command: str, payloads: List[Any]) -> List[Any]:
        """Send to every worker first, then collect: the games step concurrently."""
        if self._closed or not self._finalizer.alive:
            raise RuntimeError("SC2Env is closed")
        for i, (conn, payload) in enumerate(zip(self._conns, payloads)):
            try:
                conn.send((command, payload))
            except (BrokenPipeError, EOFError, OSError):
                self._crash(i, self._exit_reason(i))
        deadline = time.monotonic() + self._timeout_s
        return [self._receive(i, deadline) for i in range(self.n_envs)]

    def _receive(self, i: int, deadline: float) -> Any:
        conn, proc = self._conns[i], self._procs[i]
        while True:
            try:
                if conn.poll(_POLL_S):
                    status, payload = conn.recv()
                    break
            except (EOFError, OSError):  # the worker's end closed: it died
                self._crash(i, self._exit_reason(i))
            if not proc.is_alive() and not _readable(conn):
                self._crash(i, self._exit_reason(i))
            if time.monotonic() > deadline:
                self._crash(i, f"no reply within {self._timeout_s:g} s")
        if status != "ok":
            self._crash(i, str(payload))
        return payload

    def _exit_reason(self, i: int) -> str:
        proc = self._procs[i]
        proc.join(1.0)
        code = proc.exitcode
        if code is None:
            return "its pipe closed unexpectedly"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def _crash(self, i: int, reason: str) -> None:
        # Tear every worker down first: after one game died the batch cannot continue, and the
        # caller is about to exit on this error. The failed one gets no grace period: it is dead,
        # exiting after its error report, or hung.
        _stop(self._procs[i], grace_s=0.0)
        self.close()
        raise MafacError(f"sc2 worker {i} crashed: {' '.join(reason.split())}")


def _readable(conn: Any) -> bool:
    try:
        return bool(conn.poll(0))
    except (EOFError, OSError):
        return False


def _batch(replies: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Observation:
    return Observation(
        obs=np.stack([r[0] for r in replies]).astype(np.float32, copy=False),
        state=np.stack([r[1] for r in replies]).astype(np.float32, copy=False),
        avail_actions=np.stack([r[2] for r in replies]).astype(bool, copy=False),
    )


def _shutdown(procs: List[Any], conns: List[Any], grace_s: float = _CLOSE_GRACE_S) -> None:
    """Ask every worker to close its game, then make sure: terminate, and kill as a last resort.
    A module-level function so that the finalizer holds no reference to the env itself."""
    for conn in conns:
        try:
            conn.send((sc2_worker.CLOSE, None))
        except (BrokenPipeError, EOFError, OSError):
            pass
    deadline = time.monotonic() + grace_s
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + 2.0
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
    for conn in conns:
        conn.close()


def _stop(proc: Any, grace_s: float) -> None:
    """SIGTERM lets the worker close its SC2 game (see sc2_worker); SIGKILL if it will not."""
    proc.join(grace_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
    if proc.is_alive():
        proc.kill()
        proc.join(1.0)
