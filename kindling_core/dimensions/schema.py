"""Comparing two Delta schemas (``metaData.schemaString``, Spark's JSON of a ``StructType``)
into a :class:`~kindling_core.items.SchemaChange`: columns added, removed, renamed, retyped.

Top-level columns only; a change inside a struct column shows as that column retyped. Types
are compared without nullability and field metadata (``nullable``, ``containsNull``,
``valueContainsNull``, ``metadata``), so turning column mapping on, which adds ids and
physical names to every field's metadata, changes no column. When both schemas carry column
mapping ids (``delta.columnMapping.id``) columns are matched by id, so a rename is a rename;
otherwise by name, and a rename shows as one column removed and one added. Pyspark-free.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kindling_core.items import SchemaChange

__all__ = ["compare_schemas", "COLUMN_MAPPING_ID"]

#: The field metadata key holding a column's id under column mapping.
COLUMN_MAPPING_ID = "delta.columnMapping.id"
_IGNORED = ("nullable", "containsNull", "valueContainsNull", "metadata")


def _shape(data_type: Any) -> Any:
    """A type without nullability and field metadata."""
    if isinstance(data_type, dict):
        return {key: _shape(value) for key, value in data_type.items() if key not in _IGNORED}
    if isinstance(data_type, list):
        return [_shape(value) for value in data_type]
    return data_type


def _type_name(data_type: Any) -> str:
    """Spark's short name of a type: ``string``, ``decimal(10,2)``, ``struct``, ``array``..."""
    if isinstance(data_type, str):
        return data_type
    if isinstance(data_type, dict):
        return str(data_type.get("type", "?"))
    return str(data_type)


def _fields(schema: str) -> list[dict[str, Any]] | None:
    try:
        parsed = json.loads(schema)
    except ValueError:
        return None
    fields = parsed.get("fields") if isinstance(parsed, dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        return None
    return fields


def _key(field: dict[str, Any], by_id: bool) -> Any:
    return field["metadata"][COLUMN_MAPPING_ID] if by_id else field["name"]


def _has_id(field: dict[str, Any]) -> bool:
    metadata = field.get("metadata")
    return isinstance(metadata, dict) and COLUMN_MAPPING_ID in metadata


def compare_schemas(
    before: str | None,
    after: str | None,
    *,
    version: int | None = None,
    operations: Sequence[str] = (),
    with_data: bool = False,
) -> SchemaChange | None:
    """How the columns changed from ``before`` to ``after`` (schema JSON strings); ``None``
    when no column did. When either is missing or not a schema, the change is reported with
    ``known=False``: the log said the schema changed at ``version`` but not how."""
    old = _fields(before) if before is not None else None
    new = _fields(after) if after is not None else None
    if old is None or new is None:
        return SchemaChange(version=version, known=False, operations=tuple(operations), with_data=with_data)
    by_id = all(_has_id(field) for field in old + new)
    old_by = {_key(field, by_id): field for field in old}
    new_by = {_key(field, by_id): field for field in new}
    removed = tuple(old_by[key]["name"] for key in old_by if key not in new_by)
    added = tuple(new_by[key]["name"] for key in new_by if key not in old_by)
    renamed: list[tuple[str, str]] = []
    retyped: list[tuple[str, str, str]] = []
    for key, field in new_by.items():
        previous = old_by.get(key)
        if previous is None:
            continue
        if previous["name"] != field["name"]:
            renamed.append((previous["name"], field["name"]))
        if _shape(previous.get("type")) != _shape(field.get("type")):
            retyped.append((field["name"], _type_name(previous.get("type")), _type_name(field.get("type"))))
    if not (removed or added or renamed or retyped):
        return None
    return SchemaChange(
        version=version,
        added=added,
        removed=removed,
        renamed=tuple(renamed),
        retyped=tuple(retyped),
        operations=tuple(operations),
        with_data=with_data,
    )
