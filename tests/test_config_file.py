"""A --config file is read whole: its algo, map, preset and every other key apply unless a flag
or --set names them too, and then the flag wins and says so in one line."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from mafac.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_config_then_train_runs_exactly_the_file(tmp_path):
    """`mafac config ... > f.yaml; mafac train --config f.yaml` runs what f.yaml says, for a
    non-default algo, map, env backend, preset and seed (the old CLI trained QMIX here)."""
    made = invoke("config", "--algo", "vdn", "--env", "matrix", "--map", "two_step", "--preset", "matrix",
                  "--seed", "3", "--steps", "64", "--set", "env.n_envs=4", "--set", "env.test_n_envs=4",
                  "--set", "run.test_interval=32", "--set", "replay.capacity=64",
                  "--set", "learner.batch_size=8", "--set", "learner.start_episodes=8")
    assert made.exit_code == 0, made.output
    cfg_file = tmp_path / "f.yaml"
    cfg_file.write_text(made.stdout)
    data = yaml.safe_load(made.stdout)
    assert (data["algo"], data["env"]["map"], data["env"]["backend"], data["preset"], data["seed"]) == \
        ("vdn", "two_step", "matrix", "matrix", 3)
    run = tmp_path / "run"
    trained = invoke("train", "--config", cfg_file, "--out", run, "--quiet")
    assert trained.exit_code == 0, trained.output
    assert "note:" not in trained.output  # nothing contradicted the file
    assert yaml.safe_load((run / "config.yaml").read_text()) == data


def test_a_flag_that_contradicts_the_file_wins_and_is_said(tmp_path):
    cfg_file = tmp_path / "f.yaml"
    cfg_file.write_text(invoke("config", "--algo", "vdn", "--map", "8m").stdout)
    shown = CliRunner().invoke(cli, ["config", "--config", str(cfg_file), "--algo", "qmix", "--map", "3m",
                                     "--set", "learner.lr=0.002"])
    assert shown.exit_code == 0, shown.output
    data = yaml.safe_load(shown.stdout)
    assert data["algo"] == "qmix" and data["env"]["map"] == "3m" and data["learner"]["lr"] == 0.002
    notes = [line for line in shown.stderr.splitlines() if line.startswith("note:")]
    assert any("--algo qmix overrides algo: vdn" in n for n in notes), shown.stderr
    assert any("--map 3m overrides env.map: 8m" in n for n in notes), shown.stderr
    assert any("learner.lr=0.002 overrides learner.lr: 0.001" in n for n in notes), shown.stderr
    assert len(notes) == 3


def test_another_algos_mixer_section_is_not_applied(tmp_path):
    cfg_file = tmp_path / "f.yaml"
    cfg_file.write_text(invoke("config", "--algo", "qmix", "--set", "mixer.embed_dim=8").stdout)
    shown = CliRunner().invoke(cli, ["config", "--config", str(cfg_file), "--algo", "qatten"])
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.stdout)["algo"] == "qatten"
    assert "mixer section" in shown.stderr and "qmix's" in shown.stderr
    same = CliRunner().invoke(cli, ["config", "--config", str(cfg_file)])
    assert yaml.safe_load(same.stdout)["mixer"]["embed_dim"] == 8
