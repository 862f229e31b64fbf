"""Orchestrating a bench: plan, refuse or resume, run, summarise, aggregate."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from mafac import log as logs
from mafac.atomic import write_json
from mafac.errors import MafacError
from mafac.benchmark import manifest as mf
from mafac.benchmark.executors import get_executor
from mafac.benchmark.lock import BenchLock
from mafac.benchmark.spec import Bench, Job, longest_first
from mafac.rundir import CHECKPOINT, METRICS_CSV, RUN_JSON, STATUS_DONE, SUMMARY_JSON, RunInfo

log = logs.get("bench")


@dataclass
class BenchResult:
    """What a bench invocation ends with: each run's summary (summary.json's), the runs that did not
    finish, and the results table when this invocation wrote one (table.md's text)."""

    root: Path
    runs: Dict[str, Dict[str, object]] = field(default_factory=dict)
    failed: List[str] = field(default_factory=list)
    table: Optional[str] = None

    # a path-like, as `mafac.bench(load=False)` returned the bench directory before it returned this
    def __fspath__(self) -> str:
        return str(self.root)

    def __truediv__(self, other) -> Path:
        return self.root / other


def _check_run_dir(job: Job, final_episodes: int = 0, clean: bool = True) -> Optional[RunInfo]:
    """A finished run's info; None to (re)run it. Corrupt files are named and the run restarts. A
    finished run without its final evaluation (of `final_episodes`) runs again from its checkpoint,
    which only plays those episodes; without a checkpoint it stays as it is (said in one line).
    `clean=False` (--plan) removes nothing: a corrupt run is only counted as to do."""
    run_dir = Path(job.run_dir)
    if not (run_dir / RUN_JSON).exists():
        return None  # never started, or killed before its first run.json (then no checkpoint either)
    try:
        info = RunInfo.load(run_dir)
    except MafacError as e:
        return _restart(run_dir, e, clean)
    if info.status == STATUS_DONE and info.env_steps >= job.steps:
        if final_episodes <= 0 or not (run_dir / CHECKPOINT).exists():
            if final_episodes > 0 and not _final_is_current(run_dir, final_episodes, info.env_steps):
                log.warning(f"{job.name} has no checkpoint to evaluate: no final evaluation")
            return info
        if _final_is_current(run_dir, final_episodes, info.env_steps):
            return info
        return None  # resumes at t_max: only the final evaluation runs
    if (run_dir / CHECKPOINT).exists():
        from mafac.checkpoint import verify_run_dir

        try:
            verify_run_dir(run_dir)
        except MafacError as e:
            return _restart(run_dir, e, clean)
    return None


def _restart(run_dir: Path, why: MafacError, clean: bool) -> None:
    """A run whose files are refused starts again: said, and (unless `clean` is off) its directory removed."""
    log.warning(f"{why}; {'restarting run' if clean else 'it would restart'}")
    if clean:
        shutil.rmtree(run_dir)


def _final_is_current(run_dir: Path, episodes: int, env_steps: int) -> bool:
    from mafac.finals import stored

    return stored(run_dir, episodes, env_steps) is not None


def _configs(jobs: Sequence[Job], workers: int, local: bool, memory: Optional[int]):
    """Resolve every run's config up front: a bad key fails the bench before anything starts, and so
    does a grid whose concurrent runs would not fit in memory (checked where they run: locally).
    Returns the configs (resolved, and as recorded in the manifest) and the header's memory and
    disk lines."""
    from mafac.memory import plan_bench, plan_disk

    cfgs = {j.name: j.config() for j in jobs}
    lines = [plan_bench(cfgs, workers, memory) if local or memory is not None else None, plan_disk(cfgs)]
    return cfgs, {n: c.to_dict() for n, c in cfgs.items()}, [line for line in lines if line]


def _n(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def run_bench(bench: Bench, *, probe: bool = True, aggregate: bool = True, group: Optional[str] = None,
              quiet: bool = False) -> BenchResult:
    """Run (or resume) a bench. `bench.memory`: a byte budget for the runs at once, each run's
    replay.capacity lowered to fit it (None: only refuse a grid that does not fit). `bench.render`:
    one greedy episode of each finished run as <run_dir>/render.gif. `probe`: measure each (algo,
    map) here for the wall-time estimate; `aggregate`: table.md and plots/ at the end; `group`: the
    runs' W&B group (default: the bench's name); `quiet`: no progress bar (the lines go to the
    "mafac.bench" logger either way). A sweep's trial runs with neither probe nor aggregate."""
    started = time.time()
    executor_cls = get_executor(bench.executor)
    jobs = bench.jobs()
    resolved, configs, lines = _configs(jobs, bench.workers, bench.executor == "local", bench.memory)
    with BenchLock(bench.root):
        result = _run_locked(bench, jobs, resolved, configs, executor_cls, lines, started, probe, aggregate,
                             group or bench.name, quiet)
        if bench.render:
            _render_finished(jobs)
        return result


def plan(bench: Bench, probe: bool = True) -> None:
    """`mafac bench --plan`: what the bench would say before its first run (the grid, budgets,
    memory, disk, and the wall-time estimate of the runs not done yet, probing this machine if need
    be), then nothing more: no run starts and nothing under the bench's directory is written, so a
    hard map's bench can be sized (--workers, --memory, --steps) before it takes the machine."""
    jobs = bench.jobs()
    resolved, configs, lines = _configs(jobs, bench.workers, bench.executor == "local", bench.memory)
    _header(bench, jobs, resolved, configs, lines, probe, clean=False)


def _header(bench: Bench, jobs: List[Job], resolved: Dict[str, object], configs: Dict[str, Dict[str, object]],
            lines: List[str], probe: bool, clean: bool = True):
    """Say the bench's header and estimate; (finished run infos by name, runs to do, estimate)."""
    finished = {j.name: _check_run_dir(j, configs[j.name]["run"].get("final_episodes", 0), clean) for j in jobs}
    todo = [j for j in jobs if finished[j.name] is None]
    algos, maps, seeds, steps = bench.algos, bench.maps, bench.seeds, bench.grid()["steps"]
    log.info(f"mafac bench {bench.name}: {_n(algos, 'algo')} x {_n(maps, 'map')} x {_n(seeds, 'seed')} = "
             f"{_n(jobs, 'run')} ({len(jobs) - len(todo)} already done)")
    log.info("  algos " + ", ".join(algos) + " | maps " + ", ".join(maps) + " | seeds " + ", ".join(map(str, seeds)))
    log.info("  budget " + ", ".join(f"{m}: {steps[m]:,} env steps/run" for m in maps)
             + f" | preset {configs[jobs[0].name]['preset']} | {bench.workers} worker(s), executor {bench.executor}")
    from mafac.mixers import learner_note

    for algo in algos:
        note = learner_note(algo, configs[next(j.name for j in jobs if j.algo == algo)]["learner"]["kind"])
        if note:
            log.warning(note)
    for line in lines:
        log.info(line)
    estimate = _estimate(bench, todo, resolved, probe)
    for line in estimate.lines:
        log.info(line)
    return finished, todo, estimate


def _estimate(bench: Bench, todo: List[Job], resolved: Dict[str, object], probe: bool = True):
    """The wall time of the runs still to do, from probes of this machine (mafac/benchmark/
    throughput.py), or unknown where nothing may be measured here."""
    from mafac.benchmark.throughput import estimate_bench

    skip = None
    if not probe:
        skip = "--no-probe: nothing measured"
    elif bench.executor != "local":
        skip = f"executor {bench.executor}: the runs go elsewhere, a probe of this machine would not tell"
    return estimate_bench(todo, {j.name: resolved[j.name] for j in todo}, bench.workers, skip, log.info)


def _render_finished(jobs: Sequence[Job]) -> None:
    """`--render`: an episode per finished run, kept until its checkpoint changes; a run that
    cannot be drawn (a backend without a scene) gets a warning, never a failed bench."""
    from mafac.rendering import render_run

    for j in jobs:
        run_dir = Path(j.run_dir)
        gif, ckpt = run_dir / "render.gif", run_dir / CHECKPOINT
        try:
            if RunInfo.load(run_dir).status != STATUS_DONE or not ckpt.exists():
                continue
            if gif.exists() and gif.stat().st_mtime >= ckpt.stat().st_mtime:
                continue
            result = render_run(run_dir, episodes=1, seed=0, out=gif)
            log.info(f"  rendered {j.name}: {result.outcomes[0]} in {result.lengths[0]} steps -> {gif}")
        except MafacError as e:
            log.warning(f"rendering {j.name} failed: {e}")


def _run_locked(bench: Bench, jobs: List[Job], resolved: Dict[str, object], configs: Dict[str, Dict[str, object]],
                executor_cls: type, lines: List[str], started: float, probe: bool, aggregate: bool, group: str,
                quiet: bool) -> BenchResult:
    from mafac.memory import disk_bytes, size

    root, name = bench.root, bench.name
    grid = bench.grid()
    new = mf.build(grid, configs)
    old = mf.load(root)
    if old is not None:
        diffs = mf.differences(old, new)
        if diffs and not bench.force:
            raise MafacError(f"{root} holds a different bench ({'; '.join(diffs[:2])}); "
                             f"use another --name, or --force to replace it")
        if diffs:  # --force: runs whose config changed start again
            for j in jobs:
                if old.get("configs", {}).get(j.name) != configs[j.name] and Path(j.run_dir).exists():
                    shutil.rmtree(j.run_dir)
    write_json(root / mf.MANIFEST, new)

    finished, todo, estimate = _header(bench, jobs, resolved, configs, lines, probe)
    todo = longest_first(todo, estimate.seconds)

    results: Dict[str, Dict[str, object]] = {}
    for j in jobs:
        info = finished[j.name]
        if info is not None:
            results[j.name] = _result_from_dir(j)
    executor_results: Dict[str, Dict[str, object]] = {}
    progress = _Progress(jobs, results, configs, disable=quiet)
    executor = executor_cls(bench.workers, bench.address)

    def on_done(result: Dict[str, object]) -> None:
        executor_results[str(result["name"])] = result
        progress.done(result)
        if result.get("no_space") and not executor.stopped:  # every later run would fail the same way
            executor.stop_starting()
            left = [j for j in todo if j.name not in executor_results]
            need = sum(disk_bytes(resolved[j.name]) for j in left)
            log.warning(f"no space left on device: {len(left)} run(s) not started, needing up to {size(need)} on "
                        f"disk; free some and rerun the same command to resume ({root})")

    payloads = [dict(j.to_dict(), name=j.name, config=configs[j.name], bench=group) for j in todo]
    try:
        with progress.redirect():
            executor.run(payloads, on_done, progress.poll)
    except KeyboardInterrupt:
        progress.close()
        # the session's wall time is part of the bench's cost: recorded before the resume
        # (a kill -9 cannot be; its session is missing from the total)
        write_json(root / SUMMARY_JSON, {"name": name, "runs": {j.name: _result_from_dir(j) for j in jobs},
                                         "sessions": _sessions(root, started, interrupted=True)})
        log.info(f"interrupted; rerun the same command to resume ({root})")
        raise
    progress.close()
    for j in jobs:  # the run dirs are the truth, also for runs that finished in earlier attempts
        from_dir = _result_from_dir(j)
        reported = executor_results.get(j.name, {}).get("error")
        if executor.stopped and j in todo and j.name not in executor_results:
            from_dir = {"status": "failed", "error": "not started: no space left on device"}
        if not from_dir.get("error") and reported:
            from_dir["error"] = reported  # e.g. a worker that died before writing
            from_dir["status"] = "failed"
        if from_dir["status"] != STATUS_DONE and not from_dir.get("error"):  # a summary line always says why
            from_dir["error"] = (f"ended with status {from_dir['status']!r} at {from_dir.get('env_steps', 0):,} of "
                                 f"{j.steps:,} env steps and no error recorded; see {j.run_dir}")
        results[j.name] = from_dir
    write_json(root / SUMMARY_JSON, {"name": name, "runs": results, "sessions": _sessions(root, started)})
    out = BenchResult(root, results, [k for k, r in results.items() if r.get("status") != STATUS_DONE])
    if aggregate and (todo or not _aggregates_current(root)):
        out.table = _aggregate(root)
    elif aggregate:  # nothing ran: the table and plots already say everything (and cost seconds of bootstraps)
        log.info(f"  table.md and plots/ are up to date: `mafac table {root}` prints the table")
    log.info(f"bench {name}: {len(jobs) - len(out.failed)}/{len(jobs)} runs done -> {root}")
    for k in out.failed:
        log.info(f"  failed: {k}: {results[k].get('error')}")
    return out


def _sessions(root: Path, started: float, interrupted: bool = False) -> List[Dict[str, object]]:
    """Every invocation that worked on this bench (a resumed bench has several, interrupted ones
    marked): start, end, wall seconds, so a bench's cost is read from its results (`mafac table`
    prints the total)."""
    import json

    try:
        earlier = json.loads((root / SUMMARY_JSON).read_text()).get("sessions", [])
    except (OSError, ValueError, AttributeError):
        earlier = []
    end = time.time()
    fmt = "%Y-%m-%d %H:%M:%S"
    this = {"started": time.strftime(fmt, time.localtime(started)), "ended": time.strftime(fmt, time.localtime(end)),
            "wall_s": round(end - started, 1)}
    return list(earlier) + [dict(this, interrupted=True) if interrupted else this]


def _result_from_dir(job: Job) -> Dict[str, object]:
    run_dir = Path(job.run_dir)
    try:
        info = RunInfo.load(run_dir)
    except MafacError as e:
        return {"status": "failed", "error": str(e)}
    out: Dict[str, object] = {"status": info.status, "env_steps": info.env_steps, "error": info.error}
    try:
        import pandas as pd

        last = pd.read_csv(run_dir / METRICS_CSV).iloc[-1]
        out.update(test_win_rate=float(last["test_win_rate"]), test_return=float(last["test_return"]),
                   wall_s=float(last["wall_s"]))
    except Exception:  # missing or partial metrics: the status says enough
        pass
    return out


def _aggregates_current(root: Path) -> bool:
    """table.md and the plots exist and are newer than every run's metrics."""
    table, plots = root / "table.md", sorted((root / "plots").glob("*.png"))
    if not table.exists() or not plots:
        return False
    newest = max((p.stat().st_mtime for p in root.glob(f"runs/*/{METRICS_CSV}")), default=0.0)
    return min([table.stat().st_mtime] + [p.stat().st_mtime for p in plots]) >= newest


def _aggregate(root: Path) -> Optional[str]:
    """Tables and plots through the analysis package; the table's text, or None if that failed
    (said: results are never lost to it)."""
    from mafac.analysis import write_plots, write_table

    try:
        table = write_table([root])
        write_plots([root])
        return table
    except Exception as e:  # plotting must never cost the results
        log.warning(f"aggregating {root} failed ({type(e).__name__}: {e}); results are kept, "
                    f"rerun `mafac table {root}`")
        return None


class _Progress:
    """One overall bar (runs done, env steps, ETA) and a status line per running job.

    Env steps are read from each run's run.json (rewritten at every evaluation), so any executor,
    local or remote, reports progress the same way. A finished run's line gives its env's metric
    (`env_metric`: the win rate, or the return on MPE).
    """

    def __init__(self, jobs: Sequence[Job], results: Dict[str, Dict[str, object]],
                 configs: Dict[str, Dict[str, Any]], disable: bool = False) -> None:
        from tqdm import tqdm

        from mafac.envs import env_metric

        self.jobs = list(jobs)
        self.metric = {j.name: env_metric(configs[j.name]["env"]["backend"]) for j in jobs}
        self.done_runs, self.n_runs = len(results), len(jobs)
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=sum(j.steps for j in jobs), initial=self._steps(), unit="step", unit_scale=True,
                        file=sys.stderr, dynamic_ncols=True, mininterval=1.0 if self.tty else 30.0, smoothing=0.05,
                        disable=disable)
        self.bar.set_description_str(f"runs {self.done_runs}/{self.n_runs}", refresh=False)
        self.last_print = time.monotonic()

    def _steps(self) -> int:
        total = 0
        for j in self.jobs:
            try:
                info = RunInfo.load(Path(j.run_dir))
            except MafacError:
                continue
            total += j.steps if info.status == STATUS_DONE else min(info.env_steps, j.steps)
        return total

    def done(self, result: Dict[str, object]) -> None:
        self.done_runs += 1
        self.bar.set_description_str(f"runs {self.done_runs}/{self.n_runs}", refresh=False)
        status = result.get("status")
        extra = result.get("error")
        if status == STATUS_DONE and self.metric.get(str(result["name"])) == "test_return":
            extra = f"return {result.get('test_return', float('nan')):.2f}"
        elif status == STATUS_DONE:
            extra = f"win {result.get('test_win_rate', float('nan')):.2f}"
        log.info(f"  {result['name']}: {status} ({extra})")

    def poll(self, running: List[str]) -> None:
        self.bar.update(max(0, self._steps() - self.bar.n))
        now = time.monotonic()
        if running and now - self.last_print > (10.0 if self.tty else 30.0):
            self.last_print = now
            lines = []
            for j in self.jobs:
                if j.name in running:
                    try:
                        lines.append(f"{j.name} {RunInfo.load(Path(j.run_dir)).env_steps:,}/{j.steps:,}")
                    except MafacError:
                        lines.append(f"{j.name} starting")
            log.info("  running: " + " | ".join(lines))

    def redirect(self):
        """While the bar is up, the console's log lines are written above it (tqdm.write)."""
        import contextlib

        from tqdm.contrib.logging import logging_redirect_tqdm

        if self.bar.disable or not logs.get().handlers:
            return contextlib.nullcontext()
        return logging_redirect_tqdm([logs.get()], tqdm_class=type(self.bar))

    def close(self) -> None:
        self.bar.close()
