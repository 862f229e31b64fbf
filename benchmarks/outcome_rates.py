"""How often each learned matrix-game outcome the tests rely on happens, over many seeds.

A learned outcome (a greedy joint action, a greedy return) is a property of a distribution over
seeds, not of one seed: floating point differs between CPUs, so one seed's trajectory passing on
one machine says little about another. This trains every claim's setting for seeds 0..N-1 and
prints the rate; tests/test_learned_outcomes.py asserts a threshold below each measured rate (the
table in its docstring comes from here).

    python benchmarks/outcome_rates.py [--seeds 8] [--workers 2] [--only qtran_optimum,...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Tuple


@dataclass(frozen=True)
class Claim:
    """One learned outcome: `algo` on `game` for `steps` env steps (matrix preset, uniform
    exploration, the papers' setting) satisfies `holds(greedy joint action, greedy return)`."""

    algo: str
    game: str
    steps: int
    holds: Callable[[Tuple[int, ...], float], bool]
    says: str
    overrides: Tuple[str, ...] = ()  # on top of the matrix preset (the online learner's claims)


def _optimum(greedy, ret):
    return tuple(greedy) == (0, 0) and abs(ret - 8.0) < 1e-4


# 16 envs of one-step games: an update every 2 env steps of 32 episodes, 2 epochs x 2 minibatches
ONLINE = ("learner.kind=online", "online.episodes_per_update=32", "agent.layer_norm=true")

CLAIMS: Dict[str, Claim] = {
    "qtran_optimum": Claim("qtran", "qtran_game", 10000, _optimum, "QTRAN-base finds (0, 0), payoff 8"),
    "vdn_misses": Claim("vdn", "qtran_game", 1000, lambda g, r: tuple(g) != (0, 0), "VDN misses (0, 0)"),
    "qmix_misses": Claim("qmix", "qtran_game", 1000, lambda g, r: tuple(g) != (0, 0), "QMIX misses (0, 0)"),
    "ow_qmix_optimum": Claim("ow_qmix", "qtran_game", 1000, _optimum, "OW-QMIX finds (0, 0), payoff 8"),
    "cw_qmix_optimum": Claim("cw_qmix", "qtran_game", 1000, _optimum, "CW-QMIX finds (0, 0), payoff 8"),
    "qtran_alt_optimum": Claim("qtran_alt", "qtran_game", 1000, _optimum, "QTRAN-alt finds (0, 0), payoff 8"),
    "qmix_two_step": Claim("qmix", "two_step", 3000, lambda g, r: abs(r - 8.0) < 1e-4, "QMIX's greedy return is 8"),
    "vdn_two_step": Claim("vdn", "two_step", 1000, lambda g, r: abs(r - 7.0) < 1e-4, "VDN's greedy return is 7"),
    # the online learner (mafac/online.py): the same outcomes without replay or target network
    "online_vdn_misses": Claim("vdn", "qtran_game", 1000, lambda g, r: tuple(g) != (0, 0),
                               "online VDN misses (0, 0)", ONLINE),
    "online_qmix_two_step": Claim("qmix", "two_step", 6000, lambda g, r: abs(r - 8.0) < 1e-4,
                                  "online QMIX's greedy return is 8", ONLINE),
}


def outcome(name: str, seed: int, steps: int | None = None) -> Tuple[bool, Tuple[int, ...], float]:
    """Train one seed of a claim (for `steps`, default the claim's); (holds, greedy joint action,
    greedy return)."""
    from mafac.analysis.qtables import joint_q_tables
    from mafac.config import build_config
    from mafac.trainer import Trainer

    claim = CLAIMS[name]
    cfg = build_config(algo=claim.algo, map_name=claim.game, seed=seed, preset="matrix",
                       overrides=[f"run.t_max={steps or claim.steps}", "run.checkpoint=false", "exploration.uniform=true",
                                  "run.test_interval=100000", *claim.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp)
        try:
            trainer.run()
            greedy = tuple(int(a) for a in joint_q_tables(trainer).greedy)
            ret = float(trainer.rows[-1]["test_return"])
        finally:
            trainer.close()
    return bool(claim.holds(greedy, ret)), greedy, ret


def _job(args):
    return args, outcome(*args)


def rates(names, seeds, workers: int = 2, steps: int | None = None) -> Dict[str, list]:
    """{claim: [(seed, holds, greedy, return), ...]} over seeds 0..seeds-1, `workers` processes."""
    jobs = [(n, s, steps) for n in names for s in range(seeds)]
    out: Dict[str, list] = {n: [] for n in names}
    # spawn, not fork: the caller (a pytest session) may hold JAX's and torch's threads already
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for (name, seed, _), (ok, greedy, ret) in pool.map(_job, jobs):
            out[name].append((seed, ok, greedy, ret))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default=",".join(CLAIMS))
    ap.add_argument("--steps", type=int, default=None, help="env steps for every claim (default: each claim's own)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    start = time.monotonic()
    result = rates(names, args.seeds, args.workers, args.steps)
    print("| claim | algo | game | env steps | seeds holding | misses (seed: greedy, return) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        c, rows = CLAIMS[name], result[name]
        misses = "; ".join(f"{s}: {g}, {r:g}" for s, ok, g, r in rows if not ok) or "none"
        print(f"| {c.says} | {c.algo} | {c.game} | {args.steps or c.steps} | {sum(ok for _, ok, _, _ in rows)} / {len(rows)} | {misses} |")
    print(f"({time.monotonic() - start:.0f} s, {args.workers} workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
