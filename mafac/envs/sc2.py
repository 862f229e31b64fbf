"""Real StarCraft II (SMAC) behind mafac's batched env interface.

One worker process per env (see `sc2_worker`), each owning one `smac.env.StarCraft2Env`; a batched
step sends every env its actions before waiting for any reply, so the games advance in parallel.
The installation is checked (`sc2_install.preflight`) before a single worker starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import weakref
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from mafac.envs import sc2_worker
from mafac.envs.base import BatchedEnv, EnvInfo, Observation, Transition
from mafac.envs.sc2_install import preflight, smac_map_names
from mafac.envs.sc2_options import DEFAULT_FACTORY, OTHER_SMAC_DEFAULTS, SMAC_DEFAULTS, SC2Config, check_options
from mafac.errors import MafacError, unknown


_POLL_S = 0.05  # how often a waiting parent checks that the worker is still alive
_CLOSE_GRACE_S = 10.0  # time SC2 gets to shut down cleanly before its worker is terminated
# A spawned worker first starts an interpreter and imports SMAC: seconds on a loaded machine, before
# any game exists. A short `timeout_s` is meant for hung games, so the start gets at least this.
_STARTUP_S = 120.0


# -- the batched env ----------------------------------------------------------------------------

class SC2Env(BatchedEnv):
    """`n_envs` StarCraft II games, one worker process each.

    Extra keywords are StarCraft2Env's (defaults: `SMAC_DEFAULTS`). `env_factory` ("module:attr")
    names the class each worker builds; it is a string so that it crosses the process boundary,
    and only the default SMAC class gets the installation checks. `timeout_s` bounds the wait for
    any single reply (the first reset launches SC2, which can take a minute); the workers' own start
    gets at least two minutes whatever it is.
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
            valid = set(SMAC_DEFAULTS) | set(OTHER_SMAC_DEFAULTS)
            for key in env_kwargs:
                if key not in valid:
                    raise unknown("sc2 env option", key, valid)
        check_options(env_kwargs)
        if env_factory == DEFAULT_FACTORY:
            preflight(map_name)
        kwargs = {**SMAC_DEFAULTS, **env_kwargs, "map_name": map_name}
        kwargs["difficulty"] = str(kwargs["difficulty"])  # SMAC keys difficulties by string
        self._timeout_s = float(timeout_s)
        self._obs_timestep_number = bool(kwargs.get("obs_timestep_number"))
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

        infos = self._broadcast(sc2_worker.INFO, [None] * self.n_envs, max(self._timeout_s, _STARTUP_S))
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
        self._check_sizes(obs)
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
            aborted=flag("aborted", bool),
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

    def _check_sizes(self, obs: Observation) -> None:
        """SMAC's observations must be as long as its get_obs_size() says: the agent network and the
        replay are built to that size. With obs_timestep_number=True they are not (SMAC counts the
        timestep among the own features, then appends it once more), which would otherwise fail far
        away, as a shape error in the learner."""
        got = {"observations": obs.obs.shape[-1], "states": obs.state.shape[-1]}
        said = {"observations": self._info.obs_dim, "states": self._info.state_dim}
        for what in got:
            if got[what] != said[what]:
                self.close()
                size = "get_obs_size()" if what == "observations" else "get_state_size()"
                fix = ("; this is SMAC's obs_timestep_number bug (the timestep is counted in the size and "
                       "then appended again): set env.kwargs.obs_timestep_number=false"
                       if what == "observations" and self._obs_timestep_number else "")
                raise MafacError(f"SMAC's {what} have {got[what]} features but its {size} says "
                                 f"{said[what]}{fix}")

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

    def _broadcast(self, command: str, payloads: List[Any], timeout_s: Optional[float] = None) -> List[Any]:
        """Send to every worker first, then collect: the games step concurrently."""
        if self._closed or not self._finalizer.alive:
            raise RuntimeError("SC2Env is closed")
        for i, (conn, payload) in enumerate(zip(self._conns, payloads)):
            try:
                conn.send((command, payload))
            except (BrokenPipeError, EOFError, OSError):
                self._crash(i, self._exit_reason(i))
        timeout_s = self._timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        return [self._receive(i, deadline, timeout_s) for i in range(self.n_envs)]

    def _receive(self, i: int, deadline: float, timeout_s: float) -> Any:
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
                self._crash(i, f"no reply within {timeout_s:g} s", grace_s=0.0)  # hung
        if status != "ok":
            # The worker is exiting through env.close(): let it finish closing its game.
            self._crash(i, str(payload), grace_s=_CLOSE_GRACE_S)
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

    def _crash(self, i: int, reason: str, grace_s: float = 0.0) -> None:
        # Tear every worker down first: after one game died the batch cannot continue, and the
        # caller is about to exit on this error. The failed worker is stopped first, with the grace
        # its state deserves (none when dead or hung), so the others are not kept waiting on it.
        _stop(self._procs[i], grace_s)
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
        _kill_session(proc)
    for conn in conns:
        conn.close()


def _stop(proc: Any, grace_s: float) -> None:
    """SIGTERM lets the worker close its SC2 game (see sc2_worker); SIGKILL if it will not."""
    proc.join(grace_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
    _kill_session(proc)


def _kill_session(proc: Any) -> None:
    """SIGKILL the worker's process group (it leads its own, see sc2_worker), which holds its SC2
    game: a worker killed or dead before it closed the game would leave the game running, and an
    SC2 process holds gigabytes. Nothing is left in the group after a clean exit, so this is a no-op
    then. Also used where process groups do not exist: a plain kill of a live worker."""
    pid = proc.pid
    if pid is not None and hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # no such group: the worker ended cleanly
            pass
    if proc.is_alive():  # killed before it could make its own group, or no groups on this OS
        proc.kill()
    proc.join(1.0)
