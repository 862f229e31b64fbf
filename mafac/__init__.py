"""mafac: cooperative multi-agent value factorisation (IQL, VDN, QMIX, QTRAN, ...) on SMAX/SMAC.

The Python API (see README, "Python API") is reachable from here, loaded on first use so that
`import mafac` stays instant and imports neither torch nor JAX:

    cfg = mafac.make_config("qmix", "3m", preset="fast", **{"learner.lr": 1e-3})
    metrics = mafac.train(cfg, out="results/runs/mine")
    data = mafac.load_results("results/mine")
"""

__version__ = "0.1.0"

__all__ = ["make_config", "train", "bench", "load_results"]


def __getattr__(name: str):
    if name in ("make_config", "load_results"):
        from mafac import api

        return getattr(api, name)
    if name in ("train", "bench"):  # modules made callable as the API functions (mafac/callable_module.py)
        import importlib

        return importlib.import_module(f"mafac.{name}")
    raise AttributeError(f"module 'mafac' has no attribute {name!r}")
