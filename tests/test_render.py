"""`mafac render`: a tiny trained run replayed into a real GIF, on SMAX and on a matrix game; and
SMAX frames that people can read (zoomed, large, unit types labelled) on a real mixed-type episode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mafac.cli import main
from mafac.config import build_config
from mafac.rundir import CHECKPOINT
from mafac.trainer import train_run


@pytest.fixture(scope="module")
def smax_run(tmp_path_factory, tiny_overrides):
    run_dir = tmp_path_factory.mktemp("render") / "qmix3m"
    train_run(build_config(algo="qmix", map_name="3m", overrides=tiny_overrides(**{"run.t_max": 200})), run_dir)
    return run_dir


def _frames(path, min_px=480):
    with Image.open(path) as im:
        assert im.format == "GIF" and min(im.size) >= min_px, im.size
        return im.n_frames


def _gif_size(path):
    with Image.open(path) as im:
        return im.size


def test_smax_episode_renders_one_frame_per_state(smax_run, capsys):
    out = smax_run / "ep.gif"
    assert main(["render", str(smax_run), "--out", str(out), "--seed", "3"]) == 0
    said = capsys.readouterr().out
    steps = int(said.split(" in ")[1].split(" steps")[0])
    assert 1 <= steps <= 16 and "checkpoint at 200 env steps" in said
    assert out.stat().st_size > 1000
    assert _frames(out) == steps + 1  # the start, then the state after every step


@pytest.mark.slow
def test_two_episodes_follow_each_other(smax_run):
    from mafac.rendering import render_run

    result = render_run(smax_run, episodes=2, seed=1, out=smax_run / "two.gif")
    assert len(result.outcomes) == 2 and set(result.outcomes) <= {"won", "lost", "timed out"}
    assert _frames(result.path) == sum(result.lengths) + 2


def test_matrix_game_renders_its_payoff(tmp_path):
    run_dir = tmp_path / "matrix"
    train_run(build_config(algo="vdn", preset="matrix", overrides=["run.t_max=64", "run.test_interval=32"]), run_dir)
    assert main(["render", str(run_dir)]) == 0
    assert _frames(run_dir / "render.gif", min_px=300) == 2  # the table, then the chosen joint action
    assert _gif_size(run_dir / "render.gif") == (336, 384)  # the matrix frames keep their own size


@pytest.mark.parametrize("make, expect", [
    (lambda d: d.mkdir(), CHECKPOINT),
    (lambda d: None, "does not exist"),
])
def test_no_checkpoint_is_one_line(tmp_path, capsys, make, expect):
    run_dir = tmp_path / "run"
    make(run_dir)
    assert main(["render", str(run_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0]


def test_bad_output_format_is_one_line(smax_run, capsys):
    assert main(["render", str(smax_run), "--out", str(smax_run / "x.avi")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and ".gif" in err and ".mp4" in err and "\n" not in err


N_MOVE, EAST = 5, 1


def _focus_fire(avail):
    """Attack the lowest-index enemy in range, else walk east: fights that kill units."""
    scores = np.zeros(avail.shape)
    scores[..., EAST] = 1.0
    scores[..., N_MOVE:] = 2.0 + np.arange(avail.shape[-1] - N_MOVE)[::-1] * 0.01
    return np.where(avail, scores, -1.0).argmax(-1)


def _play_scene(env, seed):
    """One real episode of env 0 with focus fire, played to its end and recorded."""
    from mafac.envs.smax_scene import SMAXScene

    obs = env.reset(seed=seed)
    scene = SMAXScene(env)
    scene.start()
    while True:
        tr = scene.step(_focus_fire(obs.avail_actions))
        obs = tr.next
        if tr.done[0]:
            return scene


# smacv2_5_units: mixed unit types, deaths, shots (the feature tests' shape: its compile is cached);
# 3m: both teams in a band across the map, where only a zoomed camera fills the frame
@pytest.mark.slow
@pytest.mark.parametrize("map_name,n_envs,limit", [("smacv2_5_units", 2, 30), ("3m", 4, 16)])
def test_smax_frames_are_large_zoomed_and_labelled(smax_env, map_name, n_envs, limit):
    from mafac.rendering.play import frame_figure, grab

    scene = _play_scene(smax_env(map_name, n_envs, max_steps=limit), seed=1)
    names = list(scene.sim.unit_type_names)
    fig, ax = frame_figure(scene)
    n_allies = scene.n_allies
    pixels, deaths, shots, types_met = [], 0, 0, set()
    for k, s in enumerate(scene.states):
        scene.draw(ax, k)
        frame = grab(fig)
        assert frame.shape[0] >= 480 and frame.shape[1] >= 480, frame.shape
        alive, types = s.unit_alive, s.unit_types.astype(int)
        types_met |= set(types.tolist())
        px = ax.transData.transform(s.unit_positions[alive])
        box = ax.get_window_extent()
        assert ((px >= [box.x0, box.y0]) & (px <= [box.x1, box.y1])).all(), f"frame {k}: a unit is out of view"
        pixels.append(px)
        # every living unit labelled with its type, and nothing else labelled
        labels = sorted(t.get_text() for t in ax.texts if t.get_gid() == "unit-label")
        assert labels == sorted(scene.labels[t] for t in types[alive]), f"frame {k}"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert {"allies (agents)", "enemies (heuristic)", "dead"} <= set(legend)
        key = [t.get_text() for t in ax.texts if t.get_gid() == "type-legend"]
        assert len(key) == 1 and all(f"{scene.labels[t]} = {names[t]}" in key[0] for t in types)
        # the dead: crosses where they fell
        crosses = [c.get_offsets() for c in ax.collections if c.get_gid() == "dead"]
        if (~alive).any():
            deaths += 1
            assert len(crosses) == 1 and np.allclose(np.sort(crosses[0], 0), np.sort(s.unit_positions[~alive], 0))
        else:
            assert not crosses
        for i, j in scene.shots(k):  # a shot goes from a living unit to a living one of the other team
            assert alive[i] and alive[j] and (i < n_allies) != (j < n_allies)
            shots += 1
    # zoom: over the episode the units span most of the frame along its tighter side ...
    pixels = np.concatenate(pixels)
    span = np.ptp(pixels, 0) / [fig.bbox.width, fig.bbox.height]
    assert span.max() >= 0.6, span
    if map_name == "3m":  # ... where the whole map in view would not (3m's units fill half its width)
        box = ax.get_window_extent()
        whole_map = min(box.width, box.height) / 32.0  # px per map unit with the 32 x 32 map fitted
        assert ax.transData.transform([[1, 0]])[0, 0] - ax.transData.transform([[0, 0]])[0, 0] >= 1.4 * whole_map
    else:  # the checks above met dead units, shots and mixed types
        assert deaths > 0 and shots > 0 and len(types_met) > 1
