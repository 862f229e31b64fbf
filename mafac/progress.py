"""The progress bar a single run shows (`mafac train`, `mafac.train(progress=True)`): tqdm on
stderr, fed by the Trainer's Progress callbacks. Kept apart from the CLI so that the API below it
needs no click."""

from __future__ import annotations

import sys


class progress_bar:
    """A tqdm bar fed by the trainer's Progress callbacks: env steps, episodes, win rate, epsilon, ETA."""

    def __init__(self, total: int, disable: bool = False) -> None:
        self.total, self.disable = total, disable
        self.bar = None

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit="step", unit_scale=True, dynamic_ncols=True,
                        disable=self.disable, file=sys.stderr, smoothing=0.05,
                        mininterval=0.5 if sys.stderr.isatty() else 30.0)
        return self

    def __call__(self, p) -> None:
        bar = self.bar
        bar.update(p.env_steps - bar.n)
        if bar.n % 2000 < 64 or p.env_steps >= p.t_max:
            win = "-" if p.test_win_rate is None else f"{p.test_win_rate:.2f}"
            bar.set_postfix_str(f"ep {p.episodes:,} | test win {win} | eps {p.epsilon:.2f}", refresh=False)

    def __exit__(self, *exc) -> None:
        self.bar.close()
