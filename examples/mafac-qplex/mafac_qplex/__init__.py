"""mafac-qplex: the QPLEX duplex dueling mixer as a mafac plugin.

Registered by pyproject.toml under the entry-point group `mafac.mixers` as `qplex`; after
`pip install -e examples/mafac-qplex` it is `mafac train --algo qplex`, `mafac bench --algos qplex`.
"""

from mafac_qplex.qplex import QPLEXConfig, QPLEXMixer

__version__ = "0.1.0"
__all__ = ["QPLEXConfig", "QPLEXMixer"]
