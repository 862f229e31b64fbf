"""Where the ceiling is: scripted policies playing our side of SMAX, against the same heuristic enemy.

A learned policy's win rate means little without a reference on the same env. Two scripts play
our units through mafac's own SMAX env (same kwargs, same episode limit), many episodes at once:

- `heuristic`: JaxMARL's heuristic policy, the one that drives the enemy (attack the closest unit
  in range and keep shooting it; otherwise walk towards a visible enemy or across the map). Mirror
  play: the symmetric maps are then a coin toss, which calibrates the env.
- `focus_fire`: centralised focus fire, the classic SMAC micro. Every unit that can shoot fires at
  the in-range enemy with the least health (ties: lowest index); the others walk towards the
  enemies' centre of mass. It uses the global state, so it is an upper-bound-style script, not a
  decentralised policy.

    python benchmarks/scripted_smax.py [--maps 3m,8m] [--episodes 512]

Prints, per map and script, the win rate with a 95% Wilson interval, and the share of episodes
lost and timed out.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

N_MOVE = 5  # SMAX: 4 moves (N, E, S, W), stop, then one attack per enemy
NOOP = N_MOVE - 1
MOVES = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.float32)  # JaxMARL's action vectors


def wilson(k: int, n: int, z: float = 1.96):
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


class FocusFire:
    def __init__(self, env) -> None:
        lay = env._layout
        self.n_allies, self.n_enemies, self.unit_dim = lay.n_allies, lay.n_enemies, lay.unit_dim
        self.size = np.array([env._env.map_width, env._env.map_height], dtype=np.float32)

    def reset(self, done: np.ndarray) -> None:
        pass

    def __call__(self, obs) -> np.ndarray:
        e, a = obs.avail_actions.shape[:2]
        units = obs.state[:, : (self.n_allies + self.n_enemies) * self.unit_dim]
        units = units.reshape(e, self.n_allies + self.n_enemies, self.unit_dim)
        health, pos = units[..., 0], units[..., 1:3] * self.size
        en_health, en_pos = health[:, self.n_allies:], pos[:, self.n_allies:]
        shootable = obs.avail_actions[..., N_MOVE:]  # [e, a, n_enemies]
        score = np.where(shootable, en_health[:, None, :], np.inf)
        target = score.argmin(-1)
        alive_en = en_health > 0
        centre = (en_pos * alive_en[..., None]).sum(1) / np.maximum(alive_en.sum(1, keepdims=True), 1)
        to_centre = centre[:, None, :] - pos[:, : self.n_allies]
        move = (to_centre @ MOVES.T).argmax(-1)
        act = np.where(shootable.any(-1), N_MOVE + target, move)
        ok = np.take_along_axis(obs.avail_actions, act[..., None], -1)[..., 0]
        return np.where(ok, act, NOOP)


class Heuristic:
    """JaxMARL's own heuristic (the enemy's policy) on our side, vmapped over envs and agents."""

    def __init__(self, env, attack_mode: str = "closest") -> None:
        import jax
        import jax.numpy as jnp
        from jaxmarl.environments.smax.heuristic_enemy import (create_heuristic_policy,
                                                                get_heuristic_policy_initial_state)

        smax = env._env._env  # the underlying two-team SMAX
        policy = create_heuristic_policy(smax, 0, shoot=True, attack_mode=attack_mode)
        n_envs, n_agents = env.n_envs, env.info.n_agents
        init = get_heuristic_policy_initial_state()
        self._init = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n_envs, n_agents) + jnp.shape(x)), init)
        self._act = jax.jit(jax.vmap(jax.vmap(policy)))
        self._jax, self._jnp = jax, jnp
        self._key = jax.random.PRNGKey(0)
        self._state = self._init

    def reset(self, done: np.ndarray) -> None:
        jnp = self._jnp
        d = jnp.asarray(done)
        self._state = self._jax.tree.map(
            lambda i, s: jnp.where(d.reshape(d.shape + (1,) * (s.ndim - 1)), i, s), self._init, self._state)

    def __call__(self, obs) -> np.ndarray:
        jax = self._jax
        e, a = obs.avail_actions.shape[:2]
        self._key, sub = jax.random.split(self._key)
        keys = jax.random.split(sub, e * a).reshape(e, a, -1)
        act, self._state = self._act(keys, self._state, self._jnp.asarray(obs.obs))
        act = np.asarray(act)
        ok = np.take_along_axis(obs.avail_actions, act[..., None], -1)[..., 0]
        return np.where(ok, act, NOOP)


SCRIPTS = {"heuristic": Heuristic, "focus_fire": FocusFire}


def play(map_name: str, script: str, episodes: int, n_envs: int = 64, seed: int = 0, kwargs=None):
    """Play until `episodes` episodes have ended; returns (won, lost, timed_out, mean length)."""
    from mafac.envs import make_env

    env = make_env("smax", map_name, n_envs, seed, kwargs or {})
    policy = SCRIPTS[script](env)
    obs = env.reset(seed)
    won = lost = timed = 0
    lengths, t = [], np.zeros(n_envs, dtype=int)
    while won + lost + timed < episodes:
        tr = env.step(policy(obs))
        t += 1
        done = tr.done
        won += int((tr.battle_won & done).sum())
        lost += int((tr.terminated & ~tr.battle_won).sum())
        timed += int(tr.truncated.sum())
        lengths += t[done].tolist()
        t[done] = 0
        policy.reset(done)
        obs = tr.next
    env.close()
    return won, lost, timed, float(np.mean(lengths))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", default="3m,8m")
    ap.add_argument("--scripts", default=",".join(SCRIPTS))
    ap.add_argument("--episodes", type=int, default=512)
    args = ap.parse_args()
    print(f"{'map':<6} {'script':<11} {'episodes':>8} {'win rate':>8}  95% Wilson CI   lost  timed out  mean length  wall")
    for m in args.maps.split(","):
        for s in args.scripts.split(","):
            t0 = time.perf_counter()
            w, l, to, mean_len = play(m, s, args.episodes)
            n = w + l + to
            lo, hi = wilson(w, n)
            print(f"{m:<6} {s:<11} {n:>8} {w / n:>8.3f}  [{lo:.3f}, {hi:.3f}]  {l / n:5.3f}  {to / n:9.3f}  "
                  f"{mean_len:11.1f}  {time.perf_counter() - t0:4.0f}s", flush=True)


if __name__ == "__main__":
    main()
