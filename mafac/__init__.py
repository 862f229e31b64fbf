"""mafac: cooperative multi-agent value factorisation (IQL, VDN, QMIX, QTRAN, ...) on SMAX/SMAC.

The Python API (see README, "Python API") is reachable from here, loaded on first use so that
`import mafac` stays instant and imports neither torch nor JAX:

    cfg = mafac.make_config("qmix", "3m", preset="fast", **{"learner.lr": 1e-3})
    metrics = mafac.train(cfg, out="results/runs/mine")
    data = mafac.load_results("results/mine")
"""

from mafac.version import __version__  # noqa: F401

__all__ = ["make_config", "train", "bench", "sweep", "evaluate", "render", "load_results"]


def __getattr__(name: str):
    """The API functions, from mafac.api on first use (so `import mafac` loads no torch, JAX or
    pandas). Modules are named for what they hold (trainer, benchmark, search, evaluation,
    rendering), so no submodule import ever replaces one of these names."""
    if name in __all__:
        import mafac.api as api

        return getattr(api, name)
    raise AttributeError(f"module 'mafac' has no attribute {name!r}")
