"""Play a stored run's greedy episodes one at a time and turn them into captioned frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from mafac.errors import MafacError

FRAME_MS = 200  # SMAX steps are 8 world ticks, too fast to follow at video rates
HOLD_MS = 1500  # the last frame of each episode stays up long enough to read its outcome


@dataclass
class Episode:
    frames: List[np.ndarray]
    won: bool
    outcome: str  # won | lost | timed out
    length: int


def frame_figure(scene):
    """The figure and axes a scene's frames are drawn on, sized by the scene."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=scene.figsize, dpi=scene.dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    left, right, bottom, top = scene.margins
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    return fig, ax


def grab(fig) -> np.ndarray:
    """The figure as drawn now: an RGB array [height, width, 3]."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def play_episodes(run, episodes: int, seed: int) -> List[Episode]:
    """`episodes` greedy episodes of env 0, episode k seeded `seed + k`, each drawn as it ended."""
    from mafac.runner import Runner

    cfg, env = run.cfg, run.env
    runner = Runner(env, run.agent, cfg.agent, None, seed=seed)
    scene = env.scene()
    fig, ax = frame_figure(scene)
    out = []
    for k in range(episodes):
        runner.reset(seed + k)
        scene.start()
        done, won, truncated, steps = False, False, False, 0
        while not done:
            actions = runner.act(0.0)
            tr = scene.step(actions.numpy())
            runner.advance(actions, tr)
            done, won, truncated = bool(tr.done[0]), bool(tr.battle_won[0]), bool(tr.truncated[0])
            steps += 1
        outcome = "won" if won else "timed out" if truncated else "lost"
        frames = []
        for t in range(scene.n_frames):
            scene.draw(ax, t)
            ax.set_title(f"{cfg.env.map} | {cfg.algo} | checkpoint at {run.env_steps:,} env steps\n"
                         f"episode {k + 1}/{episodes}: {outcome} | step {t}/{steps}", fontsize=9)
            frames.append(grab(fig))
        out.append(Episode(frames, won, outcome, steps))
    return out


def render_run(run_dir: Path, episodes: int = 1, seed: int = 0, out: Optional[Path] = None) -> "RenderResult":
    """Replay `episodes` greedy episodes of a run's checkpoint into one animation (default
    <run_dir>/render.gif). The env runs on the CPU whatever run.device the run trained with."""
    from mafac.evaluation import open_run
    from mafac.rendering.animation import check_out, write_animation

    if episodes <= 0:
        raise MafacError(f"bad value {episodes!r} for --episodes; it must be > 0")
    out = check_out(Path(out) if out is not None else Path(run_dir) / "render.gif")
    run = open_run(Path(run_dir), 1, seed)
    try:
        played = play_episodes(run, episodes, seed)
    finally:
        run.env.close()
    frames, durations = [], []
    for ep in played:
        frames += ep.frames
        durations += [FRAME_MS] * (len(ep.frames) - 1) + [HOLD_MS]
    path = write_animation(out, frames, durations)
    return RenderResult(path, [ep.outcome for ep in played], [ep.length for ep in played], run.env_steps)


@dataclass
class RenderResult:
    path: Path
    outcomes: List[str]
    lengths: List[int]
    env_steps: int
