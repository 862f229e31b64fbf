"""Typed option sections: turning user-given values (YAML, --set strings) into dataclass fields.

Shared by the experiment config (mafac.config) and the env backends' own option dataclasses, so a
value is checked the same way wherever it is given, and a wrong one is a one-line error naming
the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping

from mafac.errors import MafacError, unknown


def coerce(key: str, value: Any, ftype: Any, owner: type) -> Any:
    """`value` as the field's type; strings from --set are parsed, anything ambiguous refused."""
    if isinstance(ftype, str):  # postponed annotations
        hints = typing.get_type_hints(owner)
        ftype = hints.get(key.split(".")[-1], Any)
    origin = typing.get_origin(ftype)
    args = typing.get_args(ftype)
    if origin is typing.Union and len(args) == 2 and type(None) in args:  # Optional[X]
        inner = args[0] if args[1] is type(None) else args[1]
        return None if value is None else coerce(key, value, inner, owner)
    if ftype is Any or origin in (dict, list, typing.Union) or ftype in (dict, list):
        return value
    try:
        if ftype is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("true", "1", "yes", "on"):
                    return True
                if low in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if ftype is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) else int(value)
        if ftype is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if ftype is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    tname = getattr(ftype, "__name__", str(ftype))
    raise MafacError(f"bad value {value!r} for {key}; expected {tname}")


def build_options(cls: type, data: Mapping[str, Any] | Any, prefix: str) -> Any:
    """An instance of the dataclass `cls` from a mapping (or another dataclass) of overrides.

    Unknown keys and badly typed values are one-line errors naming `prefix.key`; the section's own
    `check()` (if it has one) then validates the values together."""
    if isinstance(data, cls):
        out = dataclasses.replace(data)
    else:
        items = dataclasses.asdict(data) if dataclasses.is_dataclass(data) else dict(data or {})
        names = [f.name for f in dataclasses.fields(cls)]
        out = cls()
        for key, value in items.items():
            if key not in names:
                raise unknown("config key", f"{prefix}.{key}", [f"{prefix}.{n}" for n in names])
            set_option(out, key, value, prefix)
    check = getattr(out, "check", None)
    if callable(check):
        check()
    return out


def set_option(obj: Any, key: str, value: Any, prefix: str) -> None:
    """Set one field of the dataclass `obj`, coerced to its type; errors name `prefix.key`
    (just `key` for a top-level field, prefix "")."""
    ftype = {f.name: f.type for f in dataclasses.fields(obj)}[key]
    setattr(obj, key, coerce(f"{prefix}.{key}" if prefix else key, value, ftype, type(obj)))
