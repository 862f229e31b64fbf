"""SMAX frames drawn by JaxMARL's own renderer (`SMAX.init_render`: units, who shoots whom), plus
health bars, which it leaves out and which say most about who is winning a fight.

JaxMARL's renderer draws a state with the attacks made during the step that follows it; the
batched env's step replaces a finished episode's last state with the next episode's first, so the
scene steps with `SMAXEnv.step_with_states` to keep it.
"""

from __future__ import annotations

from typing import Any, List

import numpy as np

from mafac.envs.base import Transition

ALLY, ENEMY = "tab:blue", "tab:green"


class SMAXScene:
    """One episode of env 0, recorded step by step, drawn frame by frame."""

    def __init__(self, env) -> None:
        self.env = env
        self.sim = env.jaxmarl_env  # HeuristicEnemySMAX: its SMAX's attributes read through it
        self.states: List[Any] = []  # SMAX State per frame: the start, then after each step

    def start(self) -> None:
        self.states = [_first(self.env.current_states())]

    def step(self, actions: np.ndarray) -> Transition:
        tr, stepped = self.env.step_with_states(actions)
        self.states.append(_first(stepped))
        return tr

    @property
    def n_frames(self) -> int:
        return len(self.states)

    def limits(self):
        """One view for the whole episode: the box around every unit that ever lived in it."""
        pos = np.concatenate([np.asarray(s.unit_positions)[np.asarray(s.unit_alive)] for s in self.states])
        if not len(pos):
            return (0.0, float(self.sim.map_width)), (0.0, float(self.sim.map_height))
        lo, hi = pos.min(0), pos.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 + 1.0, 2.5)
        return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)

    def draw(self, ax, k: int) -> None:
        sim = self.sim
        state = self.states[k]
        # the attacks made from this state on: recorded in the next state (none after the last)
        attacks = (np.asarray(self.states[k + 1].prev_attack_actions) if k + 1 < len(self.states)
                   else np.zeros(len(sim.all_agents), dtype=np.int32))
        actions = {agent: int(attacks[i]) for i, agent in enumerate(sim.all_agents)}
        half_step = sim.world_steps_per_env_step // 2  # bullets drawn half way to their targets
        image = sim.init_render(ax, (None, state, actions), half_step, k)
        image.remove()  # it pastes a screenshot of the axes into themselves; the patches suffice
        xlim, ylim = self.limits()
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        self._health_bars(ax, state)

    def _health_bars(self, ax, state) -> None:
        from matplotlib.patches import Rectangle

        sim = self.sim
        pos, alive = np.asarray(state.unit_positions), np.asarray(state.unit_alive)
        health, types = np.asarray(state.unit_health), np.asarray(state.unit_types)
        max_health = np.asarray(sim.unit_type_health)[types]
        radius = np.asarray(sim.unit_type_radiuses)[types]
        for i in np.nonzero(alive)[0]:
            x, y, r = pos[i, 0], pos[i, 1], float(radius[i])
            frac = float(np.clip(health[i] / max_health[i], 0.0, 1.0))
            colour = ALLY if i < sim.num_allies else ENEMY
            ax.add_patch(Rectangle((x - 1.5 * r, y + 1.4 * r), 3 * r, 0.5 * r, facecolor="lightgray", edgecolor="none"))
            ax.add_patch(Rectangle((x - 1.5 * r, y + 1.4 * r), 3 * r * frac, 0.5 * r, facecolor=colour, edgecolor="none"))


def _first(states):
    """Env 0's state out of a batched pytree, as numpy (the renderer reads a few fields many times)."""
    import jax

    return jax.tree.map(lambda x: np.asarray(x[0]), states).state
