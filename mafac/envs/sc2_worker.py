"""The process that owns one StarCraft2Env, and the pipe protocol the parent speaks to it.

Each SC2 game is its own OS process that blocks on every step, so n games only run in parallel
when each is driven from its own Python process. This module is the child's side: it must stay
cheap to import (numpy only), because every worker is a fresh "spawn" interpreter.

Protocol: the parent sends `(command, payload)`; the worker answers `("ok", payload)` or, when
anything raises, `("error", "<Type>: <message>")` and exits, since a StarCraft2Env that raised
mid-step is in an unknown state. The worker also exits when the parent is gone (pipe EOF, or it
was re-parented), so a killed trainer never leaves SC2 games running.

The SC2 game is the worker's own child (pysc2 starts it), so whatever ends a worker must let it
close the game first: SIGTERM turns into an ordinary exit through `env.close()`, and is ignored once
that close has begun. Each worker leads its own session, which the game joins; the parent's last
resort, a SIGKILL to that whole process group, therefore takes the game along with a hung worker.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any, Callable, Dict, Tuple

import numpy as np

# Commands the parent may send.
INFO, RESET, STEP, CLOSE = "info", "reset", "step", "close"
_PARENT_POLL_S = 1.0


def import_factory(path: str) -> Callable[..., Any]:
    """Resolve "module:attr" in the worker: a string crosses the spawn boundary where a class
    defined in a test module might not pickle by reference."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"env_factory must look like 'module:attr', got {path!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _observe(env: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The current observation, read through SMAC's getters: step() returns none, and reset()'s
    (obs, state) lacks the available actions, so one path serves both."""
    obs = np.stack([np.asarray(o, dtype=np.float32) for o in env.get_obs()])
    state = np.asarray(env.get_state(), dtype=np.float32).reshape(-1)
    avail = np.asarray(env.get_avail_actions()).astype(bool)
    return obs, state, avail


def _step(env: Any, actions: np.ndarray, last: Tuple[np.ndarray, np.ndarray, np.ndarray]) -> Dict[str, Any]:
    """One SMAC step; `last` is the observation the actions were chosen on."""
    reward, ended, info = env.step([int(a) for a in actions])
    info = info or {}
    # Every step SMAC completes puts "battle_won" in info. Only its restart path does not: on a
    # lost connection to SC2 it relaunches the game and returns (0, True, {}). That episode was
    # neither won nor lost, and the relaunched game has no units to observe until reset(), so its
    # final observation is the last one seen.
    aborted = bool(ended) and "battle_won" not in info
    # SMAC marks a time-limit end with info["episode_limit"] (when continuing_episode=True) but
    # still reports terminated=True; only a decided battle is a true terminal state.
    truncated = bool(ended) and (aborted or bool(info.get("episode_limit", False)))
    out = {
        "final": last if aborted else _observe(env),
        "reward": float(reward),
        "terminated": bool(ended) and not truncated,
        "truncated": truncated,
        "battle_won": bool(info.get("battle_won", False)),
        "aborted": aborted,
    }
    if ended:
        env.reset()
    out["next"] = _observe(env) if ended else out["final"]
    return out


def _on_sigterm(signum: int, frame: Any) -> None:
    # Turn terminate() into an ordinary exit so the `finally` below closes the SC2 game.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def _close(env: Any) -> None:
    """Close the game with SIGTERM ignored: a terminate() arriving mid-close would raise inside
    pysc2's shutdown and leave the game running, re-parented to init."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if env is not None:
        try:
            env.close()
        except Exception:
            pass


def _own_session() -> None:
    """A new session (and process group) led by this worker: see the module docstring. Also keeps
    a terminal's Ctrl-C away from the games; the trainer handles it and closes them in order."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a group leader: nothing to gain
            pass


def _parent_gone(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def worker_main(conn: Any, factory_path: str, env_kwargs: Dict[str, Any], parent_pid: int) -> None:
    """Serve commands until told to close or the parent disappears."""
    _own_session()
    signal.signal(signal.SIGTERM, _on_sigterm)
    env = None
    last = None  # the observation last sent: what the next actions are chosen on
    try:
        try:
            env = import_factory(factory_path)(**env_kwargs)
        except BaseException as e:  # report why the env could not be built, then exit
            _send_error(conn, e)
            return
        while True:
            if not conn.poll(_PARENT_POLL_S):
                if _parent_gone(parent_pid):
                    return
                continue
            try:
                command, payload = conn.recv()
            except (EOFError, OSError):  # parent closed its end or died
                return
            try:
                if command == CLOSE:
                    _close(env)
                    env = None
                    _send(conn, ("ok", None))
                    return
                if command == INFO:
                    reply = dict(env.get_env_info())
                elif command == RESET:
                    env.reset()
                    reply = last = _observe(env)
                elif command == STEP:
                    reply = _step(env, payload, last)
                    last = reply["next"]
                else:
                    raise ValueError(f"unknown command {command!r}")
            except Exception as e:
                _send_error(conn, e)
                return
            if not _send(conn, ("ok", reply)):
                return
    finally:
        _close(env)


def _send(conn: Any, message: Tuple[str, Any]) -> bool:
    try:
        conn.send(message)
        return True
    except (BrokenPipeError, EOFError, OSError):
        return False


def _send_error(conn: Any, e: BaseException) -> None:
    text = " ".join(str(e).split())  # one line: the parent puts it into a MafacError
    _send(conn, ("error", f"{type(e).__name__}: {text}" if text else type(e).__name__))


if __name__ == "__main__":  # pragma: no cover - the module is only run through multiprocessing
    sys.exit("mafac.envs.sc2_worker is started by mafac.envs.sc2.SC2Env, not directly")
