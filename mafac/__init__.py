"""mafac: cooperative multi-agent value factorisation (IQL, VDN, QMIX, QTRAN) on SMAX/SMAC."""

__version__ = "0.1.0"
