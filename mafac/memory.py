"""Will it fit? Peak memory of a run, estimated before it starts.

The replay is allocated with `torch.empty`, so the OS commits its pages only as episodes arrive:
an oversized run starts fine and is OOM-killed hours in (27m_vs_30m's 5000-episode replay is
19.9 GiB). So runs and benches check the estimate against the memory available up front and refuse
in one line with the figures and the fix, or fit `replay.capacity` to a `--memory` budget.

Estimate per run = replay at capacity (exact, from the field layout) + the learner's batch
activations (online and target GRU unrolls with their backward: a generous multiple of the
batch's float32 size) + the process itself (torch, JAX and the compiled env: 0.8 GiB measured on
3m, rounded up to 1 GiB, plus 16 MiB per agent: the compiled SMAX steps grow with the team, and a
smacv2_20_units run with a 64-episode replay peaked at 1.94 GiB against 1.78 GiB estimated without
it, 2.09 GiB with it; 3m's peak was 0.94 GiB, estimated 1.11 GiB).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from mafac.envs.base import EnvInfo
from mafac.errors import MafacError

GiB = 2 ** 30
PROCESS_BYTES = 1 * GiB
PROCESS_BYTES_PER_AGENT = 16 * 2 ** 20
ACTIVATION_FACTOR = 24  # floats kept per (step, agent, hidden unit) across both unrolls and backward


@dataclass
class RunMemory:
    replay: int  # bytes at capacity
    per_episode: int  # replay bytes per stored episode
    learner: int
    process: int = PROCESS_BYTES

    @property
    def total(self) -> int:
        return self.replay + self.learner + self.process


def estimate(info: EnvInfo, cfg) -> RunMemory:
    import torch

    from mafac.replay import _DTYPES, episode_fields

    fields = episode_fields(info, _DTYPES[cfg.replay.obs_dtype])
    per_episode = 8 + sum(math.prod(shape) * torch.empty((), dtype=dtype).element_size()  # 8: its length
                          for shape, dtype in fields.values())
    learner_cls = _learner_cls(cfg)
    steps = learner_cls.update_episodes(cfg) * (info.episode_limit + 1) * info.n_agents
    learner = steps * (ACTIVATION_FACTOR * cfg.agent.hidden_dim + 4 * info.n_actions + 2 * info.obs_dim) * 4
    process = PROCESS_BYTES + PROCESS_BYTES_PER_AGENT * info.n_agents
    return RunMemory(per_episode * learner_cls.buffer_capacity(cfg), per_episode, learner, process)


def _learner_cls(cfg):
    from mafac.online import LEARNERS

    return LEARNERS[cfg.learner.kind]


def _capacity(cfg) -> int:
    """Episodes the run's buffer holds (the online learner's holds one update's, not replay.capacity)."""
    return _learner_cls(cfg).buffer_capacity(cfg)


def available_bytes() -> int:
    """MemAvailable: what can be used without swapping (Linux); total physical memory elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parse_size(text: str) -> int:
    """'20G', '512M', '1.5GiB', '2000000000' -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", str(text).upper())
    if not m:
        raise MafacError(f"bad --memory {text!r}; expected a size such as 20G, 512M or 1.5GiB")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


def size(n: float) -> str:
    """Bytes as GiB, MiB below one GiB, KiB below one MiB."""
    return gib(n) if n >= GiB else f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n / 1024:.0f} KiB"


def fit_capacity(mem: RunMemory, budget_per_run: int) -> int:
    """The largest replay capacity whose run fits `budget_per_run` bytes."""
    return (budget_per_run - mem.learner - mem.process) // mem.per_episode


