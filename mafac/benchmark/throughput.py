"""How long will a bench take here? A short probe of each (algo, map) at its resolved config,
cached per machine and software versions.

A bench's cost differs by map (3 to 10 agents: the GRU unroll, the mixer and the env step all
grow), by algorithm (QTRAN's joint network, the weighted QMIXes' second mixer) and by config
(hidden width, batch, n_envs, train_every_episodes), and by machine. So no figure is kept in the
code: before a local bench starts, each (algo, map) pair it still has to run is probed for a few
seconds with the real Trainer: the runner stepping its envs under uniform exploration (which also
gives the mean episode length, close to a whole run's: 3m 16.8 vs 15-16, 8m 21 vs 18), learner
updates on batches of those episodes, and one evaluation (greedy test episodes, metrics, the
checkpoint with its replay shard). The probes run in a spawned process set up as a bench worker is,
whose own start (interpreter, torch, JAX, the simulator's imports) is timed too. Each piece is timed
in CPU seconds (over the cores a run keeps busy, when more than one), so other work on the machine
during the probe changes neither the figures nor the cache; the probe's share of its cores is
reported when the machine was busy. A run of N env steps then takes, on free cores,

    process start + trainer start-up + N / n_envs * step
        + (N / episode_length - start_episodes) / train_every * update + (N / test_interval + 1) * evaluation

with the update timed twice: on batches of the probe's episodes (the low end of the estimate) and
on batches cut at the episode limit (the high end: a batch is as long as its longest episode, and
late in training more episodes time out). Concurrent runs may slow each other even when each has
a core of its own (two vCPUs can be hyper-threads of one core; cache and memory are shared): so a
bench of several workers also times its costliest pair's learner in that many processes, alone
and at once, and scales every run by the measured ratio (cached too), and by `workers *
cores_per_run / cores` when the runs want more cores than the machine has. The pieces are cached under
~/.cache/mafac/throughput.json ($MAFAC_THROUGHPUT_CACHE) keyed by host, CPU model, core count,
the versions of mafac, torch, JAX and jaxmarl, the algorithm, the map and the config keys that
change these pieces, so the same bench on the same machine is probed once. Delete the file to
measure again (for instance after the machine's load changed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import resource
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mafac.atomic import write_json

# Wall seconds of each timed phase of a probe (env stepping, learner updates), each at least a few
# iterations: with the trainer's start-up and two evaluations, about 5 s per pair once SMAX's
# compiled step is in the JAX cache (a map never compiled before adds its compile, once).
PHASE_SECONDS = 0.75
MIN_STEPS, MIN_UPDATES = 20, 3

BUSY = 0.8  # a probe that got less of its cores than this says the machine was busy

# Config keys whose values change a measured piece (the others, train_every_episodes,
# start_episodes, test_interval, t_max, enter the formula above, or cost nothing).
COST_KEYS = {
    "env": ("backend", "map", "n_envs", "test_n_envs", "kwargs"),
    "agent": None,  # every key
    "mixer": None,
    "learner": ("kind", "precision", "batch_size", "td_lambda", "n_step", "double_q", "optimizer"),
    "online": None,
    "replay": ("obs_dtype",),
    "run": ("device", "torch_threads", "checkpoint"),
}


@dataclass
class Throughput:
    """The measured pieces of one run's cost, in seconds of a machine whose cores are free: the
    probe's CPU seconds over the cores it kept busy, so that other work on the machine during the
    probe inflates neither the cached figures nor the estimate (`share` records how much of them
    the probe got)."""

    step_s: float  # one runner step: n_envs env steps, the agents' forward pass, replay inserts
    update_s: float  # one learner update at the config's batch, on the probe's episodes
    # the same update on batches cut at the episode limit: a batch is as long as its longest
    # episode, and as training goes on that is more and more often a timed-out one (3s5z: batch
    # length 78 -> 100, +26% per update), so this bounds a run's update cost from above
    update_limit_s: float
    episode_limit: int
    episode_length: float  # mean env steps per episode under uniform exploration
    eval_s: float  # one evaluation: greedy test episodes, metrics, checkpoint and replay shard
    process_s: float  # a worker process's own start: the interpreter and its imports (torch, JAX, the env)
    startup_s: float  # building the trainer and both envs (from the JAX cache, or compiling them)
    cores: float  # the cores one run keeps busy (CPU seconds per wall second, at least 1)
    share: float  # the fraction of those the probe got (below 1: the machine was busy)
    probe_s: float  # how long the probe took, in wall seconds
    measured: str  # when (local time)

    def run_seconds(self, cfg: Dict[str, Dict[str, object]], steps: int, at_limit: bool = False) -> float:
        """Wall seconds of one run of `steps` env steps at `cfg` (a resolved config as a dict),
        alone on a machine with free cores; `at_limit`: every update on a batch as long as the
        episode limit (the upper end of the range)."""
        env, learner, run = cfg["env"], cfg["learner"], cfg["run"]
        from mafac.config import OnlineConfig
        from mafac.online import LEARNERS

        episodes = steps / max(self.episode_length, 1.0)
        online = cfg.get("online") or dataclasses.asdict(OnlineConfig())
        updates = LEARNERS[learner.get("kind", "replay")].updates_for(learner, online, episodes)
        evaluations = math.ceil(steps / int(run["test_interval"])) + 1
        return (self.process_s + self.startup_s + steps / int(env["n_envs"]) * self.step_s
                + updates * (self.update_limit_s if at_limit else self.update_s) + evaluations * self.eval_s)

    def to_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


class _Clock:
    """CPU and wall seconds since the last `lap()`."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def lap(self) -> Tuple[float, float]:
        cpu, wall = time.process_time(), time.monotonic()
        out = (cpu - self.cpu, wall - self.wall)
        self.cpu, self.wall = cpu, wall
        return out


