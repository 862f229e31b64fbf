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


def first_line(e: BaseException) -> str:
    """An exception's message cut to one line (YAML, torch and plugins raise multi-line ones)."""
    text = str(e).strip().splitlines()
    return text[0] if text else ""


def describe(e: BaseException) -> str:
    """`Type: first line of the message`: what a one-line failure report says about an exception."""
    text = first_line(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def no_space(e: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a full disk: ENOSPC, or a library's
    message of it (torch's writer reports the OS error as text)."""
    import errno

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False
