"""The Trainer: one algorithm, one map, one seed, from config to run directory (`mafac train`).

`mafac bench` runs every grid cell through `train_run` too, so a bench run and a train run are the
same code. A run directory that already holds a checkpoint is resumed from it, exactly.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

import numpy as np
import torch

from mafac.version import __version__
from mafac.agent import EpsilonSchedule, build_agent
from mafac.atomic import write_text
from mafac.checkpoint import load_checkpoint, save_checkpoint, to_plain
from mafac import finals
from mafac.config import Config
from mafac.device import resolve_device
from mafac.envs import make_env, simulator, warn_if_made_with_another_simulator
from mafac.errors import MafacError, describe, first_line
from mafac.learner import LEARNER_STATS
from mafac.online import make_learner
from mafac.mixers import get_mixer
from mafac.replay import EpisodeBuffer
from mafac.rundir import (CHECKPOINT, CONFIG_YAML, ERROR_TXT, METRIC_COLUMNS, METRICS_CSV, STATUS_DONE,
                          STATUS_FAILED, STATUS_RUNNING, RunInfo, metric_columns)
from mafac.runner import Runner
from mafac.seeding import RunSeeds

if TYPE_CHECKING:
    from mafac.live_log import LiveLog


@dataclass
class Progress:
    """What a progress display (tqdm here, a status line in a bench) is told after each step."""

    env_steps: int
    t_max: int
    episodes: int
    epsilon: float
    test_win_rate: Optional[float]
    loss: Optional[float]
    wall_s: float


def write_metrics(path: Path, rows: List[Dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=metric_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in writer.fieldnames})
    write_text(path, buf.getvalue())


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    return v


class Trainer:
    """Holds the parts of one run and the loop that drives them."""

    def __init__(self, cfg: Config, run_dir: Path, bench: Optional[str] = None) -> None:
        """`bench`: the name of the bench this run is a cell of, if any (W&B groups by it)."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.bench = bench
        torch.set_num_threads(cfg.run.torch_threads)
        self.seeds = seeds = RunSeeds(cfg.seed)  # every random stream, independent (mafac/seeding.py)
        torch.manual_seed(seeds.network_init)
        np.random.seed(seeds.numpy_global)
        random.seed(seeds.numpy_global)
        e = cfg.env
        self.env = make_env(e.backend, e.map, e.n_envs, seeds.train_env, e.kwargs)
        self.test_env = make_env(e.backend, e.map, e.test_n_envs, seeds.test_env, e.kwargs)
        self.info = info = self.env.info
        self.device = resolve_device(cfg.run.device)
        self.agent = build_agent(info, cfg.agent).to(self.device)
        self.mixer = get_mixer(cfg.algo)(info, cfg.mixer, cfg.agent.hidden_dim)
        self.learner = make_learner(info, cfg, self.agent, self.mixer, self.device, seeds.minibatches)
        self.buffer = EpisodeBuffer(info, self.learner.buffer_capacity(cfg), cfg.replay.obs_dtype, seed=seeds.replay,
                                    device=self.device)
        self.runner = Runner(self.env, self.agent, cfg.agent, self.buffer, seed=seeds.exploration)
        self.test_runner = Runner(self.test_env, self.agent, cfg.agent, None, seed=seeds.test_exploration)
        x = cfg.exploration
        self.schedule = EpsilonSchedule(x.epsilon_start, x.epsilon_finish, x.epsilon_anneal_steps)
        # counters and accumulators, all part of the checkpoint
        self.env_steps = 0
        self.episodes = 0
        self.since_train = 0
        self.evaluations = 0
        self.rows: List[Dict[str, float]] = []
        self.window: Dict[str, list] = {"loss": [], "td_loss": [], "grad_norm": [], "ret": [], "won": [], "aborted": []}
        self.terms: Dict[str, list] = {}  # each loss term's values since the last row, by name
        self.wall_offset = 0.0
        self._wall: Callable[[], float] = lambda: self.wall_offset  # a clock once run() starts
        self.shards: List[Dict[str, int]] = []
        self.on_record: Optional[Callable[[], None]] = None
        self.live_logs: Optional[List["LiveLog"]] = None  # TensorBoard, W&B: opened by run(), after a resume's load()

    # -- the loop ------------------------------------------------------------------------------
    def epsilon(self) -> float:
        return 1.0 if self.cfg.exploration.uniform else self.schedule(self.env_steps)

    def run(self, progress: Optional[Callable[[Progress], None]] = None,
            on_record: Optional[Callable[[], None]] = None) -> List[Dict[str, float]]:
        """Train to run.t_max. `on_record()` runs after each evaluation's files (metrics, checkpoint,
        run.json) are written: the moment the run dir is a consistent point to copy elsewhere."""
        self.on_record = on_record
        cfg = self.cfg
        if self.live_logs is None:
            self.live_logs = open_live_logs(cfg, self.run_dir, resume_from_steps=self.env_steps, bench=self.bench)
        start = time.monotonic() - self.wall_offset
        self._wall = lambda: time.monotonic() - start
        if self.evaluations == 0:
            self.runner.reset()
            self.test_and_record()
        while self.env_steps < cfg.run.t_max:
            fin = self.runner.step(self.epsilon())
            self.env_steps += self.env.n_envs
            if fin.count:
                self.episodes += fin.count
                self.since_train += fin.count
                kept = ~fin.aborted
                self.window["ret"] += fin.returns[kept].tolist()
                self.window["won"] += fin.won[kept].tolist()
                self.window["aborted"] += fin.aborted[fin.aborted].tolist()
                self.since_train, updates = self.learner.train_due(self.buffer, self.since_train, self.episodes,
                                                                   self.env_steps)
                for stats in updates:
                    for k in ("loss", "td_loss", "grad_norm"):
                        self.window[k].append(stats[k])
                    for k in stats:
                        if k not in LEARNER_STATS:
                            self.terms.setdefault(k, []).append(stats[k])
                    for log in self.live_logs:
                        log.update(stats, self.env_steps)
            if self.env_steps >= self.evaluations * cfg.run.test_interval or self.env_steps >= cfg.run.t_max:
                self.test_and_record()
            if progress is not None:
                last = self.rows[-1] if self.rows else {}
                progress(Progress(self.env_steps, cfg.run.t_max, self.episodes, self.epsilon(),
                                  last.get("test_win_rate"), last.get("loss"), self._wall()))
        self.final_evaluation()
        return self.rows

    def final_evaluation(self) -> Optional[Dict[str, object]]:
        """run.final_episodes greedy episodes of the final policy into final_eval.json (mafac/finals.py);
        kept when one of this size at these env steps is already there (a resumed, finished run)."""
        n = self.cfg.run.final_episodes
        if n <= 0:
            return None
        return finals.evaluate(self.run_dir, self.test_runner, self.cfg.seed, n, self.env_steps,
                               self.cfg.env.test_n_envs)

    def test_and_record(self) -> None:
        """Greedy test episodes, then one metrics row, a checkpoint and run.json: every evaluation
        is a point the run can resume from."""
        result = self.test_runner.play_greedy(seed=self.seeds.test_episodes(self.evaluations)).summary()
        w = self.window
        mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
        row = {
            "env_steps": self.env_steps, "episodes": self.episodes,
            "test_win_rate": result["test_win_rate"], "test_return": result["test_return"],
            "loss": mean(w["loss"]), "epsilon": self.epsilon(), "wall_s": round(self._wall(), 2),
            "train_return": mean(w["ret"]), "train_win_rate": mean(w["won"]),
            "td_loss": mean(w["td_loss"]), "grad_norm": mean(w["grad_norm"]), "updates": self.learner.updates,
            "train_aborted": len(w["aborted"]), "test_aborted": result["test_aborted"],
            **{k: mean(v) for k, v in self.terms.items()},
        }
        self.rows.append(row)
        for log in self.live_logs or ():
            log.record(row)
        for v in list(w.values()) + list(self.terms.values()):
            v.clear()
        self.evaluations += 1
        write_metrics(self.run_dir / METRICS_CSV, self.rows)
        if self.cfg.run.checkpoint:
            self.save()
        run_info(self.cfg, self.env_steps).save(self.run_dir)
        if self.on_record is not None:
            self.on_record()

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_state(self) -> Dict[str, object]:
        """Everything a resumed run needs, as plain data (tensors, numbers, strings, containers)."""
        return to_plain({
            "learner": self.learner.state_dict(), "runner": self.runner.state_dict(),
            "env_steps": self.env_steps, "episodes": self.episodes, "since_train": self.since_train,
            "evaluations": self.evaluations, "rows": self.rows, "wall_s": float(self._wall()),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
            "config": self.cfg.to_dict(), "mafac_version": __version__,
            "simulator_version": simulator(self.cfg.env.backend)[1],
        })

    def save(self) -> None:
        self.shards = save_checkpoint(self.run_dir, self.checkpoint_state(), self.buffer, self.shards)

    def load(self) -> None:
        # The template a checkpoint is checked against: what this trainer would save right now
        # (the runner reset first, so that its current episode has its real shapes).
        self.runner.reset()
        template = self.checkpoint_state()
        shapes = [list(p.shape) for p in self.learner.params]
        state = load_checkpoint(self.run_dir, self.buffer, template, shapes)
        try:
            self.learner.load_state_dict(state["learner"])
        except (RuntimeError, ValueError, KeyError) as e:  # torch's own checks, e.g. optimizer groups
            raise MafacError(f"{self.run_dir / CHECKPOINT}: bad checkpoint: learner: {first_line(e)}")
        self.runner.load_state_dict(state["runner"])
        self.env_steps, self.episodes = state["env_steps"], state["episodes"]
        self.since_train, self.evaluations = state["since_train"], state["evaluations"]
        self.rows, self.wall_offset = state["rows"], state["wall_s"]
        self.terms = {k: [] for k in metric_columns(self.rows)[len(METRIC_COLUMNS):]}
        self.shards = state["replay_shards"]
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])

    def close(self, failed: bool = False) -> None:
        """`failed`: the run ended with an error (a live log that keeps a run status says so)."""
        self.env.close()
        self.test_env.close()
        for log in self.live_logs or ():
            log.close(failed)
        self.live_logs = None