def cache_path() -> Path:
    return Path(os.environ.get("MAFAC_THROUGHPUT_CACHE", Path.home() / ".cache" / "mafac" / "throughput.json"))


def cost_fields(cfg: Dict[str, Dict[str, object]]) -> Dict[str, object]:
    """What a probe's result depends on, besides the machine: algo, map and the COST_KEYS."""
    out: Dict[str, object] = {"algo": cfg["algo"]}
    for section, keys in COST_KEYS.items():
        value = cfg.get(section) or {}
        out[section] = dict(value) if keys is None else {k: value.get(k) for k in keys}
    return out


def machine_fields() -> Dict[str, object]:
    from mafac.benchmark.manifest import machine, versions

    m = machine()
    v = versions()
    return {"host": socket.gethostname(), "cpu": m["cpu"], "cores": m["cores"],
            **{k: v.get(k) for k in ("mafac", "torch", "jax", "jaxlib", "jaxmarl")}}


def cache_key(cfg: Dict[str, Dict[str, object]], machine: Optional[Dict[str, object]] = None) -> str:
    text = json.dumps({"machine": machine or machine_fields(), "cost": cost_fields(cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _load_cache() -> Dict[str, Dict[str, object]]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _from_cache(entry: object) -> Optional[Throughput]:
    try:
        return Throughput(**entry["throughput"])  # type: ignore[index]
    except (KeyError, TypeError):
        return None  # an entry of another layout: probed again


def probe(cfg, seconds: float = PHASE_SECONDS, process_s: float = 0.0) -> Throughput:
    """Measure the pieces of `cfg`'s cost (a resolved Config) with a real Trainer in a scratch
    directory: a few seconds, plus the envs' compile when the JAX cache does not hold it yet. Run
    it where a bench's worker runs (`measure` spawns one): with the worker's thread limits."""
    import torch

    from mafac.trainer import Trainer

    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, tensorboard=False))
    began = time.monotonic()
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="mafac-probe-") as scratch:
        trainer = Trainer(cfg, Path(scratch))
        try:
            trainer.runner.reset()
            trainer.runner.step(1.0)  # the first call loads (or compiles) the env's step
            trainer.test_and_record()  # and the test env's, and writes the first checkpoint
            startup = clock.lap()
            lengths, steps = _run_steps(trainer, seconds)
            acting = clock.lap()
            learner, size = trainer.learner, trainer.learner.update_episodes(cfg)
            limit = trainer.info.episode_limit

            def update(length=None) -> None:  # one update on stored episodes (repeats: few are stored)
                batch = trainer.buffer.gather(torch.randint(trainer.buffer.size, (size,)), length=length)
                learner.update_on(batch, len(lengths), steps)

            update()  # the first update warms torch up
            clock.lap()
            updates = 0
            while updates < MIN_UPDATES or time.monotonic() - clock.wall < seconds:
                update()
                updates += 1
            learning = clock.lap()
            limit_updates = 0
            while limit_updates < MIN_UPDATES or time.monotonic() - clock.wall < seconds / 2:
                update(limit)
                limit_updates += 1
            late = clock.lap()
            trainer.test_and_record()  # greedy test episodes, metrics, checkpoint with the probe's episodes
            evaluation = clock.lap()
        finally:
            trainer.close()
    busy = (acting[0] + learning[0]) / (acting[1] + learning[1])
    cores = max(1.0, busy)
    return Throughput(step_s=acting[0] / cores / steps, update_s=learning[0] / cores / updates,
                      update_limit_s=max(learning[0] / updates, late[0] / limit_updates) / cores, episode_limit=limit,
                      episode_length=sum(lengths) / len(lengths), eval_s=evaluation[0] / cores,
                      process_s=process_s, startup_s=startup[0] / cores, cores=round(cores, 3), share=round(min(1.0, busy), 3),
                      probe_s=time.monotonic() - began, measured=time.strftime("%Y-%m-%d %H:%M:%S"))


