"""The id rule shared by entities and pipes, and the canonical form used by fingerprints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kindling_core.model.errors import InvalidIdError

__all__ = ["ID_RULE", "ID_RE", "is_valid_id", "check_id", "canonical"]

#: The rule every entity and pipe id follows, quoted by :class:`InvalidIdError`.
ID_RULE = (
    "ids are one or more dot-separated segments, each lowercase ASCII letters, digits and "
    "underscores starting with a letter (for example 'bronze.orders' or 'silver.order_lines')"
)

ID_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")


def is_valid_id(value: object) -> bool:
    """True when ``value`` is a well-formed entity/pipe id."""
    return isinstance(value, str) and ID_RE.match(value) is not None


def _suggest(value: str) -> str | None:
    fixed = re.sub(r"[^a-z0-9_.]+", "_", value.strip().lower())
    fixed = re.sub(r"\.+", ".", fixed).strip("._")
    fixed = ".".join(seg.strip("_") for seg in fixed.split("."))
    return fixed if is_valid_id(fixed) else None


def check_id(value: object, *, kind: str, where: str = "id", declaration: str | None = None) -> str:
    """Return ``value`` if it is a valid id, else raise :class:`InvalidIdError` stating the rule."""
    if is_valid_id(value):
        return value  # type: ignore[return-value]
    suggestion = _suggest(value) if isinstance(value, str) else None
    hint = f" Did you mean {suggestion!r}?" if suggestion and suggestion != value else ""
    if where == "id":
        head = f"invalid {kind} id {value!r}"
    else:
        head = f"invalid {kind} id {value!r} in {where} of pipe {declaration!r}"
    raise InvalidIdError(
        f"{head}: {ID_RULE}.{hint}",
        kind=kind,
        value=value,
        where=where,
        declaration=declaration if isinstance(declaration, str) else None,
        culprit=repr(value),
        remedy="rename it following the id rule",
    )


def canonical(value: Any) -> Any:
    """A deterministic, hashable-by-repr form of metadata values (for fingerprints).

    Mappings become sorted tuples of pairs, sets sorted tuples, enums their value; objects with
    a ``json()`` method (Spark ``StructType``) their JSON text; anything else its ``repr``.
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(repr(canonical(v)) for v in value))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    enum_value = getattr(value, "value", None)
    if enum_value is not None and type(value).__module__.startswith("kindling_core"):
        return enum_value
    to_json = getattr(value, "json", None)
    if callable(to_json):
        try:
            return ("json", to_json())
        except Exception:  # noqa: BLE001 - pragma: no cover - opaque objects
            pass
    return ("repr", repr(value))


def as_id_tuple(values: Iterable[str] | str, *, kind: str, where: str, declaration: str) -> tuple[str, ...]:
    """Validate a list of ids given for field ``where``; a bare string is one id."""
    if isinstance(values, str):
        values = (values,)
    result = tuple(values)
    for index, value in enumerate(result):
        check_id(value, kind="entity", where=f"{where}[{index}]", declaration=declaration)
    return result
