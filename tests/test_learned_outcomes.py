"""What training reaches on the matrix games, asserted as a rate over seeds, never one seed.

One seed's trajectory depends on floating point, which differs between CPUs: a single-seed test
passed on one machine and failed on another (QTRAN's (0, 0) at seed 0 on an AMD EPYC). Each claim
below was measured with `python benchmarks/outcome_rates.py --seeds 16` (the claims, their games
and budgets are defined there, once) and is asserted over seeds 0-7 with margin:

| claim | env steps | measured | asserted (seeds 0-7) | tier |
|---|---|---|---|---|
| VDN misses (0, 0) (it cannot represent it under uniform data) | 1,000 | 16 / 16 | >= 7 | CI |
| QTRAN-alt finds (0, 0), payoff 8 | 1,000 | 16 / 16 | >= 6 | CI |
| OW-QMIX finds (0, 0), payoff 8 | 1,000 | 16 / 16 | >= 6 | CI |
| VDN's greedy return on two_step is 7 | 1,000 | 16 / 16 | >= 6 | slow |
| CW-QMIX finds (0, 0), payoff 8 | 1,000 | 16 / 16 | >= 6 | slow |
| QMIX misses (0, 0) | 1,000 | 14 / 16 (6 / 8 at 3k, 6k and 10k) | >= 3 | slow |
| QTRAN-base finds (0, 0) of qtran_game, payoff 8 | 10,000 | 8 / 8 (4 / 8 at 3k, 6 / 8 at 6k) | >= 6 | slow |
| QMIX's greedy return on two_step is 8 | 3,000 | 8 / 8 | >= 6 | slow |
| online learner: VDN misses (0, 0) | 1,000 | 16 / 16 | >= 7 | slow |
| online learner: QMIX's greedy return on two_step is 8 | 6,000 | 15 / 16 (6 / 8 at 3k) | >= 6 | slow |

If every seed succeeds with probability 0.95, a ">= 6 of 8" claim fails once in about 170 runs;
at the measured rates it is rarer still. The CI tier's three claims (24 short trainings, about a
minute of one core) show the factorisation story at every commit: the additive mixer cannot reach
the non-monotonic optimum, two mixers built for it do. The slow tier (`pytest -m slow`) adds the
expensive ones: QTRAN-base needs 10k steps, and CW-QMIX repeats OW-QMIX's point. Each tier's claims
train in one process pool of 2 workers.
"""

from __future__ import annotations

import pytest

from benchmarks.outcome_rates import CLAIMS, rates

SEEDS = 8
CI_TIER = {"vdn_misses": 7, "qtran_alt_optimum": 6, "ow_qmix_optimum": 6}
SLOW_TIER = {"vdn_two_step": 6, "cw_qmix_optimum": 6, "qmix_misses": 3, "qtran_optimum": 6, "qmix_two_step": 6,
             "online_vdn_misses": 7, "online_qmix_two_step": 6}


def _check(rows, claim, at_least):
    held = sum(ok for _, ok, _, _ in rows)
    misses = [(seed, greedy, ret) for seed, ok, greedy, ret in rows if not ok]
    assert held >= at_least, f"{CLAIMS[claim].says}: {held} of {SEEDS} seeds (misses: {misses})"


@pytest.fixture(scope="module")
def ci_rates():
    return rates(list(CI_TIER), SEEDS, workers=2)


@pytest.fixture(scope="module")
def slow_rates():
    return rates(list(SLOW_TIER), SEEDS, workers=2)


@pytest.mark.parametrize("claim", list(CI_TIER))
def test_learned_outcome_rate(ci_rates, claim):
    _check(ci_rates[claim], claim, CI_TIER[claim])


@pytest.mark.slow
@pytest.mark.parametrize("claim", list(SLOW_TIER))
def test_expensive_learned_outcome_rate(slow_rates, claim):
    _check(slow_rates[claim], claim, SLOW_TIER[claim])


def test_claims_and_thresholds_agree():
    tiers = {**CI_TIER, **SLOW_TIER}
    assert not set(CI_TIER) & set(SLOW_TIER)
    assert set(tiers) == set(CLAIMS) and all(1 <= n <= SEEDS for n in tiers.values())