def check_fits(label: str, mem: RunMemory, capacity: int, workers: int = 1, budget: Optional[int] = None,
               bench: bool = False) -> None:
    """Refuse a run (or `workers` concurrent ones) that would not fit, naming the figures and the fixes."""
    limit = budget if budget is not None else available_bytes()
    need = workers * mem.total
    if need <= limit:
        return
    what = "budget" if budget is not None else "available memory"
    runs = f"{workers} workers x {gib(mem.total)}: " if workers > 1 else ""
    fit = fit_capacity(mem, limit // workers)
    fixes = []
    if fit >= 1:
        fixes.append(f"--set replay.capacity={fit} (now {capacity})")
    if workers > 1 and mem.total <= limit:
        fixes.append(f"--workers {max(1, limit // mem.total)}")
    if bench:
        fixes.append("--memory SIZE to fit replay.capacity to a budget")
    raise MafacError(f"{label} needs about {gib(need)} ({runs}replay {gib(mem.replay)} for {capacity} episodes, "
                     f"learner {gib(mem.learner)}, process {gib(mem.process)}) but the {what} is {gib(limit)}; "
                     f"use {' or '.join(fixes)}")


def _info(cfg, cache: dict):
    from mafac.envs import describe_env

    key = (cfg.env.backend, cfg.env.map, repr(cfg.env.kwargs))
    if key not in cache:
        cache[key] = describe_env(cfg.env.backend, cfg.env.map, cfg.env.kwargs)
    return cache[key]


def check_run(cfg) -> None:
    """`mafac train`: refuse a run that would not fit in the memory available now."""
    info = _info(cfg, {})
    if info is not None:
        check_fits(f"this run ({cfg.algo} on {cfg.env.map})", estimate(info, cfg), _capacity(cfg))


def plan_bench(cfgs: dict, workers: int, budget: Optional[int] = None) -> Optional[str]:
    """Check a bench's `workers` concurrent runs against the memory available (or `budget`,
    lowering each run's replay.capacity to fit it, in place); returns a line for the bench header."""
    cache: dict = {}
    mems = {}
    for name, cfg in cfgs.items():
        info = _info(cfg, cache)
        if info is None:
            continue
        mem = estimate(info, cfg)
        if budget is not None:
            fit = fit_capacity(mem, budget // workers)
            if fit < 1:
                raise MafacError(f"--memory {gib(budget)} cannot hold {workers} concurrent {name} runs even with "
                                 f"a one-episode replay (each needs {gib(mem.learner + mem.process)} besides it); "
                                 f"use fewer --workers or a larger --memory")
            if fit < cfg.replay.capacity:
                cfg.replay.capacity = fit
                mem = estimate(info, cfg)
        mems[name] = mem
    if not mems:
        return None
    worst = max(mems, key=lambda n: mems[n].total)
    concurrent = min(workers, len(mems))
    check_fits(f"this bench ({worst} and others)", mems[worst], _capacity(cfgs[worst]), concurrent, budget,
               bench=True)
    return (f"  memory: up to {gib(concurrent * mems[worst].total)} at once ({concurrent} x {worst}: replay "
            f"{gib(mems[worst].replay)} for {_capacity(cfgs[worst])} episodes)")


@dataclass
class RunDisk:
    replay: int  # bytes of replay shards at most: every stored episode
    checkpoint: int  # bytes of one checkpoint: the networks, their targets and optimizer moments

    @property
    def total(self) -> int:
        return self.replay + 2 * self.checkpoint  # a new checkpoint is written beside the old one


def estimate_disk(cfg, cache: Optional[dict] = None) -> Optional[RunDisk]:
    """The disk a run's directory needs at most (None: a backend that cannot be described
    without starting it). No checkpoint (run.checkpoint=false): nothing but the small files."""
    info = _info(cfg, {} if cache is None else cache)
    if info is None:
        return None
    if not cfg.run.checkpoint:
        return RunDisk(0, 0)
    from mafac.agent import build_agent
    from mafac.mixers import get_mixer

    agent, mixer = build_agent(info, cfg.agent), get_mixer(cfg.algo)(info, cfg.mixer, cfg.agent.hidden_dim)
    params = sum(p.numel() * p.element_size() for net in (agent, mixer) for p in net.parameters())
    return RunDisk(estimate(info, cfg).replay, 4 * params)  # online, target, Adam's two moments


def disk_bytes(cfg) -> int:
    found = estimate_disk(cfg)
    return 0 if found is None else found.total


def plan_disk(cfgs: dict) -> Optional[str]:
    """The bench header's disk line: what its runs' directories need at most."""
    cache: dict = {}
    disks = {name: d for name, d in ((n, estimate_disk(c, cache)) for n, c in cfgs.items()) if d is not None}
    if not disks:
        return None
    worst = max(disks, key=lambda n: disks[n].total)
    d = disks[worst]
    return (f"  disk: up to {size(sum(x.total for x in disks.values()))} for {len(disks)} run(s) ({worst}: replay "
            f"{size(d.replay)} for {_capacity(cfgs[worst])} episodes, checkpoint {size(d.checkpoint)})")
