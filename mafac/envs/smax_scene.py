"""SMAX frames people can read: one camera per episode, zoomed to where the units were, every unit
a disc of its true size (or larger, to stay legible when the view is wide) labelled with its type, allies and enemies in two colours, health bars,
this step's shots as lines, and the dead as grey crosses where they fell.

mafac draws them itself from SMAX's state rather than with JaxMARL's `init_render`, which shows
the whole 32 x 32 map (a few specks in an empty square), labels units in xx-small type and
saves a screenshot of every frame on the side (twice the cost). The shots drawn from a state are
the attacks made during the step that follows it, as the simulator resolves them (in range,
shooter and target alive); the batched env's step replaces a finished episode's last state with
the next episode's first, so the scene steps with `SMAXEnv.step_with_states` to keep it.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

from mafac.envs.base import Transition

ALLY, ENEMY, DEAD = "tab:blue", "tab:red", "0.45"
# the frame: 720 x 560 px, wider than tall as most fights are (allies start west, enemies east); the
# caption above the view, the legend below it
FIGSIZE, DPI = (7.2, 5.6), 100
MARGINS = (0.02, 0.98, 0.1, 0.9)  # left, right, bottom, top (figure fractions)
VIEW_MARGIN = 2.0  # map units around the units' box: room for the health bars and the discs themselves
MIN_VIEW = 8.0  # map units: a camera never zooms in further (a one-unit episode stays readable)
MIN_RADIUS_PX = 9.0  # a disc is drawn at its unit's true radius, but never smaller than this (a label fits)
# two-letter labels for SMAX's unit types (any other type: its name's first two letters)
LABELS = {"marine": "mr", "marauder": "md", "stalker": "st", "zealot": "zl", "zergling": "zg", "hydralisk": "hy"}


def type_labels(names) -> List[str]:
    return [LABELS.get(n, n[:2]) for n in names]


def fit_view(points: np.ndarray, aspect: float, margin: float = VIEW_MARGIN,
             min_size: float = MIN_VIEW) -> Tuple[Tuple[float, float], Tuple[float, float]]:
    """x and y limits around `points` [N, 2] (plus `margin`), widened on one side to the view's
    width/height `aspect` so that a map unit is as long across as up."""
    lo, hi = points.min(0) - margin, points.max(0) + margin
    centre = (lo + hi) / 2
    w, h = max(hi[0] - lo[0], min_size), max(hi[1] - lo[1], min_size)
    w, h = max(w, h * aspect), max(h, w / aspect)
    return (centre[0] - w / 2, centre[0] + w / 2), (centre[1] - h / 2, centre[1] + h / 2)


def axes_aspect(ax) -> float:
    """The axes' width / height in pixels."""
    box = ax.get_position()
    fw, fh = ax.figure.get_size_inches()
    return (box.width * fw) / (box.height * fh)


