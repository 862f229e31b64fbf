"""The sweep driver: an Optuna study (ask/tell) whose every trial is one resumable bench.

Why a bench per trial, run as its own `mafac bench` process: it is exactly what a user would run
by hand with the trial's `--set`s, it takes the bench's lock, it runs on any bench executor, and a
sweep killed at any moment (kill -9 included) leaves a trial that the next invocation resumes
from its runs' checkpoints. The study lives in SQLite, so a rerun knows which trials finished
(never repeated), which one was running (resumed, same parameters) and how many are missing.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import click

from mafac.errors import MafacError
from mafac.sweep.objective import Objective, parse_objective
from mafac.sweep.space import Space, load_space

STUDY_DB = "study.db"
TRIALS_DIR = "trials"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")


@dataclass
class SweepSpec:
    """Everything `mafac sweep` was told. The first block is the bench each trial runs; `identity()`
    is what a rerun must agree with (the budget, trial count and workers may change)."""

    name: str
    space_file: str
    trials: int
    algos: List[str]
    maps: List[str]
    seeds: List[int]
    steps: Optional[int] = None
    preset: Optional[str] = None
    env: Optional[str] = None
    config_file: Optional[str] = None
    overrides: List[str] = field(default_factory=list)
    objective: str = "final"
    sampler: str = "tpe"
    pruner: str = "median"
    sampler_seed: int = 0
    workers: int = 1
    executor: str = "local"
    address: Optional[str] = None
    memory: Optional[str] = None
    out_root: str = "results"
    budget_s: Optional[float] = None
    force: bool = False
    poll_s: float = 2.0

    @property
    def root(self) -> Path:
        return Path(self.out_root) / self.name

    def identity(self, space: Space) -> Dict[str, object]:
        keys = ("algos", "maps", "seeds", "steps", "preset", "env", "config_file", "overrides", "objective", "sampler")
        out = {k: getattr(self, k) for k in keys}
        out["space"] = space.as_dict()
        return out


def _settings(params: Dict[str, object]) -> List[str]:
    from mafac.api import _settings as as_sets

    return as_sets((), params)


def _check_factory(spec: SweepSpec):
    """check(key, value): build each grid cell's config with the value, as its trial would."""
    from mafac.bench.spec import expand

    jobs = expand(spec.algos, spec.maps, spec.seeds[:1], spec.steps, spec.root, spec.overrides, spec.config_file,
                  spec.preset, spec.env)

    def check(key: str, value: object) -> None:
        for job in jobs:
            job.overrides = list(spec.overrides) + _settings({key: value})
            job.config()

    return check


