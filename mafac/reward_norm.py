"""Reward standardisation for the TD targets (EPyMARL's `standardise_rewards`).

Sparse-reward tasks such as Level-Based Foraging pay a fraction of 1 once in hundreds of random
episodes; at that scale the rare reward barely moves Q values against the bootstrap noise, and the
greedy policy never finds food again. EPyMARL divides every reward by the running standard
deviation of all rewards seen (after subtracting their running mean), which turns the rare payoff
into a large one. The statistics are updated once per update, from the valid steps of its batch
(EPyMARL counts padded steps too), and are part of the learner's checkpoint, so a resumed run
standardises exactly as before. The agents and env never see the change: only the targets do.
"""

from __future__ import annotations

from typing import Dict

import torch


class RewardStandardiser:
    """Running mean and variance of the team reward (Chan et al.'s parallel merge), in float64."""

    def __init__(self, eps: float = 1e-4) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, eps  # EPyMARL's RunningMeanStd starts so

    def update(self, reward: torch.Tensor, mask: torch.Tensor) -> None:
        valid = reward[mask > 0].double()
        n = valid.numel()
        if n == 0:
            return
        b_mean, b_var = float(valid.mean()), float(valid.var(unbiased=False))
        delta, total = b_mean - self.mean, self.count + n
        m2 = self.var * self.count + b_var * n + delta ** 2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total

    def __call__(self, reward: torch.Tensor) -> torch.Tensor:
        return (reward - self.mean) / (self.var ** 0.5 + 1e-8)

    def state_dict(self) -> Dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])