def open_live_logs(cfg: Config, run_dir: Path, resume_from_steps: int = 0,
                   bench: Optional[str] = None) -> List["LiveLog"]:
    """The live logs `cfg.run` asks for (mafac/live_log.py), opened on `run_dir` (a resumed run:
    from its checkpoint's env steps). `bench`: the bench the run belongs to (W&B groups by it)."""
    logs: List["LiveLog"] = []
    try:
        if cfg.run.tensorboard:
            from mafac.tensorboard_log import TensorBoardLog

            logs.append(TensorBoardLog(run_dir, resume_from_steps=resume_from_steps))
        if cfg.run.wandb:
            from mafac.wandb_log import WandbLog

            logs.append(WandbLog(run_dir, cfg, group=bench))
    except BaseException:
        for log in logs:
            log.close(failed=True)
        raise
    return logs


def run_info(cfg: Config, env_steps: int) -> RunInfo:
    """A running run's run.json, its simulator and version included."""
    name, version = simulator(cfg.env.backend)
    return RunInfo(cfg.algo, cfg.env.map, cfg.env.backend, cfg.seed, STATUS_RUNNING, env_steps, cfg.run.t_max, None,
                   __version__, name, version)


def train_run(cfg: Config, run_dir: Path, progress: Optional[Callable[[Progress], None]] = None,
              on_record: Optional[Callable[[], None]] = None, bench: Optional[str] = None) -> List[Dict[str, float]]:
    """Train (or resume) one run in `run_dir`; records success or failure in run.json. `bench`: the
    bench it is a cell of (its live logs say so)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / CONFIG_YAML, cfg.to_yaml())
    info = run_info(cfg, 0)
    trainer, failed = None, False
    try:
        if (run_dir / CHECKPOINT).exists():
            warn_if_made_with_another_simulator(run_dir, cfg.env.backend)
        trainer = Trainer(cfg, run_dir, bench=bench)
        if (run_dir / CHECKPOINT).exists():
            trainer.load()
        info.save(run_dir)
        rows = trainer.run(progress, on_record)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise  # interrupted, not failed: the checkpoint lets it resume
        failed = True
        info.status, info.error = STATUS_FAILED, describe(e)
        info.env_steps = trainer.env_steps if trainer is not None else 0
        write_text(run_dir / ERROR_TXT, traceback.format_exc())
        info.save(run_dir)
        raise
    finally:
        if trainer is not None:
            trainer.close(failed)
    info.status, info.env_steps = STATUS_DONE, trainer.env_steps
    info.save(run_dir)
    return rows