def _run_steps(trainer, seconds: float) -> Tuple[List[int], int]:
    """Runner steps under uniform exploration for `seconds`, at least MIN_STEPS of them and until
    an episode ends: the finished episodes' lengths and the steps taken."""
    lengths: List[int] = []
    n, t = 0, time.monotonic()
    while n < MIN_STEPS or not lengths or time.monotonic() - t < seconds:
        lengths += trainer.runner.step(1.0).lengths.tolist()
        n += 1
        if n >= 100_000 and not lengths:  # an env whose episodes outlast the probe
            lengths = [n]
    return lengths, n


@dataclass
class Measured:
    """A pair's throughput and whether it came from the cache or a probe of this bench."""

    throughput: Throughput
    cached: bool


def measure(pairs: Dict[Tuple[str, str], object], say: Callable[[str], None],
            seconds: float = PHASE_SECONDS) -> Dict[Tuple[str, str], Measured]:
    """Each (algo, map) -> its cached measurement, or a probe of its config (a resolved Config).

    The probes run in one spawned process set up as a bench worker is (mafac.benchmark.worker:
    one thread for XLA and OpenMP, a fresh interpreter whose imports are part of every run's
    cost), not in the bench's own process, whose JAX is already initialised with all threads.
    Each result is printed and cached as it arrives (so an interrupted bench keeps what it
    measured). A pair whose probe fails (say, a loss that is not finite after the first update)
    is left out, with a line."""
    machine = machine_fields()
    out = {p: Measured(t, True) for p, t in measure_cached(pairs).items()}
    todo = [p for p in pairs if p not in out]
    done = 0
    for pair, result, error in _probe_process([(p, pairs[p].to_dict()) for p in todo], seconds, say):
        done += 1
        if error is not None:  # an estimate never costs the bench: the runs report their own errors
            say(f"  probe of {pair[0]} on {pair[1]} failed ({error})")
            continue
        found = Throughput(**result)
        out[pair] = Measured(found, False)
        _report(pair, found, pairs[pair], done, len(todo), say)
        _store(pairs[pair], {"throughput": found.to_dict()}, machine, say)
    return out


def _probe_process(todo: List[Tuple[Tuple[str, str], Dict[str, object]]], seconds: float,
                   say: Callable[[str], None]):
    """Probe each (pair, config dict) in one spawned process; yield (pair, throughput dict or None,
    error or None) as results arrive, until every pair has one or the process has died (said, with
    the pairs it left)."""
    import multiprocessing as mp
    import queue as queue_mod

    if not todo:
        return
    ctx = mp.get_context("spawn")  # JAX is not fork-safe
    results = ctx.Queue()
    child = ctx.Process(target=_probe_child, daemon=True, args=(todo, seconds, results))
    child.start()
    left = [pair for pair, _ in todo]
    try:
        while left:
            try:
                pair, result, error = results.get(timeout=1.0)
            except queue_mod.Empty:
                if not child.is_alive():
                    say(f"  the probe process died (exit code {child.exitcode}) before probing "
                        + ", ".join(f"{a} on {m}" for a, m in left))
                    break
                continue
            left.remove(pair)
            yield pair, result, error
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)


def _corun_key(data: Dict[str, object], machine: Dict[str, object], runs: int) -> str:
    """The cache key of a concurrency factor: the probe's key of the pair's config, and K."""
    return cache_key(data, machine) + f"/corun{runs}"


