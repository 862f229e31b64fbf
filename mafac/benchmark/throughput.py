"""How long will a bench take here? A short probe of each (algo, map) at its resolved config,
cached per machine and software versions (docs/bench.md says what is timed and why the estimate is
a range).

Before a local bench starts, each (algo, map) pair it still has to run is probed for a few seconds
with the real Trainer, in a spawned process set up as a bench worker (whose own start is timed too):
runner steps under uniform exploration (which give the mean episode length), learner updates on
those episodes and on batches cut at the episode limit (the high end), one evaluation with its
checkpoint. Each piece is CPU seconds over the cores a run keeps busy, so other work on the machine
changes neither the figures nor the cache. A run of N env steps then takes, on free cores,

    process start + trainer start-up + N / n_envs * step + updates(N) * update + evaluations(N) * evaluation

A bench of several workers also times its costliest pair's learner in that many processes, alone
and at once, and scales every run by the ratio (and by workers * cores_per_run / cores beyond the
machine's cores). The cache is ~/.cache/mafac/throughput.json ($MAFAC_THROUGHPUT_CACHE), keyed by
host, CPU, versions, algorithm, map and the config keys that change a piece: delete it to measure
again.
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
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mafac.atomic import write_json

PHASE_SECONDS = 0.75  # wall seconds of each timed phase (with start-up and evaluations, ~5 s a pair)
MIN_STEPS, MIN_UPDATES = 20, 3
BUSY = 0.8  # a probe that got less of its cores than this says the machine was busy

# Config keys whose values change a measured piece (the others enter the formula above, or cost nothing).
COST_KEYS = {
    "env": ("backend", "map", "n_envs", "test_n_envs", "kwargs"),
    "agent": None,  # every key
    "mixer": None,
    "learner": ("kind", "precision", "batch_size", "td_lambda", "n_step", "double_q", "optimizer"),
    "online": None,
    "replay": ("obs_dtype",),
    "run": ("device", "torch_threads", "checkpoint"),
}

Pair = Tuple[str, str]  # (algo, map)
Say = Callable[[str], None]


@dataclass
class Throughput:
    """The measured pieces of one run's cost, in seconds of a machine whose cores are free."""

    step_s: float  # one runner step: n_envs env steps, the agents' forward pass, replay inserts
    update_s: float  # one learner update at the config's batch, on the probe's episodes
    update_limit_s: float  # the same on batches as long as the episode limit (the high end)
    episode_limit: int
    episode_length: float  # mean env steps per episode under uniform exploration
    eval_s: float  # one evaluation: greedy test episodes, metrics, checkpoint and replay shard
    process_s: float  # a worker process's own start: the interpreter and its imports
    startup_s: float  # building the trainer and both envs (from the JAX cache, or compiling them)
    cores: float  # the cores one run keeps busy (CPU seconds per wall second, at least 1)
    share: float  # the fraction of those the probe got (below 1: the machine was busy)
    probe_s: float  # how long the probe took, in wall seconds
    measured: str  # when (local time)

    def run_seconds(self, cfg: Dict[str, Dict[str, object]], steps: int, at_limit: bool = False) -> float:
        """Wall seconds of a run of `steps` env steps at `cfg` (a resolved config as a dict), alone
        on free cores; `at_limit`: every update at the episode limit (the high end)."""
        from mafac.config import OnlineConfig
        from mafac.online import LEARNERS

        learner = cfg["learner"]
        online = cfg.get("online") or dataclasses.asdict(OnlineConfig())
        updates = LEARNERS[learner.get("kind", "replay")].updates_for(learner, online,
                                                                    steps / max(self.episode_length, 1.0))
        evaluations = math.ceil(steps / int(cfg["run"]["test_interval"])) + 1
        return (self.process_s + self.startup_s + steps / int(cfg["env"]["n_envs"]) * self.step_s
                + updates * (self.update_limit_s if at_limit else self.update_s) + evaluations * self.eval_s)


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

    m, v = machine(), versions()
    return {"host": socket.gethostname(), "cpu": m["cpu"], "cores": m["cores"],
            **{k: v.get(k) for k in ("mafac", "torch", "jax", "jaxlib", "jaxmarl")}}


