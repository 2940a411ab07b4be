"""Schema changes in a range of commits: which commits after ``since`` changed the table's
schema string (``metaData.schemaString``), and the schema before and after them.

The schema in effect at a version is that of the newest ``metaData`` action at or below it:
found by reading commits downwards, or in a checkpoint at or below it (a checkpoint holds the
table's ``metaData``). Only read when a commit in the range has a ``metaData`` action, which
most polls do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kindling_core.spark.probe._commits import _checkpoint_files, _json_actions, _metadata_fields, _parquet_actions
from kindling_core.spark.probe._types import CommitInfo, _Failed

__all__ = ["_metadata_at", "_schema_changes"]

#: (schemaString, table id) of a table at some version.
_Metadata = tuple[str, "str | None"]
_METADATA_COLUMNS = {"metaData": ("id", "schemaString")}


def _checkpoint_metadata(read: Callable[[str], bytes | None], location: str, files: Sequence[str]) -> _Metadata | None:
    """The ``metaData`` of a checkpoint (``None`` when none is found or it cannot be read)."""
    for name in files:
        where = f"{location}/_delta_log/{name}"
        try:
            raw = read(name)
            if raw is None:
                return None
            actions = _json_actions(raw, where) if name.endswith(".json") else _parquet_actions(raw, where, _METADATA_COLUMNS)
            for kind, body in actions:
                if kind == "metaData" and isinstance(body, dict):
                    return _metadata_fields(body, where)
        except _Failed:  # no pyarrow, a corrupt file: the schema before is not known
            return None
    return None


def _metadata_at(
    version: int,
    *,
    commit: Callable[[int], CommitInfo | None],
    names: Sequence[str],
    read: Callable[[str], bytes | None],
    location: str,
    max_scan: int,
) -> _Metadata | None:
    """The table's schema string and id at ``version``: from the newest commit at or below it
    with a ``metaData`` action, or a checkpoint met on the way down; ``None`` when a commit
    needed was cleaned up or ``max_scan`` commits were read without an answer."""
    for current in range(version, max(-1, version - max_scan), -1):
        entry = commit(current)
        if entry is not None and entry.schema_string is not None:
            return entry.schema_string, entry.table_id
        prefix = f"{current:020d}.checkpoint"
        checkpoint = _checkpoint_files(name for name in names if name.startswith(prefix))
        if checkpoint is not None:
            return _checkpoint_metadata(read, location, checkpoint[1])
        if entry is None:
            return None
    return None


def _schema_changes(entries: Sequence[CommitInfo], before: Callable[[int], _Metadata | None]) -> dict[str, Any]:
    """The :class:`VersionInfo` schema fields for the commits ``entries`` (ascending, all the
    commits after ``since``); ``before(version)`` gives the metadata at a version."""
    meta = [entry for entry in entries if entry.schema_string is not None]
    if not meta:
        return {}
    prior = before(meta[0].version - 1)
    schema, table_id = prior if prior is not None else (None, None)
    changed: int | None = None
    operations: list[str] = []
    recreated = False
    for entry in meta:
        if entry.table_id is not None and table_id is not None and entry.table_id != table_id:
            recreated = True
        if entry.schema_string != schema:
            changed = entry.version
            operations.append(entry.operation or "unknown operation")
        schema, table_id = entry.schema_string, entry.table_id or table_id
    out: dict[str, Any] = {"recreated": recreated} if recreated else {}
    if changed is not None:
        out.update(
            schema_version=changed,
            schema_operations=tuple(operations),
            schema_before=prior[0] if prior is not None else None,
            schema_after=meta[-1].schema_string,
        )
    return out
