"""Frames (RGB arrays) to a file. GIF needs only Pillow (a matplotlib dependency); MP4 needs
ffmpeg on PATH, which matplotlib drives, so neither adds a Python dependency."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

from mafac.errors import MafacError

FORMATS = (".gif", ".mp4")


def check_out(path: Path) -> Path:
    """The output path, refused before any episode is played when its format cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise MafacError(f"bad --out {str(path)!r}; the file name must end in one of: {', '.join(FORMATS)}")
    if suffix == ".mp4":
        from matplotlib import animation

        if not animation.writers.is_available("ffmpeg"):
            raise MafacError(f"writing {path.name} needs ffmpeg on PATH (e.g. apt-get install ffmpeg); "
                             f"or write a .gif")
    return path


def write_animation(path: Path, frames: Sequence[np.ndarray], durations_ms: Sequence[int]) -> Path:
    path = check_out(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        _write_gif(path, frames, durations_ms)
    else:
        _write_mp4(path, frames, durations_ms)
    return path


def _write_gif(path: Path, frames: Sequence[np.ndarray], durations_ms: Sequence[int]) -> None:
    from PIL import Image

    from mafac.atomic import write_atomic

    # One adaptive palette per frame, few colours: the pictures are flat shapes, and it keeps a
    # 100-frame episode well under a megabyte.
    images: List[Image.Image] = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
                                 for f in frames]
    write_atomic(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                duration=list(durations_ms), loop=0, optimize=True, disposal=1),
                 binary=True)  # `bench --render` rewrites a run's render.gif: never leave half of one


def _write_mp4(path: Path, frames: Sequence[np.ndarray], durations_ms: Sequence[int]) -> None:
    from matplotlib import animation
    from matplotlib.figure import Figure

    h, w = frames[0].shape[:2]
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    image = ax.imshow(frames[0])
    fps = 1000.0 / float(np.median(durations_ms))
    writer = animation.FFMpegWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=100):
        for frame, ms in zip(frames, durations_ms):
            image.set_data(frame)
            for _ in range(max(1, round(ms * fps / 1000.0))):  # a held frame is repeated
                writer.grab_frame()