def cache_key(cfg: Dict[str, Dict[str, object]], machine: Optional[Dict[str, object]] = None, runs: int = 1) -> str:
    """A probe's key; with `runs` > 1, that of the concurrency factor of so many runs."""
    text = json.dumps({"machine": machine or machine_fields(), "cost": cost_fields(cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24] + (f"/corun{runs}" if runs > 1 else "")


def _load_cache() -> Dict[str, Dict[str, object]]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(data: Dict[str, object], entry: Dict[str, object], machine: Dict[str, object], say: Say,
           runs: int = 1) -> None:
    cache = _load_cache()  # another bench may have written meanwhile
    cache[cache_key(data, machine, runs)] = {"machine": machine, "cost": cost_fields(data), **entry}
    try:
        write_json(cache_path(), cache)
    except OSError as e:  # a read-only home: the estimate stands, the next bench probes again
        say(f"  warning: cannot cache the probe in {cache_path()}: {e}")


def measure_cached(pairs: Dict[Pair, object]) -> Dict[Pair, Throughput]:
    """The pairs the cache already holds (no probe); an entry of another layout is probed again."""
    machine, cache, out = machine_fields(), _load_cache(), {}
    for pair, cfg in pairs.items():
        try:
            out[pair] = Throughput(**cache[cache_key(cfg.to_dict(), machine)]["throughput"])  # type: ignore
        except (KeyError, TypeError):
            pass
    return out


def probe(cfg, seconds: float = PHASE_SECONDS, process_s: float = 0.0) -> Throughput:
    """Measure the pieces of `cfg`'s cost (a resolved Config) with a real Trainer in a scratch
    directory, where a bench's worker runs (`measure` spawns one): with the worker's thread limits."""
    import torch

    from mafac.trainer import Trainer

    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, tensorboard=False))
    began = time.monotonic()
    mark = [time.process_time(), time.monotonic()]

    def lap() -> Tuple[float, float]:  # CPU and wall seconds since the last lap
        cpu, wall = time.process_time(), time.monotonic()
        out = (cpu - mark[0], wall - mark[1])
        mark[:] = [cpu, wall]
        return out

    def timed(update, length, least_s: float) -> Tuple[int, float]:  # updates, CPU seconds
        n = 0
        while n < MIN_UPDATES or time.monotonic() - mark[1] < least_s:
            update(length)
            n += 1
        return n, lap()

    with tempfile.TemporaryDirectory(prefix="mafac-probe-") as scratch:
        trainer = Trainer(cfg, Path(scratch))
        try:
            trainer.runner.reset()
            trainer.runner.step(1.0)  # the first call loads (or compiles) the env's step
            trainer.test_and_record()  # and the test env's, and writes the first checkpoint
            startup = lap()
            lengths, steps = [], 0
            while steps < MIN_STEPS or not lengths or time.monotonic() - mark[1] < seconds:
                lengths += trainer.runner.step(1.0).lengths.tolist()
                steps += 1
                if steps >= 100_000 and not lengths:  # an env whose episodes outlast the probe
                    lengths = [steps]
            acting = lap()
            learner, size, limit = trainer.learner, trainer.learner.update_episodes(cfg), trainer.info.episode_limit

            def update(length) -> None:  # one update on stored episodes (repeats: few are stored)
                batch = trainer.buffer.gather(torch.randint(trainer.buffer.size, (size,)), length=length)
                learner.update_on(batch, len(lengths), steps)

            update(None)  # the first update warms torch up
            lap()
            updates, learning = timed(update, None, seconds)
            limit_updates, late = timed(update, limit, seconds / 2)
            trainer.test_and_record()
            evaluation = lap()
        finally:
            trainer.close()
    busy = (acting[0] + learning[0]) / (acting[1] + learning[1])
    cores = max(1.0, busy)
    return Throughput(step_s=acting[0] / cores / steps, update_s=learning[0] / cores / updates,
                      update_limit_s=max(learning[0] / updates, late[0] / limit_updates) / cores, episode_limit=limit,
                      episode_length=sum(lengths) / len(lengths), eval_s=evaluation[0] / cores, process_s=process_s,
                      startup_s=startup[0] / cores, cores=round(cores, 3), share=round(min(1.0, busy), 3),
                      probe_s=time.monotonic() - began, measured=time.strftime("%Y-%m-%d %H:%M:%S"))


