"""`mafac render`: a tiny trained run replayed into a real GIF, on SMAX and on a matrix game."""

from __future__ import annotations

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


def _frames(path):
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size[0] > 100 and im.size[1] > 100
        return im.n_frames


def test_smax_episode_renders_one_frame_per_state(smax_run, capsys):
    out = smax_run / "ep.gif"
    assert main(["render", str(smax_run), "--out", str(out), "--seed", "3"]) == 0
    said = capsys.readouterr().out
    steps = int(said.split(" in ")[1].split(" steps")[0])
    assert 1 <= steps <= 16 and "checkpoint at 200 env steps" in said
    assert out.stat().st_size > 1000
    assert _frames(out) == steps + 1  # the start, then the state after every step


def test_two_episodes_follow_each_other(smax_run):
    from mafac.rendering import render_run

    result = render_run(smax_run, episodes=2, seed=1, out=smax_run / "two.gif")
    assert len(result.outcomes) == 2 and set(result.outcomes) <= {"won", "lost", "timed out"}
    assert _frames(result.path) == sum(result.lengths) + 2


def test_matrix_game_renders_its_payoff(tmp_path):
    run_dir = tmp_path / "matrix"
    train_run(build_config(algo="vdn", preset="matrix", overrides=["run.t_max=64", "run.test_interval=32"]), run_dir)
    assert main(["render", str(run_dir)]) == 0
    assert _frames(run_dir / "render.gif") == 2  # the table, then the chosen joint action


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