class SMAXScene:
    """One episode of env 0, recorded step by step, drawn frame by frame."""

    figsize, dpi, margins = FIGSIZE, DPI, MARGINS

    def __init__(self, env) -> None:
        self.env = env
        sim = env.jaxmarl_env  # HeuristicEnemySMAX: its SMAX's attributes read through it
        self.sim = sim
        self.n_allies, self.n_move = int(sim.num_allies), int(sim.num_movement_actions)
        self.labels = type_labels(sim.unit_type_names)
        self.radius = np.asarray(sim.unit_type_radiuses, dtype=float)
        self.max_health = np.asarray(sim.unit_type_health, dtype=float)
        self.attack_range = np.asarray(sim.unit_type_attack_ranges, dtype=float)
        self.map_size = (float(sim.map_width), float(sim.map_height))
        self.states: List[Any] = []  # SMAX State per frame: the start, then after each step
        self._view = None

    def start(self) -> None:
        self.states = [_first(self.env.current_states())]
        self._view = None

    def step(self, actions: np.ndarray) -> Transition:
        tr, stepped = self.env.step_with_states(actions)
        self.states.append(_first(stepped))
        self._view = None
        return tr

    @property
    def n_frames(self) -> int:
        return len(self.states)

    def view(self, aspect: float):
        """One camera for the whole episode: the box around every place a living unit stood in
        it, so the picture does not jump as units move or die."""
        if self._view is None or self._view[0] != aspect:
            pos = np.concatenate([s.unit_positions[s.unit_alive] for s in self.states])
            if not len(pos):
                pos = np.array([[0.0, 0.0], self.map_size])
            self._view = (aspect, fit_view(pos, aspect))
        return self._view[1]

    def shots(self, k: int) -> List[Tuple[int, int]]:
        """(shooter, target) of every attack made from frame k's state (none from the last)."""
        if k + 1 >= len(self.states):
            return []
        s, acts = self.states[k], np.asarray(self.states[k + 1].prev_attack_actions)
        a, m = self.n_allies, self.n_move
        out = []
        for i in np.nonzero((acts >= m) & s.unit_alive)[0]:
            j = acts[i] - m + a if i < a else a - 1 - (acts[i] - m)
            if not (0 <= j < len(acts) and s.unit_alive[j]):
                continue
            if np.linalg.norm(s.unit_positions[i] - s.unit_positions[j]) < self.attack_range[s.unit_types[i]]:
                out.append((int(i), int(j)))
        return out

    def draw(self, ax, k: int) -> None:
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Circle, Rectangle

        s = self.states[k]
        ax.clear()
        xlim, ylim = self.view(axes_aspect(ax))
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("0.8")  # beyond the walls
        ax.add_patch(Rectangle((0, 0), *self.map_size, facecolor="white", edgecolor="0.3", linewidth=1.5))
        px_per_unit = ax.get_window_extent().width / (xlim[1] - xlim[0])
        pos, alive, types = s.unit_positions, s.unit_alive, s.unit_types.astype(int)
        team = np.where(np.arange(len(alive)) < self.n_allies, ALLY, ENEMY)
        dead = ~alive
        if dead.any():
            ax.scatter(pos[dead, 0], pos[dead, 1], marker="x", s=60, c=DEAD, linewidths=2, zorder=2, gid="dead")
        shots = self.shots(k)
        if shots:
            ax.add_collection(LineCollection([(pos[i], pos[j]) for i, j in shots], colors=[team[i] for i, _ in shots],
                                             linewidths=1.5, alpha=0.7, zorder=3))
        for i in np.nonzero(alive)[0]:
            x, y = float(pos[i, 0]), float(pos[i, 1])
            r = max(float(self.radius[types[i]]), MIN_RADIUS_PX / px_per_unit)
            ax.add_patch(Circle((x, y), r, facecolor=team[i], edgecolor="black", linewidth=0.5, zorder=4))
            ax.text(x, y, self.labels[types[i]], ha="center", va="center", color="white", fontweight="bold",
                    fontsize=float(np.clip(0.9 * r * px_per_unit * 72 / DPI, 6, 11)), zorder=5, gid="unit-label")
            frac = float(np.clip(s.unit_health[i] / self.max_health[types[i]], 0.0, 1.0))
            bar = (x - 1.2 * r, y + 1.3 * r)
            # under every disc and label: a neighbour's bar must not hide a unit's type
            ax.add_patch(Rectangle(bar, 2.4 * r, 0.35 * r, facecolor="0.85", edgecolor="none", zorder=3.5))
            ax.add_patch(Rectangle(bar, 2.4 * r * frac, 0.35 * r, facecolor=team[i], edgecolor="none", zorder=3.5))
        self._legend(ax, types)

    def _legend(self, ax, types) -> None:
        """Below the view: the teams and the dead, then what each type label present stands for."""
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="none", marker="o", ms=9, mfc=ALLY, mec="black", label="allies (agents)"),
                   Line2D([], [], ls="none", marker="o", ms=9, mfc=ENEMY, mec="black", label="enemies (heuristic)"),
                   Line2D([], [], ls="none", marker="x", ms=7, mew=2, color=DEAD, label="dead")]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8,
                  frameon=False, handletextpad=0.3, columnspacing=1.5, borderaxespad=0.1)
        present = sorted(set(types.tolist()))
        ax.text(0.5, -0.06, "    ".join(f"{self.labels[t]} = {self.sim.unit_type_names[t]}" for t in present),
                transform=ax.transAxes, ha="center", va="top", fontsize=8, gid="type-legend")


def _first(states):
    """Env 0's state out of a batched pytree, as numpy (drawn many times over)."""
    import jax

    return jax.tree.map(lambda x: np.asarray(x[0]), states).state
