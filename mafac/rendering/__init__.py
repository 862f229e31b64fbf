"""`mafac render`: replay a trained run's greedy episodes as an animation (GIF, or MP4 with ffmpeg).

Each env backend draws its own frames (SMAX as a battle view zoomed to the units, types labelled;
matrix games as a payoff table); `play` drives the episodes and captions every frame with what a
reader needs to trust the picture: map, algorithm, the checkpoint's env steps, and how the
episode ended.
"""

from mafac.rendering.play import render_run

__all__ = ["render_run"]
