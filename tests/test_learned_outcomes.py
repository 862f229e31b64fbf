"""What training reaches on the matrix games, asserted as a rate over seeds, never one seed.

One seed's trajectory depends on floating point, which differs between CPUs: a single-seed test
passed on one machine and failed on another (QTRAN's (0, 0) at seed 0 on an AMD EPYC). Each claim
below was measured over 8 seeds with `python benchmarks/outcome_rates.py --seeds 8` (the claims,
their games and budgets are defined there, once) and is asserted with margin:

| claim | env steps | measured (seeds 0-7) | asserted (seeds 0-7) |
|---|---|---|---|
| QTRAN-base finds (0, 0) of qtran_game, payoff 8 | 10,000 | 8 / 8 (4 / 8 at 3k, 6 / 8 at 6k) | >= 6 |
| VDN misses (0, 0) (it cannot represent it under uniform data) | 3,000 | 8 / 8 | >= 7 |
| QMIX misses (0, 0) | 3,000 | 6 / 8 (also 6 / 8 at 6k and 10k) | >= 3 |
| OW-QMIX, CW-QMIX, QTRAN-alt find (0, 0), payoff 8 | 2,000 | 8 / 8 each | >= 6 each |
| QMIX's greedy return on two_step is 8 | 3,000 | 8 / 8 | >= 6 |
| VDN's greedy return on two_step is 7 | 3,000 | 8 / 8 | >= 6 |

If every seed succeeds with probability 0.95, a ">= 6 of 8" claim fails once in about 170 runs;
at the measured rates it is rarer still. The claims train in one process pool of 2 workers.
"""

from __future__ import annotations

import pytest

from benchmarks.outcome_rates import CLAIMS, rates

SEEDS = 8
AT_LEAST = {"qtran_optimum": 6, "vdn_misses": 7, "qmix_misses": 3, "ow_qmix_optimum": 6, "cw_qmix_optimum": 6,
            "qtran_alt_optimum": 6, "qmix_two_step": 6, "vdn_two_step": 6}


@pytest.fixture(scope="module")
def measured():
    return rates(list(AT_LEAST), SEEDS, workers=2)


@pytest.mark.slow
@pytest.mark.parametrize("claim", list(AT_LEAST))
def test_learned_outcome_rate(measured, claim):
    rows = measured[claim]
    held = sum(ok for _, ok, _, _ in rows)
    misses = [(seed, greedy, ret) for seed, ok, greedy, ret in rows if not ok]
    assert held >= AT_LEAST[claim], f"{CLAIMS[claim].says}: {held} of {SEEDS} seeds (misses: {misses})"


def test_claims_and_thresholds_agree():
    assert set(AT_LEAST) == set(CLAIMS) and all(1 <= n <= SEEDS for n in AT_LEAST.values())