def measure_corun(candidates: Sequence[Tuple[Tuple[str, str], object]], runs: int,
                  say: Callable[[str], None], seconds: float = PHASE_SECONDS) -> Optional[float]:
    """How much more CPU time a run takes while `runs` runs share the machine, measured.

    Cores need not be independent: two vCPUs can be hyper-threads of one core, and cache and
    memory bandwidth are shared, so a run may take more CPU seconds while others run (on the
    2-vCPU AMD EPYC this was written on, the factor measured 1.00-1.03: there they do not). So
    `runs` processes build the learner of one (algo, map) (`candidates`: (pair, resolved config),
    costliest first) and time its updates on batches of the pair's shape: the first process alone,
    then all of them at once; the factor is the ratio of CPU seconds per update. The learner is most
    of a run's time (78% on 3s5z); no env is built, so this costs a few seconds. The first candidate
    with a cached factor answers. None when the processes failed: the estimate then says so."""
    import multiprocessing as mp
    import queue as queue_mod

    machine = machine_fields()
    cache = _load_cache()
    for _, cfg in candidates:
        hit = cache.get(_corun_key(cfg.to_dict(), machine, runs))  # type: ignore[attr-defined]
        if isinstance(hit, dict) and isinstance(hit.get("corun"), (int, float)):
            return float(hit["corun"])
    pair, cfg = candidates[0]
    say(f"  timing {runs} learners of {pair[0]} on {pair[1]} alone and at once: how much concurrent runs "
        f"slow each other here")
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(runs), ctx.Queue()
    data = cfg.to_dict()  # type: ignore[attr-defined]
    children = [ctx.Process(target=_corun_child, daemon=True, args=(i, data, seconds, barrier, results))
                for i in range(runs)]
    for child in children:
        child.start()
    alone, together, error = None, [], None
    try:
        while error is None and len(together) < runs:
            try:
                index, phase, value = results.get(timeout=1.0)
            except queue_mod.Empty:
                if not all(c.is_alive() for c in children):
                    error = "a timing process died"
                continue
            if phase == "error":
                error = value
            elif phase == "alone":
                alone = value
            else:
                together.append(value)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=10)
    if error is not None or not alone:
        say(f"  the concurrent timing failed ({error}); the estimate assumes the runs do not slow each other")
        return None
    factor = max(1.0, sum(together) / len(together) / alone)
    _store(cfg, {"corun": factor}, machine, say, _corun_key(data, machine, runs))
    return factor


def _corun_child(index: int, data: Dict[str, object], seconds: float, barrier, results) -> None:
    """One of measure_corun's processes: CPU seconds per update of the config's learner on a
    synthetic batch of its shape (episodes at the limit), alone (process 0) and then all at once."""
    try:
        from mafac.benchmark.worker import limit_threads

        limit_threads()
        import torch

        from mafac.agent import build_agent
        from mafac.config import config_from_dict
        from mafac.envs import describe_env
        from mafac.mixers import get_mixer
        from mafac.online import make_learner
        from mafac.replay import EpisodeBatch

        cfg = config_from_dict(data)
        torch.set_num_threads(cfg.run.torch_threads)
        torch.manual_seed(index)
        info = describe_env(cfg.env.backend, cfg.env.map, cfg.env.kwargs)
        agent = build_agent(info, cfg.agent)
        learner = make_learner(info, cfg, agent, get_mixer(cfg.algo)(info, cfg.mixer, cfg.agent.hidden_dim),
                               torch.device("cpu"), seed=index)
        b, t, a = learner.update_episodes(cfg), info.episode_limit, info.n_agents
        batch = EpisodeBatch(obs=torch.rand(b, t + 1, a, info.obs_dim) * 2 - 1,
                             state=torch.rand(b, t + 1, info.state_dim) * 2 - 1,
                             avail=torch.ones(b, t + 1, a, info.n_actions, dtype=torch.bool),
                             actions=torch.randint(info.n_actions, (b, t, a)), reward=torch.rand(b, t),
                             terminated=torch.zeros(b, t), mask=torch.ones(b, t))
        learner.update_on(batch, 1, 0)  # warm-up

        def timed() -> float:
            n, cpu, wall = 0, time.process_time(), time.monotonic()
            while n < MIN_UPDATES or time.monotonic() - wall < seconds:
                learner.update_on(batch, 1, 0)
                n += 1
            return (time.process_time() - cpu) / n

        barrier.wait(timeout=300)
        if index == 0:
            results.put((index, "alone", timed()))
        barrier.wait(timeout=300)
        results.put((index, "together", timed()))
    except Exception as e:  # noqa: BLE001  (reported: the estimate goes on without the factor)
        from mafac.errors import first_line

        results.put((index, "error", f"{type(e).__name__}: {first_line(e)}"))


