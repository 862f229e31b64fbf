"""Every built-in algorithm's loss terms, TD targets and gradients on fixed inputs equal what was
recorded (tests/golden_losses.py --write) before the mixer interface was redesigned: the design
changed, the numbers did not."""

from __future__ import annotations

import pytest
import torch

from golden_losses import ALGOS, GOLDEN, compute

RECORDED = torch.load(GOLDEN, weights_only=False)


@pytest.mark.parametrize("algo", ALGOS)
def test_loss_targets_and_gradients_equal_the_recording(algo):
    want, got = RECORDED[algo], compute(algo)
    assert got["total"] == pytest.approx(want["total"], rel=1e-5, abs=1e-6)
    assert got["stats"].keys() == want["stats"].keys()
    for key, value in want["stats"].items():
        assert got["stats"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    torch.testing.assert_close(got["targets"], want["targets"], rtol=1e-5, atol=1e-6)
    assert [g[0] for g in got["grads"]] == [g[0] for g in want["grads"]]  # the same trainable shapes
    for (shape, s1, n1), (_, s2, n2) in zip(got["grads"], want["grads"]):
        assert (s1, n1) == pytest.approx((s2, n2), rel=1e-5, abs=1e-6), shape
