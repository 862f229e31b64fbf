"""One exception type for mistakes a user can fix.

The CLI turns a `MafacError` into one line on stderr and a non-zero exit, never a traceback,
so every message must name the bad value and, where there is a fixed set, the valid choices.
"""

from __future__ import annotations

from typing import Iterable


class MafacError(Exception):
    """A user-facing error: the message is printed as is, on one line."""


def unknown(kind: str, value: object, choices: Iterable[str]) -> MafacError:
    """The one wording for 'X is not one of the valid choices'."""
    listed = ", ".join(sorted(str(c) for c in choices)) or "(none)"
    return MafacError(f"unknown {kind} {value!r}; valid choices: {listed}")
