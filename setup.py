"""Packaging. Built-in algorithms and env backends are published as entry points from
mafac/builtin_plugins.py, the same mechanism a user's plugin package uses."""

import runpy
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
builtins = runpy.run_path(str(HERE / "mafac" / "builtin_plugins.py"))["ENTRY_POINTS"]
version = runpy.run_path(str(HERE / "mafac" / "version.py"))["__version__"]

entry_points = {"console_scripts": ["mafac = mafac.cli:main"]}
GYM = ["gymnasium>=1.0", "pettingzoo>=1.24", "lbforaging==2.0.0", "rware==2.0.0"]
for group, items in builtins.items():
    entry_points[group] = [f"{name} = {target}" for name, target in items.items()]

setup(
    name="mafac",
    version=version,
    description="Cooperative multi-agent value factorisation (IQL, VDN, QMIX, QTRAN, QPLEX, WQMIX, Qatten) on SMAX and SMAC",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mafac", "mafac.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1,<=2.13.0",  # 2.13.0 is the tested CPU build; a newer one pulls CUDA wheels
        "numpy>=1.26",
        "pandas>=2.0,<3",  # rliable's arch dependency fails under pandas 3
        "seaborn>=0.13",
        "matplotlib>=3.7",
        "click>=8.1",
        "pyyaml>=6",
        "tqdm>=4.66",
        "rliable==1.2.0",
        "arch<8",
        "jaxmarl==0.2.0",  # SMAX, the embedded SMAC simulator (tested version)
        "jax>=0.4.25",
    ],
    extras_require={
        # ray: the bench tests run the Ray executor for real; tensorboard, wandb: their tests read the
        # files they write
        "dev": ["pytest>=7", "pytest-xdist>=3.5", "ray>=2.9", "tensorboard>=2.14", "wandb>=0.19.10", "optuna>=3.4", "ruff>=0.5",
                "mkdocs-material>=9", "mkdocstrings[python]>=0.24", *GYM],
        "docs": ["mkdocs-material>=9", "mkdocstrings[python]>=0.24"],  # mkdocs build / serve
        "ray": ["ray>=2.9"],
        "sweep": ["optuna>=3.4"],  # mafac sweep
        "gym": GYM,  # --env gym: Gymnasium / PettingZoo envs, LBF and RWARE at the versions EPyMARL's benchmark uses today
        "tensorboard": ["tensorboard>=2.14"],  # run.tensorboard=true (torch's SummaryWriter needs it)
        "wandb": ["wandb>=0.19.10"],  # run.wandb=true (0.19.10: reinit="create_new", a run per Trainer)
        # SMAC is not on PyPI under its own name (PyPI's `smac` is an unrelated optimiser):
        # install it from its repository, see README "Real StarCraft II".
        "sc2": ["smac @ git+https://github.com/oxwhirl/smac.git", "pysc2>=3.0", "protobuf<5"],
    },
    entry_points=entry_points,
)
