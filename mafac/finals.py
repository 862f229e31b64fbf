"""A run's final evaluation: many greedy episodes of its last policy, stored as final_eval.json.

The periodic evaluations (32 episodes by default) are for learning curves: at a win rate of 0.85
one of them is +-0.12 (95%), too coarse to say whether a method reached 0.95. The "absolute
metric" of the MARL evaluation protocol (Gorsane et al. 2022, marl-eval) is instead the final
policy evaluated over at least 10x the per-evaluation episodes. `mafac bench` runs it at the end of
every run (`--final-episodes`, default 10 x env.test_n_envs); `mafac train` when
`run.final_episodes` > 0; `benchmarks/final_eval.py` adds it to runs that lack it. All three call
`play_final`, with seeds from the run's own `final_episodes` stream (mafac/seeding.py), so the same
checkpoint gives the same figures whichever of them computed it.

The file keeps every episode's outcome (won, return, time-out, length), not just the means:
marl-eval bootstraps over them, a reader can recompute any rate, and a final evaluation of fewer
episodes is read off the stored one without the checkpoint (`first`): round r of play is seeded
from child r alone, so 128 episodes are exactly the first 128 of 320. A bench finished on one
machine and committed without checkpoints still gets its 128-episode finals on another.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from mafac.atomic import write_json
from mafac.errors import MafacError
from mafac.rundir import FINAL_EVAL_JSON
from mafac.runner import GreedyEpisodes, Runner
from mafac.seeding import RunSeeds

FINAL_EPISODES_FACTOR = 10


def default_episodes(cfg) -> int:
    """The final evaluation's episodes unless told: ten times the per-evaluation episodes
    (marl-eval's absolute metric)."""
    return FINAL_EPISODES_FACTOR * cfg.env.test_n_envs


def play_final(runner: Runner, seed: int, episodes: int) -> GreedyEpisodes:
    """`episodes` greedy episodes, in rounds of one episode per env, round r seeded from child r of
    the run's final_episodes stream."""
    seeds = RunSeeds(seed)
    rounds = -(-episodes // runner.n_envs)
    return GreedyEpisodes.concat([runner.play_greedy(seeds.final_episodes(r)) for r in range(rounds)]).first(episodes)


def record(run_dir: Path, played: GreedyEpisodes, env_steps: int, per_evaluation: int) -> Dict[str, object]:
    """Write final_eval.json (atomically) and return what it holds."""
    result = _result(played, env_steps, per_evaluation)
    write_json(Path(run_dir) / FINAL_EVAL_JSON, result)
    return result


def _result(played: GreedyEpisodes, env_steps: int, per_evaluation: int) -> Dict[str, object]:
    return {
        "episodes": int(len(played.won)), "env_steps": int(env_steps), "per_evaluation_episodes": int(per_evaluation),
        **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in played.summary().items()},
        "won": [int(x) for x in played.won], "returns": [round(float(x), 6) for x in played.returns],
        "aborted": [int(x) for x in played.aborted], "timed_out": [int(x) for x in played.timed_out],
        "length": [int(x) for x in played.length],
    }


def first(data: Optional[Dict[str, object]], episodes: int, per_evaluation: int) -> Optional[Dict[str, object]]:
    """The final evaluation of the first `episodes` of a stored one, as playing them would give it;
    None where it cannot be read off: fewer episodes stored, rounds of another size (each round is
    one episode per env, so the prefix property needs the same env.test_n_envs), or a file from
    before every per-episode field was kept. Returns were stored rounded to 1e-6, so test_return
    may differ from a replay's in the last digits; every rate is exact."""
    if data is None or int(data["episodes"]) < episodes or int(data.get("per_evaluation_episodes", -1)) != per_evaluation:
        return None
    if any(k not in data for k in _PER_EPISODE):
        return None
    played = GreedyEpisodes(*(np.asarray(data[k], dtype=t)[:episodes] for k, t in _PER_EPISODE.items()))
    return _result(played, int(data["env_steps"]), per_evaluation)


# GreedyEpisodes' fields, in order, with the dtype each is stored as
_PER_EPISODE = {"won": bool, "returns": np.float64, "timed_out": bool, "length": np.int64, "aborted": bool}


def read_final(run_dir: Path) -> Optional[Dict[str, object]]:
    """final_eval.json of a run, or None when there is none. A corrupt one is an error naming it."""
    path = Path(run_dir) / FINAL_EVAL_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        episodes, env_steps = int(data["episodes"]), int(data["env_steps"])
        won = np.asarray(data["won"], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MafacError(f"{path}: corrupt final evaluation ({type(e).__name__}: {e})")
    if episodes <= 0 or len(won) != episodes or env_steps < 0:
        raise MafacError(f"{path}: corrupt final evaluation ({len(won)} outcomes for {episodes} episodes)")
    return data


def is_current(data: Optional[Dict[str, object]], episodes: int, env_steps: int) -> bool:
    """Whether a stored final evaluation is of this many episodes of the policy at `env_steps`."""
    return data is not None and int(data["episodes"]) == episodes and int(data["env_steps"]) == env_steps


def stored(run_dir: Path, episodes: int, env_steps: int) -> Optional[Dict[str, object]]:
    """The run's final evaluation if it is of `episodes` episodes of the policy at `env_steps`; None
    when there is none, it is of another size or policy, or it is corrupt (then it is played again)."""
    try:
        data = read_final(run_dir)
    except MafacError:
        return None
    return data if is_current(data, episodes, env_steps) else None


def evaluate(run_dir: Path, runner: Runner, seed: int, episodes: int, env_steps: int,
             per_evaluation: int, keep_larger: bool = False) -> Dict[str, object]:
    """The run's final evaluation: the stored one if current, else played with `runner` and recorded.

    `keep_larger`: a stored evaluation of more episodes of the same policy stays on disk, and the
    smaller one is played and returned without being recorded. A bench asks for its own size (its
    table names it); a look at fewer episodes afterwards (benchmarks/final_eval.py --episodes 128 on
    a bench's 320) must not throw the bench's larger figure away."""
    try:
        old = read_final(run_dir)
    except MafacError:  # corrupt: played again, as `stored` does
        old = None
    if is_current(old, episodes, env_steps):
        return old  # type: ignore[return-value]
    larger = keep_larger and old is not None and int(old["env_steps"]) == env_steps and int(old["episodes"]) > episodes
    if larger:
        derived = first(old, episodes, per_evaluation)
        if derived is not None:
            return derived
    played = play_final(runner, seed, episodes)
    if larger:
        return _result(played, env_steps, per_evaluation)
    return record(run_dir, played, env_steps, per_evaluation)