def _pdeathsig() -> None:  # pragma: no cover - runs in the child
    """The trial's bench dies with the sweep (kill -9 included); its workers then notice their
    bench is gone and stop, leaving their runs resumable."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Sweep:
    def __init__(self, spec: SweepSpec) -> None:
        if spec.trials <= 0:
            raise MafacError(f"bad --trials {spec.trials!r}; it must be >= 1")
        if spec.sampler not in SAMPLERS:
            raise MafacError(f"unknown sampler {spec.sampler!r}; valid choices: {', '.join(SAMPLERS)}")
        if spec.pruner not in PRUNERS:
            raise MafacError(f"unknown pruner {spec.pruner!r}; valid choices: {', '.join(PRUNERS)}")
        self.spec = spec
        self.objective: Objective = parse_objective(spec.objective)
        self.space: Space = load_space(spec.space_file, _check_factory(spec))
        if spec.sampler == "grid":
            self.space.grid()  # every key a list of choices, or one line now

    # -- the study -------------------------------------------------------------------------------
    def _sampler(self):
        import optuna

        if self.spec.sampler == "grid":
            return optuna.samplers.GridSampler(self.space.grid(), seed=self.spec.sampler_seed)
        if self.spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=self.spec.sampler_seed)
        return optuna.samplers.TPESampler(seed=self.spec.sampler_seed, n_startup_trials=min(10, max(2, self.spec.trials // 4)))

    def _pruner(self):
        import optuna

        if self.spec.pruner == "median":  # from the 3rd trial on, past the first quarter of a run
            return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0, interval_steps=1)
        if self.spec.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource="auto", reduction_factor=3)
        return optuna.pruners.NopPruner()

    def open_study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        root = self.spec.root
        db = root / STUDY_DB
        identity = self.spec.identity(self.space)
        if db.exists():
            study = optuna.load_study(study_name=self.spec.name, storage=f"sqlite:///{db}", sampler=self._sampler(),
                                      pruner=self._pruner())
            old = study.user_attrs.get("identity")
            if old != json.loads(json.dumps(identity)):
                diffs = [k for k in identity if (old or {}).get(k) != json.loads(json.dumps(identity[k]))]
                if not self.spec.force:
                    raise MafacError(f"{root} holds a different sweep ({', '.join(diffs) or 'unknown'} differ); "
                                     f"use another --name, or --force to replace it")
                db.unlink()
                import shutil

                shutil.rmtree(root / TRIALS_DIR, ignore_errors=True)
            else:
                return study
        root.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(study_name=self.spec.name, storage=f"sqlite:///{db}", sampler=self._sampler(),
                                    pruner=self._pruner(), direction=self.objective.direction)
        study.set_user_attr("identity", json.loads(json.dumps(identity)))
        study.set_user_attr("objective", {"name": self.objective.name, "definition": self.objective.describe()})
        return study

    def target_trials(self) -> int:
        if self.spec.sampler == "grid":
            return min(self.spec.trials, self.space.grid_size())
        return self.spec.trials

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> int:
        """Run (or continue) the study to --trials; returns the number of failed trials."""
        import optuna
        from optuna.trial import TrialState

        from mafac.bench.lock import BenchLock

        started = time.monotonic()
        with BenchLock(self.spec.root):
            study = self.open_study()
            target = self.target_trials()
            done = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
            running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
            click.echo(f"mafac sweep {self.spec.name}: {len(done)} of {target} trials finished, "
                       f"{len(running)} to resume; objective {self.objective.name}: {self.objective.describe()}", err=True)
            failed = 0
            for frozen in running:
                failed += self._run_trial(study, optuna.trial.Trial(study, frozen._trial_id), resumed=True)
            while len(study.get_trials(deepcopy=False)) < target:
                if self.spec.budget_s is not None and time.monotonic() - started > self.spec.budget_s:
                    click.echo(f"sweep {self.spec.name}: the --budget of {self.spec.budget_s / 3600:.2f} h is spent; "
                               f"rerun to continue", err=True)
                    break
                trial = study.ask(self.space.distributions())
                failed += self._run_trial(study, trial, resumed=False)
            from mafac.sweep.report import write_report

            click.echo(write_report(self.spec.root, study), nl=False)
        return failed

    def _bench_command(self, tname: str, params: Dict[str, object]) -> List[str]:
        s = self.spec
        cmd = [sys.executable, "-m", "mafac", "bench", "--algos", ",".join(s.algos), "--maps", ",".join(s.maps),
               "--seeds", ",".join(map(str, s.seeds)) + ",", "--workers", str(s.workers), "--executor", s.executor,
               "--name", tname, "--out-root", str(s.root / TRIALS_DIR)]
        for flag, value in (("--steps", s.steps), ("--address", s.address), ("--preset", s.preset),
                            ("--env", s.env), ("--config", s.config_file), ("--memory", s.memory)):
            if value is not None:
                cmd += [flag, str(value)]
        for setting in list(s.overrides) + _settings(params):
            cmd += ["--set", setting]
        return cmd

    def _frames(self, tdir: Path) -> List[Tuple[str, object]]:
        import pandas as pd

        from mafac.rundir import METRICS_CSV, RUNS_DIR, run_name

        out = []
        for m in self.spec.maps:
            for a in self.spec.algos:
                for seed in self.spec.seeds:
                    name = run_name(a, m, seed)
                    path = tdir / RUNS_DIR / name / METRICS_CSV
                    try:
                        out.append((name, pd.read_csv(path)))
                    except (OSError, ValueError):
                        return []  # a run not started yet: no evaluation is common to all runs
        return out

    def _run_trial(self, study, trial, resumed: bool) -> int:
        """Run one trial's bench to its end, or until pruned; tell the study. 1 if it failed."""
        from optuna.trial import TrialState

        tname = f"t{trial.number:03d}"
        tdir = self.spec.root / TRIALS_DIR / tname
        params = trial.params
        attrs = study._storage.get_trial(trial._trial_id).user_attrs
        if "dir" not in attrs:  # set once: some SQLAlchemy/SQLite versions fail Optuna's upsert of a key
            trial.set_user_attr("dir", str(Path(TRIALS_DIR) / tname))
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        click.echo(f"trial {trial.number} {'(resumed) ' if resumed else ''}: {shown}", err=True)
        tdir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        reported = set(study._storage.get_trial(trial._trial_id).intermediate_values)
        log = open(tdir / "bench.log", "a", encoding="utf-8")
        proc = subprocess.Popen(self._bench_command(tname, params), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig if sys.platform == "linux" else None)
        pruned_at = None
        try:
            while proc.poll() is None:
                time.sleep(self.spec.poll_s)
                pruned_at = self._report(trial, tdir, reported)
                if pruned_at is not None:
                    self._stop(proc)
                    break
            proc.wait()
        except BaseException:
            self._stop(proc)
            raise
        finally:
            log.close()
        # one key per session of this trial (never rewritten, see above); their sum is its cost
        sessions = sorted(k for k in attrs if k.startswith("wall_s_"))
        trial.set_user_attr(f"wall_s_{len(sessions)}", round(time.monotonic() - start, 1))
        wall = time.monotonic() - start + sum(float(attrs[k]) for k in sessions)
        if pruned_at is not None:
            trial.set_user_attr("pruned_at", pruned_at)
            _tell(study, trial.number, state=TrialState.PRUNED)
            click.echo(f"trial {trial.number}: pruned at {pruned_at:,} env steps ({wall:.0f} s)", err=True)
            return 0
        if proc.returncode != 0:
            reason = _failure(tdir, proc.returncode)
            trial.set_user_attr("error", reason)
            _tell(study, trial.number, state=TrialState.FAIL)
            click.echo(f"trial {trial.number}: failed: {reason}", err=True)
            return 1
        self._report(trial, tdir, reported)
        try:
            scored = self._score(tdir)
        except MafacError as e:
            trial.set_user_attr("error", str(e))
            _tell(study, trial.number, state=TrialState.FAIL)
            click.echo(f"trial {trial.number}: failed: {e}", err=True)
            return 1
        for k, v in scored.items():
            if k != "value":
                trial.set_user_attr(k, v)
        _tell(study, trial.number, scored["value"])
        click.echo(f"trial {trial.number}: {self.objective.name} = {scored['value']:.4g} over {scored['runs']} runs, "
                   f"{scored['episodes']:,} greedy episodes ({wall:.0f} s)", err=True)
        return 0

    def _report(self, trial, tdir: Path, reported: set) -> Optional[int]:
        """Report new intermediate values; the env steps at which to prune, or None."""
        frames = self._frames(tdir)
        latest = None
        for step, value in self.objective.intermediate(frames):
            if step not in reported:
                trial.report(value, step)
                reported.add(step)
                latest = step
        if latest is not None and self.spec.pruner != "none" and trial.should_prune():
            return latest
        return None

    def _score(self, tdir: Path) -> Dict[str, object]:
        from mafac.config import load_yaml
        from mafac.rundir import CONFIG_YAML, RUNS_DIR

        frames = self._frames(tdir)
        if not frames:
            raise MafacError(f"{tdir}: no metrics to score")
        t_max, per_eval = {}, {}
        for name, _ in frames:
            cfg = load_yaml(tdir / RUNS_DIR / name / CONFIG_YAML)
            t_max[name], per_eval[name] = int(cfg["run"]["t_max"]), int(cfg["env"]["test_n_envs"])
        return self.objective.trial_value(frames, t_max, per_eval)

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        """Stop a trial's bench as Ctrl-C would (its runs stay resumable); kill it if it lingers."""
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tell(study, number: int, value=None, state=None) -> None:
    """study.tell, outside optimize(): the grid sampler's after_trial calls study.stop() once the
    grid is done, which Optuna refuses outside optimize() after the trial is already stored."""
    try:
        study.tell(number, value, state=state)
    except RuntimeError as e:
        if "Study.stop" not in str(e):
            raise


