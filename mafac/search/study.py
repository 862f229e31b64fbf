"""The sweep driver: an Optuna study (ask/tell) whose every trial is one resumable bench.

Why a bench per trial, each in its own process (`python -m mafac.benchmark <trial>/bench.json`, the
trial's `Bench` whole and typed): it is exactly the bench a user would run with the trial's
settings, it takes the bench's lock, it runs on any bench executor, and a sweep killed at any
moment (kill -9 included) leaves a trial that the next invocation resumes from its runs'
checkpoints. The study lives in SQLite, so a rerun knows which trials finished
(never repeated), which one was running (resumed, same parameters) and how many are missing.
"""

from __future__ import annotations

import ctypes
import json
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from mafac import log as logs
from mafac.atomic import write_json
from mafac.benchmark.spec import Bench
from mafac.errors import MafacError
from mafac.search.objective import Objective, parse_objective
from mafac.search.space import Space, load_space

STUDY_DB = "study.db"
TRIALS_DIR = "trials"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
TRIAL_JSON = "bench.json"

log = logs.get("sweep")


@dataclass
class Search:
    """A sweep: the base bench every trial runs (its grid, config source and execution), and the
    search's own settings. `identity()` is what a rerun must agree with (the budget, trial count,
    workers and executor may change)."""

    bench: Bench
    space_file: str
    trials: int
    objective: str = "final"
    sampler: str = "tpe"
    pruner: str = "median"
    sampler_seed: int = 0
    budget_s: Optional[float] = None
    poll_s: float = 2.0

    def __post_init__(self) -> None:
        if self.trials <= 0:
            raise MafacError(f"bad --trials {self.trials!r}; it must be >= 1")
        if self.sampler not in SAMPLERS:
            raise MafacError(f"unknown sampler {self.sampler!r}; valid choices: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise MafacError(f"unknown pruner {self.pruner!r}; valid choices: {', '.join(PRUNERS)}")
        self.goal: Objective = parse_objective(self.objective)
        self.space: Space = load_space(self.space_file, _checker(self.bench))
        if self.sampler == "grid":
            self.space.grid()  # every key a list of choices, or one line now

    @property
    def root(self) -> Path:
        return self.bench.root

    def identity(self) -> Dict[str, object]:
        b, src = self.bench, self.bench.source
        out = {"algos": b.algos, "maps": b.maps, "seeds": b.seeds, "steps": b.steps, "preset": src.preset,
               "env": src.backend, "config_file": src.config_file, "overrides": src.overrides,
               "objective": self.objective, "sampler": self.sampler, "space": self.space.as_dict()}
        if src.settings:  # absent when empty, as in a bench's manifest
            out["settings"] = src.settings
        return out

    def trials_frame(self):
        from mafac.search.report import trials_frame

        return trials_frame(self.open_study())

    # -- the study -------------------------------------------------------------------------------
    def _sampler(self):
        import optuna

        if self.sampler == "grid":
            return optuna.samplers.GridSampler(self.space.grid(), seed=self.sampler_seed)
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=self.sampler_seed)
        return optuna.samplers.TPESampler(seed=self.sampler_seed, n_startup_trials=min(10, max(2, self.trials // 4)))

    def _pruner(self):
        import optuna

        # Early evaluations (32 episodes, near 0 for every setting) say little: no trial is pruned
        # before a third of its budget, nor before two trials have finished.
        warmup = min(self.bench.steps_by_map().values()) // 3
        if self.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup, interval_steps=1)
        if self.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, warmup), reduction_factor=3)
        return optuna.pruners.NopPruner()

    def open_study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        root = self.root
        db = root / STUDY_DB
        identity = self.identity()
        if db.exists():
            study = optuna.load_study(study_name=self.bench.name, storage=f"sqlite:///{db}", sampler=self._sampler(),
                                      pruner=self._pruner())
            old = study.user_attrs.get("identity")
            if old != json.loads(json.dumps(identity)):
                diffs = [k for k in identity if (old or {}).get(k) != json.loads(json.dumps(identity[k]))]
                if not self.bench.force:
                    raise MafacError(f"{root} holds a different sweep ({', '.join(diffs) or 'unknown'} differ); "
                                     f"use another --name, or --force to replace it")
                db.unlink()
                import shutil

                shutil.rmtree(root / TRIALS_DIR, ignore_errors=True)
            else:
                return study
        root.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(study_name=self.bench.name, storage=f"sqlite:///{db}", sampler=self._sampler(),
                                    pruner=self._pruner(), direction=self.goal.direction)
        study.set_user_attr("identity", json.loads(json.dumps(identity)))
        study.set_user_attr("objective", {"name": self.goal.name, "definition": self.goal.describe()})
        return study

    def target_trials(self) -> int:
        if self.sampler == "grid":
            return min(self.trials, self.space.grid_size())
        return self.trials

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> Tuple[int, str]:
        """Run (or continue) the study to --trials; returns the number of failed trials and the
        report's text (report.md's)."""
        import optuna
        from optuna.trial import TrialState

        from mafac.benchmark.lock import BenchLock

        started = time.monotonic()
        with BenchLock(self.root):
            study = self.open_study()
            target = self.target_trials()
            done = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
            running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
            log.info(f"mafac sweep {self.bench.name}: {len(done)} of {target} trials finished, "
                     f"{len(running)} to resume; objective {self.goal.name}: {self.goal.describe()}")
            failed = 0
            for frozen in running:
                failed += self._run_trial(study, optuna.trial.Trial(study, frozen._trial_id), resumed=True)
            while len(study.get_trials(deepcopy=False)) < target:
                if self.budget_s is not None and time.monotonic() - started > self.budget_s:
                    log.info(f"sweep {self.bench.name}: the --budget of {self.budget_s / 3600:.2f} h is spent; "
                             f"rerun to continue")
                    break
                trial = study.ask(self.space.distributions())
                failed += self._run_trial(study, trial, resumed=False)
            from mafac.search.report import write_report

            return failed, write_report(self.root, study)

    def _bench_command(self, tdir: Path, params: Dict[str, object]) -> List[str]:
        """The trial's bench, whole and typed, as JSON for `python -m mafac.benchmark` (what `mafac
        bench` with the trial's --sets would run, without a round trip through text), with its runs'
        W&B group `<sweep>/<trial>` (trial names repeat from one sweep to the next)."""
        trial = self.bench.variant(tdir.name, tdir.parent, params)
        write_json(tdir / TRIAL_JSON, {"bench": trial.to_dict(), "group": f"{self.bench.name}/{tdir.name}"})
        return [sys.executable, "-m", "mafac.benchmark", str(tdir / TRIAL_JSON)]

    def _frames(self, tdir: Path) -> List[Tuple[str, object]]:
        import pandas as pd

        from mafac.rundir import METRICS_CSV

        out = []
        for job in self.bench.variant(tdir.name, tdir.parent, {}).jobs():  # the trial's runs, where its bench puts them
            try:
                out.append((job.name, pd.read_csv(Path(job.run_dir) / METRICS_CSV)))
            except (OSError, ValueError):
                return []  # a run not started yet: no evaluation is common to all runs
        return out

    def _run_trial(self, study, trial, resumed: bool) -> int:
        """Run one trial's bench to its end, or until pruned; tell the study. 1 if it failed."""
        from optuna.trial import TrialState

        tname = f"t{trial.number:03d}"
        tdir = self.root / TRIALS_DIR / tname
        params = trial.params
        attrs = study._storage.get_trial(trial._trial_id).user_attrs
        if "dir" not in attrs:  # set once: some SQLAlchemy/SQLite versions fail Optuna's upsert of a key
            trial.set_user_attr("dir", str(Path(TRIALS_DIR) / tname))
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        log.info(f"trial {trial.number} {'(resumed) ' if resumed else ''}: {shown}")
        tdir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        reported = set(study._storage.get_trial(trial._trial_id).intermediate_values)
        output = open(tdir / "bench.log", "a", encoding="utf-8")
        proc = subprocess.Popen(self._bench_command(tdir, params), stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig if sys.platform == "linux" else None)
        pruned_at = None
        try:
            while proc.poll() is None:
                time.sleep(self.poll_s)
                pruned_at = self._report(trial, tdir, reported)
                if pruned_at is not None:
                    self._stop(proc)
                    break
            proc.wait()
        except BaseException:
            self._stop(proc)
            raise
        finally:
            output.close()
        # one key per session of this trial (never rewritten, see above); their sum is its cost
        sessions = sorted(k for k in attrs if k.startswith("wall_s_"))
        trial.set_user_attr(f"wall_s_{len(sessions)}", round(time.monotonic() - start, 1))
        wall = time.monotonic() - start + sum(float(attrs[k]) for k in sessions)
        if pruned_at is not None:
            trial.set_user_attr("pruned_at", pruned_at)
            _tell(study, trial.number, state=TrialState.PRUNED)
            log.info(f"trial {trial.number}: pruned at {pruned_at:,} env steps ({wall:.0f} s)")
            return 0
        if proc.returncode != 0:
            reason = _failure(tdir, proc.returncode)
            trial.set_user_attr("error", reason)
            _tell(study, trial.number, state=TrialState.FAIL)
            log.info(f"trial {trial.number}: failed: {reason}")
            return 1
        self._report(trial, tdir, reported)
        try:
            scored = self._score(tdir)
        except MafacError as e:
            trial.set_user_attr("error", str(e))
            _tell(study, trial.number, state=TrialState.FAIL)
            log.info(f"trial {trial.number}: failed: {e}")
            return 1
        for k, v in scored.items():
            if k != "value":
                trial.set_user_attr(k, v)
        _tell(study, trial.number, scored["value"])
        log.info(f"trial {trial.number}: {self.goal.name} = {scored['value']:.4g} over {scored['runs']} runs, "
                 f"{scored['episodes']:,} greedy episodes ({wall:.0f} s)")
        return 0

    def _report(self, trial, tdir: Path, reported: set) -> Optional[int]:
        """Report new intermediate values; the env steps at which to prune, or None."""
        frames = self._frames(tdir)
        latest = None
        for step, value in self.goal.intermediate(frames, self._test_interval()):
            if step not in reported:
                trial.report(value, step)
                reported.add(step)
                latest = step
        if latest is not None and self.pruner != "none" and trial.should_prune():
            return latest
        return None

    def _test_interval(self) -> int:
        """run.test_interval of the trials' runs (the grid of steps intermediate values sit on)."""
        if not hasattr(self, "_interval"):
            job = self.bench.jobs()[0]
            self._interval = int(job.config().run.test_interval)
        return self._interval

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
        return self.goal.trial_value(frames, t_max, per_eval)

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


def parse_budget(value) -> Optional[float]:
    """Seconds from 4h, 90m, 45s, plain seconds, or a number; None stays None."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return None if value is None else float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hms]?)\s*", str(value))
    if not m or float(m.group(1)) <= 0:
        raise MafacError(f"bad --budget {value!r}; expected a duration like 4h, 90m or 600s")
    return float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[m.group(2)]


def _checker(bench: Bench):
    """check(key, value): build each grid cell's config with the value, as its trial would."""
    first = replace(bench, seeds=bench.seeds[:1])

    def check(key: str, value: object) -> None:
        for job in first.variant(first.name, first.out_root, {key: value}).jobs():
            job.config()

    return check


def _pdeathsig() -> None:  # pragma: no cover - runs in the child
    """The trial's bench dies with the sweep (kill -9 included); its workers then notice their
    bench is gone and stop, leaving their runs resumable."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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