def _probe_child(todo: List[Tuple[Tuple[str, str], Dict[str, object]]], seconds: float, results) -> None:
    """The probe process: a worker's thread limits, its imports (timed), then each pair."""
    from mafac.benchmark.worker import limit_threads

    limit_threads()
    from mafac.config import config_from_dict
    from mafac.envs import describe_env
    from mafac.errors import first_line
    from mafac.trainer import Trainer  # noqa: F401  (imported as a worker imports it: part of its start)

    cfgs = [(pair, config_from_dict(data)) for pair, data in todo]
    for backend in dict.fromkeys(c.env.backend for _, c in cfgs):  # the simulator's own imports
        first = next(c for _, c in cfgs if c.env.backend == backend)
        describe_env(backend, first.env.map, first.env.kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    process_s = usage.ru_utime + usage.ru_stime
    for pair, cfg in cfgs:
        try:
            results.put((pair, probe(cfg, seconds, process_s).to_dict(), None))
        except Exception as e:
            results.put((pair, None, f"{type(e).__name__}: {first_line(e)}"))


def _report(pair: Tuple[str, str], found: Throughput, cfg, done: int, total: int, say: Callable[[str], None]) -> None:
    say(f"  probed {pair[0]} on {pair[1]} ({done}/{total}) in {found.probe_s:.1f} s: "
        f"{cfg.env.n_envs / found.step_s:,.0f} env steps/s acting, {found.update_s * 1000:.0f} ms/update, "
        f"{found.eval_s:.1f} s/evaluation"
        + (f" (it got {found.share:.0%} of a core: the machine is busy)" if found.share < BUSY else ""))


def _store(cfg, entry: Dict[str, object], machine: Dict[str, object], say: Callable[[str], None],
           key: Optional[str] = None) -> None:
    cache = _load_cache()  # another bench may have written meanwhile
    data = cfg.to_dict()
    cache[key or cache_key(data, machine)] = {"machine": machine, "cost": cost_fields(data), **entry}
    try:
        write_json(cache_path(), cache)
    except OSError as e:  # a read-only home: the estimate stands, the next bench probes again
        say(f"  warning: cannot cache the probe in {cache_path()}: {e}")


def contention(workers: int, cores_per_run: float, cores: Optional[int] = None) -> float:
    """How much slower each of `workers` concurrent runs goes than one alone: 1 while they fit the
    machine's cores, their ratio beyond."""
    cores = cores or os.cpu_count() or 1
    return max(1.0, workers * cores_per_run / cores)


def schedule_seconds(durations: Sequence[float], workers: int) -> float:
    """Greedy longest-first schedule of durations over `workers` slots (the order in which
    `longest_first` hands jobs to the executor)."""
    slots = [0.0] * max(1, workers)
    for d in sorted(durations, reverse=True):
        i = slots.index(min(slots))
        slots[i] += d
    return max(slots) if durations else 0.0


@dataclass
class Estimate:
    """A bench's estimated wall time and the lines that say where it comes from."""

    seconds: Optional[Dict[str, float]]  # by run name, at the probe's batch lengths; None: unknown
    lines: List[str]
    high: Optional[Dict[str, float]] = None  # by run name, every batch at the episode limit


def estimate_bench(jobs: Sequence, cfgs: Dict[str, object], workers: int, skip: Optional[str],
                   say: Callable[[str], None], seconds: float = PHASE_SECONDS) -> Estimate:
    """The wall time of `jobs` (still to run, with their resolved Configs by run name) on `workers`
    slots of this machine: measured (probed, or from the cache), or unknown, with the reason: `skip`
    (why no probe may run: --no-probe, a remote executor), a backend too costly to probe, a probe
    that failed. Probes print their progress through `say`."""
    from mafac.envs import get_env_class

    if not jobs:
        return Estimate({}, ["  estimated wall time 0 s (every run is done)"])
    if skip:
        return Estimate(None, [f"  estimated wall time unknown ({skip})"])
    pairs: Dict[Tuple[str, str], object] = {}
    for j in jobs:
        pairs.setdefault((j.algo, j.map), cfgs[j.name])
    costly = sorted({c.env.backend for c in pairs.values()  # type: ignore[attr-defined]
                     if not getattr(get_env_class(c.env.backend), "cheap_to_build", False)})  # type: ignore[attr-defined]
    if costly:
        return Estimate(None, [f"  estimated wall time unknown (the {', '.join(costly)} backend is not probed: "
                               f"a probe would start its simulator)"])
    n_cached = len(measure_cached(pairs))
    if n_cached < len(pairs):
        say(f"  probing {len(pairs) - n_cached} (algo, map) pair(s) on this machine for the wall-time estimate "
            f"(about {4 + 2 * seconds:.0f} s each on free cores, more for a map whose env is not compiled yet; "
            f"--no-probe skips)")
    began = time.monotonic()
    measured = measure(pairs, say, seconds)
    if len(measured) < len(pairs):
        return Estimate(None, ["  estimated wall time unknown (a probe failed, see above)"])

    def runs(at_limit: bool) -> Dict[str, float]:
        return {j.name: measured[(j.algo, j.map)].throughput.run_seconds(cfgs[j.name].to_dict(), j.steps, at_limit)  # type: ignore[attr-defined]
                for j in jobs}

    per_run, per_run_high = runs(False), runs(True)
    concurrent = min(workers, len(jobs))
    slow = contention(concurrent, max(m.throughput.cores for m in measured.values()))  # more runs than cores
    corun = None
    if concurrent > 1:  # measured on the pair that costs the bench most
        candidates, seen = [], set()
        for j in sorted(jobs, key=lambda j: -per_run[j.name]):
            if (j.algo, j.map) not in seen:
                seen.add((j.algo, j.map))
                candidates.append(((j.algo, j.map), cfgs[j.name]))
        corun = measure_corun(candidates, concurrent, say, seconds)
    slow *= corun or 1.0
    per_run = {k: v * slow for k, v in per_run.items()}
    per_run_high = {k: v * slow for k, v in per_run_high.items()}
    probing = time.monotonic() - began  # the concurrent probe included
    total, high = schedule_seconds(list(per_run.values()), workers), schedule_seconds(list(per_run_high.values()), workers)
    fresh = [m for m in measured.values() if not m.cached]
    old = [m.throughput.measured for m in measured.values() if m.cached]
    source = []
    if fresh:
        source.append(f"a {probing:.0f} s probe of {len(fresh)} (algo, map) pair(s) on this machine now")
    if old:
        source.append(f"{len(old)} cached probe(s) on this machine ({min(old)[:10]}"
                      f"{'' if max(old)[:10] == min(old)[:10] else ' to ' + max(old)[:10]}, {cache_path()})")
    if corun is not None:
        source.append(f"x{corun:.2f} measured for {concurrent} learners at once")
    elif concurrent > 1:
        source.append("the runs assumed not to slow each other")
    if slow > (corun or 1.0):
        source.append(f"x{slow / (corun or 1.0):.2f} for {concurrent} runs sharing {os.cpu_count()} cores")
    lines = [f"  estimated wall time {span(total, high)} on {workers} worker(s) (from {'; '.join(source)})",
             "    (the low end: batches as long as the probe's episodes; the high end: every batch as long as "
             "the episode limit, as late in training more episodes time out)"]
    share = min(m.throughput.share for m in measured.values())
    if share < BUSY:
        lines.append(f"    (a probe got {share:.0%} of its core: other work shares this machine; the estimate "
                     f"assumes free cores, so expect longer while that lasts)")
    for m in dict.fromkeys(j.map for j in jobs):
        on_map = [j for j in jobs if j.map == m]
        steps = sorted({j.steps for j in on_map})
        each = {}
        for j in on_map:
            each.setdefault(j.algo, (per_run[j.name], per_run_high[j.name]))
        lines.append(f"    {m}, runs of {'/'.join(f'{s:,}' for s in steps)} env steps: "
                     + ", ".join(f"{a} ~{span(*s)}" for a, s in each.items()) + " each")
    return Estimate(per_run, lines, per_run_high)


def measure_cached(pairs: Dict[Tuple[str, str], object]) -> Dict[Tuple[str, str], Throughput]:
    """The pairs the cache already holds (no probe)."""
    machine = machine_fields()
    cache = _load_cache()
    out = {}
    for pair, cfg in pairs.items():
        hit = _from_cache(cache.get(cache_key(cfg.to_dict(), machine)))  # type: ignore[attr-defined]
        if hit is not None:
            out[pair] = hit
    return out


def span(low: float, high: float) -> str:
    """'9-12 min', or one figure when the two round to the same."""
    a, b = duration(low), duration(high)
    if a == b:
        return a
    if a.split()[1] == b.split()[1]:
        return f"{a.split()[0]}-{b}"
    return f"{a} to {b}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