def _failure(tdir: Path, code: int) -> str:
    """Why a trial's bench failed: its failed runs' recorded errors, else its last output line."""
    from mafac.rundir import SUMMARY_JSON

    try:
        runs = json.loads((tdir / SUMMARY_JSON).read_text())["runs"]
        errors = [f"{k}: {r.get('error')}" for k, r in runs.items() if r.get("status") != "done"]
        if errors:
            return "; ".join(errors)[:500]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        lines = [ln.strip() for ln in (tdir / "bench.log").read_text(errors="replace").replace("\r", "\n").splitlines()]
        last = [ln for ln in lines if ln][-1]
    except (OSError, IndexError):
        last = "no output"
    return f"mafac bench exited {code}: {last}"[:500]


def open_stored(root) -> object:
    """A stored sweep's study, read-only use (`mafac sweep --show`)."""
    import optuna

    db = Path(root) / STUDY_DB
    if not db.exists():
        raise MafacError(f"{root}: no sweep here ({STUDY_DB} not found)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage=f"sqlite:///{db}")
        return optuna.load_study(study_name=names[0], storage=f"sqlite:///{db}")
    except Exception as e:
        raise MafacError(f"{db}: not a readable Optuna study ({type(e).__name__}: {str(e).splitlines()[0]})")


warnings.filterwarnings("ignore", message=".*is experimental.*")
