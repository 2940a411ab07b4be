"""compare_schemas: two Delta schema strings -> the columns added, removed, renamed, retyped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kindling_core.dimensions.schema import compare_schemas
from kindling_core.plugin import SchemaChange


def field(name: str, data_type: Any = "string", *, column_id: int | None = None, nullable: bool = True) -> dict[str, Any]:
    metadata = {} if column_id is None else {"delta.columnMapping.id": column_id, "delta.columnMapping.physicalName": f"col-{column_id}"}
    return {"name": name, "type": data_type, "nullable": nullable, "metadata": metadata}


def schema(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "struct", "fields": list(fields)})


BEFORE = schema(field("customer_id", "long"), field("tier"))
MAPPED = schema(field("customer_id", "long", column_id=1), field("tier", column_id=2))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (BEFORE, schema(field("customer_id", "long"), field("tier"), field("region")), SchemaChange(added=("region",))),
        (MAPPED, schema(field("customer_id", "long", column_id=1)), SchemaChange(removed=("tier",))),
        (
            MAPPED,
            schema(field("customer_id", "long", column_id=1), field("level", column_id=2)),
            SchemaChange(renamed=(("tier", "level"),)),
        ),
        (BEFORE, schema(field("customer_id", "long"), field("level")), SchemaChange(removed=("tier",), added=("level",))),
        (BEFORE, schema(field("customer_id", "long"), field("tier", "integer")), SchemaChange(retyped=(("tier", "string", "integer"),))),
        (
            schema(field("address", {"type": "struct", "fields": [field("city")]})),
            schema(field("address", {"type": "struct", "fields": [field("city"), field("zip")]})),
            SchemaChange(retyped=(("address", "struct", "struct"),)),
        ),
    ],
    ids=["added", "dropped-with-column-mapping", "renamed-with-column-mapping", "renamed-by-overwrite", "retyped", "nested-field-added"],
)
def test_columns_added_removed_renamed_retyped(before: str, after: str, expected: SchemaChange) -> None:
    change = compare_schemas(before, after, version=4, operations=("ALTER",), with_data=True)
    assert change == SchemaChange(
        version=4,
        added=expected.added,
        removed=expected.removed,
        renamed=expected.renamed,
        retyped=expected.retyped,
        operations=("ALTER",),
        with_data=True,
    )


@pytest.mark.parametrize(
    "after",
    [MAPPED, schema(field("customer_id", "long", nullable=False), field("tier")), BEFORE],
    ids=["column-mapping-turned-on", "nullability-changed", "same"],
)
def test_the_same_columns_are_no_schema_change(after: str) -> None:
    assert compare_schemas(BEFORE, after, version=3) is None


@pytest.mark.parametrize(("before", "after"), [(None, MAPPED), (BEFORE, "{not json"), (BEFORE, '{"type": "struct"}')])
def test_a_schema_that_is_not_known_gives_a_change_whose_columns_are_not_known(before: str | None, after: str) -> None:
    change = compare_schemas(before, after, version=7, operations=("DROP COLUMNS",))
    assert change == SchemaChange(version=7, known=False, operations=("DROP COLUMNS",))
    assert change.incompatible
    assert change.describe() == "the schema changed at version 7 (DROP COLUMNS); the columns are not known"