def _spawned(target, args: Sequence[tuple]) -> Iterator[tuple]:
    """Run `target(*a, results)` for each `a` in spawned processes (JAX is not fork-safe); yield what
    they put on `results` until `None` arrives instead (every process is gone) or the caller stops."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    children = [ctx.Process(target=target, daemon=True, args=(*a, results)) for a in args]
    for child in children:
        child.start()
    try:
        while True:
            try:
                yield results.get(timeout=1.0)
            except queue_mod.Empty:
                if not all(c.is_alive() for c in children):
                    yield None, next(c.exitcode for c in children if not c.is_alive())
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=10)


def measure(pairs: Dict[Pair, object], say: Say, seconds: float = PHASE_SECONDS) -> Dict[Pair, "Measured"]:
    """Each (algo, map) -> its cached measurement, or a probe of its config (a resolved Config), all
    probes in one spawned process set up as a bench worker (mafac.benchmark.worker: one thread for
    XLA and OpenMP, a fresh interpreter whose imports are part of every run's cost). Each result is
    said and cached as it arrives; a pair whose probe fails is left out, with a line."""
    machine = machine_fields()
    out = {p: Measured(t, True) for p, t in measure_cached(pairs).items()}
    todo = [p for p in pairs if p not in out]
    if not todo:
        return out
    left = list(todo)
    for pair, result, *error in _spawned(_probe_child, [([(p, pairs[p].to_dict()) for p in todo], seconds)]):
        if pair is None:
            say(f"  the probe process died (exit code {result}) before probing "
                + ", ".join(f"{a} on {m}" for a, m in left))
            break
        pair = tuple(pair)
        left.remove(pair)
        if result is None:  # an estimate never costs the bench: the runs report their own errors
            say(f"  probe of {pair[0]} on {pair[1]} failed ({error[0]})")
        else:
            found = out[pair] = Measured(Throughput(**result), False)
            _report(pair, found.throughput, pairs[pair], len(todo) - len(left), len(todo), say)
            _store(pairs[pair].to_dict(), {"throughput": result}, machine, say)
        if not left:
            break
    return out


@dataclass
class Measured:
    """A pair's throughput and whether it came from the cache or a probe of this bench."""

    throughput: Throughput
    cached: bool


def _probe_child(todo: List[Tuple[Pair, Dict[str, object]]], seconds: float, results) -> None:
    """The probe process: a worker's thread limits, its imports (timed), then each pair."""
    from mafac.benchmark.worker import limit_threads

    limit_threads()
    from mafac.config import config_from_dict
    from mafac.envs import describe_env
    from mafac.errors import describe
    from mafac.trainer import Trainer  # noqa: F401  (imported as a worker imports it: part of its start)

    cfgs = [(pair, config_from_dict(data)) for pair, data in todo]
    for backend in dict.fromkeys(c.env.backend for _, c in cfgs):  # the simulator's own imports
        first = next(c for _, c in cfgs if c.env.backend == backend)
        describe_env(backend, first.env.map, first.env.kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for pair, cfg in cfgs:
        try:
            results.put((pair, dataclasses.asdict(probe(cfg, seconds, usage.ru_utime + usage.ru_stime)), None))
        except Exception as e:
            results.put((pair, None, describe(e)))


def measure_corun(candidates: Sequence[Tuple[Pair, object]], runs: int, say: Say,
                  seconds: float = PHASE_SECONDS) -> Optional[float]:
    """How much more CPU time a run takes while `runs` runs share the machine, measured: two vCPUs
    can be hyper-threads of one core, and cache and memory bandwidth are shared. `runs` processes
    build the learner of the costliest pair (`candidates`: (pair, resolved config), costliest
    first) and time its updates on batches of its shape, the first alone, then all at once; the
    ratio of CPU seconds per update is the factor (the learner is most of a run's time; no env is
    built, so this costs a few seconds). A cached factor of any candidate answers. None when the
    processes failed: the estimate then says so."""
    machine, cache = machine_fields(), _load_cache()
    for _, cfg in candidates:
        hit = cache.get(cache_key(cfg.to_dict(), machine, runs))  # type: ignore[attr-defined]
        if isinstance(hit, dict) and isinstance(hit.get("corun"), (int, float)):
            return float(hit["corun"])
    pair, cfg = candidates[0]
    say(f"  timing {runs} learners of {pair[0]} on {pair[1]} alone and at once: how much concurrent runs "
        f"slow each other here")
    import multiprocessing as mp

    data, barrier = cfg.to_dict(), mp.get_context("spawn").Barrier(runs)  # type: ignore[attr-defined]
    alone, together, error = None, [], None
    for phase, value in _spawned(_corun_child, [(i, data, seconds, barrier) for i in range(runs)]):
        if phase is None or phase == "error":
            error = value if phase else "a timing process died"
            break
        if phase == "alone":
            alone = value
        else:
            together.append(value)
            if len(together) == runs:
                break
    if error is not None or not alone:
        say(f"  the concurrent timing failed ({error}); the estimate assumes the runs do not slow each other")
        return None
    factor = max(1.0, sum(together) / len(together) / alone)
    _store(data, {"corun": factor}, machine, say, runs)
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
            results.put(("alone", timed()))
        barrier.wait(timeout=300)
        results.put(("together", timed()))
    except Exception as e:  # noqa: BLE001  (reported: the estimate goes on without the factor)
        from mafac.errors import describe

        results.put(("error", describe(e)))


def _report(pair: Pair, found: Throughput, cfg, done: int, total: int, say: Say) -> None:
    say(f"  probed {pair[0]} on {pair[1]} ({done}/{total}) in {found.probe_s:.1f} s: "
        f"{cfg.env.n_envs / found.step_s:,.0f} env steps/s acting, {found.update_s * 1000:.0f} ms/update, "
        f"{found.eval_s:.1f} s/evaluation"
        + (f" (it got {found.share:.0%} of a core: the machine is busy)" if found.share < BUSY else ""))


def contention(workers: int, cores_per_run: float, cores: Optional[int] = None) -> float:
    """How much slower each of `workers` concurrent runs goes than one alone: 1 while they fit the
    machine's cores, their ratio beyond."""
    return max(1.0, workers * cores_per_run / (cores or os.cpu_count() or 1))


def schedule_seconds(durations: Sequence[float], workers: int) -> float:
    """Greedy longest-first schedule of durations over `workers` slots (`longest_first`'s order)."""
    slots = [0.0] * max(1, workers)
    for d in sorted(durations, reverse=True):
        slots[slots.index(min(slots))] += d
    return max(slots)


@dataclass
class Estimate:
    """A bench's estimated wall time and the lines that say where it comes from."""

    seconds: Optional[Dict[str, float]]  # by run name, at the probe's batch lengths; None: unknown
    lines: List[str]
    high: Optional[Dict[str, float]] = None  # by run name, every batch at the episode limit


def estimate_bench(jobs: Sequence, cfgs: Dict[str, object], workers: int, skip: Optional[str], say: Say,
                   seconds: float = PHASE_SECONDS) -> Estimate:
    """The wall time of `jobs` (still to run, with their resolved Configs by run name) on `workers`
    slots of this machine: measured (probed, or from the cache), or unknown, with the reason: `skip`
    (why no probe may run: --no-probe, a remote executor), a backend too costly to probe, a probe
    that failed. Probes say their progress through `say`."""
    from mafac.envs import get_env_class

    if not jobs:
        return Estimate({}, ["  estimated wall time 0 s (every run is done)"])
    if skip:
        return Estimate(None, [f"  estimated wall time unknown ({skip})"])
    pairs: Dict[Pair, object] = {}
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
    low = {j.name: measured[(j.algo, j.map)].throughput.run_seconds(cfgs[j.name].to_dict(), j.steps)  # type: ignore
           for j in jobs}
    concurrent = min(workers, len(jobs))
    slow = contention(concurrent, max(m.throughput.cores for m in measured.values()))  # more runs than cores
    corun = None
    if concurrent > 1:  # measured on the pair that costs the bench most
        by_cost = {(j.algo, j.map): cfgs[j.name] for j in sorted(jobs, key=lambda j: -low[j.name])}
        corun = measure_corun(list(by_cost.items()), concurrent, say, seconds)
    scale = slow * (corun or 1.0)
    per_run = {k: v * scale for k, v in low.items()}
    per_run_high = {j.name: scale * measured[(j.algo, j.map)].throughput.run_seconds(  # type: ignore
        cfgs[j.name].to_dict(), j.steps, at_limit=True) for j in jobs}
    fresh = [m for m in measured.values() if not m.cached]
    old = sorted(m.throughput.measured[:10] for m in measured.values() if m.cached)
    source = []
    if fresh:
        source.append(f"a {time.monotonic() - began:.0f} s probe of {len(fresh)} (algo, map) pair(s) on this machine now")
    if old:
        source.append(f"{len(old)} cached probe(s) on this machine ({old[0]}"
                      f"{'' if old[-1] == old[0] else ' to ' + old[-1]}, {cache_path()})")
    if corun is not None:
        source.append(f"x{corun:.2f} measured for {concurrent} learners at once")
    elif concurrent > 1:
        source.append("the runs assumed not to slow each other")
    if slow > 1.0:
        source.append(f"x{slow:.2f} for {concurrent} runs sharing {os.cpu_count()} cores")
    total, high = (schedule_seconds(list(d.values()), workers) for d in (per_run, per_run_high))
    lines = [f"  estimated wall time {span(total, high)} on {workers} worker(s) (from {'; '.join(source)})",
             "    (the low end: batches as long as the probe's episodes; the high end: every batch as long as "
             "the episode limit, as late in training more episodes time out)"]
    share = min(m.throughput.share for m in measured.values())
    if share < BUSY:
        lines.append(f"    (a probe got {share:.0%} of its core: other work shares this machine; the estimate "
                     f"assumes free cores, so expect longer while that lasts)")
    for m in dict.fromkeys(j.map for j in jobs):
        on_map = [j for j in jobs if j.map == m]
        each = {}
        for j in on_map:
            each.setdefault(j.algo, (per_run[j.name], per_run_high[j.name]))
        lines.append(f"    {m}, runs of {'/'.join(f'{s:,}' for s in sorted({j.steps for j in on_map}))} env steps: "
                     + ", ".join(f"{a} ~{span(*s)}" for a, s in each.items()) + " each")
    return Estimate(per_run, lines, per_run_high)


def span(low: float, high: float) -> str:
    """'9-12 min', or one figure when the two round to the same."""
    a, b = duration(low), duration(high)
    if a == b:
        return a
    return f"{a.split()[0]}-{b}" if a.split()[1] == b.split()[1] else f"{a} to {b}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
