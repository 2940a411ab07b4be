"""attrs converters shared by the frozen item, payload and declaration types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["frozen_mapping", "str_tuple"]


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``value`` (``None`` → empty)."""
    return MappingProxyType(dict(value or {}))


def str_tuple(value: Iterable[str] | str | None) -> tuple[str, ...]:
    """``None`` → ``()``, a single string → a 1-tuple, any other iterable → a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
