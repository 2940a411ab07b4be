"""attrs converters shared by the frozen item, payload and declaration types.

Both run once per field of every declaration (100,000 pipes is a supported size), so the
common inputs take a fast path: a tuple is returned as it is, and every empty mapping becomes
one shared read-only empty mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["frozen_mapping", "str_tuple"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``value`` (``None`` or empty → a shared read-only empty mapping)."""
    if not value:
        return _EMPTY
    return MappingProxyType(dict(value))


def str_tuple(value: Iterable[str] | str | None) -> tuple[str, ...]:
    """``None`` → ``()``, a single string → a 1-tuple, any other iterable → a tuple."""
    if type(value) is tuple:
        return value
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
