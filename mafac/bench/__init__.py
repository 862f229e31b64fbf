"""`mafac bench`: a grid of algorithms x maps x seeds, each cell one `train_run`, resumable."""

# `mafac.bench(...)` is the Python API's bench (mafac/callable_module.py says why)
from mafac.callable_module import make_callable  # noqa: E402

make_callable(__name__, "bench")
