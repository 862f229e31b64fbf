"""The package version, in a module of its own so that any layer can read it without importing
the package face (mafac/__init__.py hands the API up)."""

__version__ = "0.1.0"
