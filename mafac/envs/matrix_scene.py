"""Matrix-game frames: the payoff table, with the joint action the agents chose and what it paid."""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from mafac.envs.base import Transition


class MatrixScene:
    figsize, dpi = (4.2, 4.8), 80  # inches at dpi: 336 x 384 px, enough for a 2 x 2 or 3 x 3 table
    margins = (0.08, 0.96, 0.15, 0.84)  # left, right, bottom (room for the two-line x label), top

    def __init__(self, env) -> None:
        self.env = env
        # per frame: (payoff table shown, chosen joint action or None, reward or None, label)
        self.frames: List[Tuple[Optional[np.ndarray], Optional[Tuple[int, int]], Optional[float], str]] = []

    def _table(self) -> Tuple[Optional[np.ndarray], str]:
        env = self.env
        if not env.two_step:
            return env.payoff, "payoff"
        stage = int(env.stage[0])
        if stage == 0:
            return None, "state 1: agent 0 picks the stage (action 0: 2A, 1: 2B)"
        return env.stage_payoffs()[stage - 1], f"stage {'2A' if stage == 1 else '2B'} payoff"

    def start(self) -> None:
        table, label = self._table()
        self.frames = [(table, None, None, label)]

    def step(self, actions: np.ndarray) -> Transition:
        table, label = self._table()
        tr = self.env.step(actions)
        self.frames.append((table, (int(actions[0, 0]), int(actions[0, 1])), float(tr.reward[0]), label))
        return tr

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def draw(self, ax, k: int) -> None:
        table, chosen, reward, label = self.frames[k]
        ax.clear()
        ax.set_xticks([])
        ax.set_yticks([])
        if table is None:
            text = label if chosen is None else f"{label}\njoint action {chosen}, reward {reward:g}"
            ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
            return
        ax.imshow(table, cmap="RdYlGn", vmin=-np.abs(table).max(), vmax=np.abs(table).max())
        for (i, j), v in np.ndenumerate(table):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=11)
        ax.set_xticks(range(table.shape[1]))
        ax.set_yticks(range(table.shape[0]))
        ax.set_xlabel("agent 1's action")
        ax.set_ylabel("agent 0's action")
        if chosen is not None:
            from matplotlib.patches import Rectangle

            ax.add_patch(Rectangle((chosen[1] - 0.5, chosen[0] - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=4))
            label = f"{label}: joint action {chosen} pays {reward:g}"
        ax.set_xlabel(f"agent 1's action\n{label}")
