"""The ``"history"`` backend: ``DESCRIBE HISTORY`` (the only option on Spark Connect). It runs
Spark jobs and classifies data changes by operation name (:data:`MAINTENANCE_OPERATIONS`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kindling_core.spark.probe._types import CommitInfo, ProbeStatus, VersionInfo

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["MAINTENANCE_OPERATIONS", "SCHEMA_OPERATIONS", "_history_rows", "_history_commit", "_probe_history"]

#: Operations that change no data, for the ``history`` backend (which cannot see actions).
#: Any operation not listed counts as a data change (a false alarm beats a missed change).
MAINTENANCE_OPERATIONS = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "ADD COLUMNS",
        "CHANGE COLUMN",
        "CHANGE COLUMNS",
        "REPLACE COLUMNS",
        "RENAME COLUMN",
        "DROP COLUMNS",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "UPGRADE PROTOCOL",
        "UPGRADE SCHEMA",
        "REORG",
        "CLUSTER BY",
        "DROP FEATURE",
        "ADD FEATURE",
        "ROW TRACKING BACKFILL",
        "ROW TRACKING UNBACKFILL",
        "COMPUTE STATS",
        "CREATE BLOOM FILTER INDEX",
        "DROP BLOOM FILTER INDEX",
        "SET COLUMN TAGS",
        "UNSET COLUMN TAGS",
    }
)

#: Operations that change a table's columns without writing data, for the ``history`` backend
#: (which cannot read ``metaData``): it reports them as schema changes whose columns are not
#: known. An overwrite with ``overwriteSchema`` is a ``WRITE`` there, indistinguishable from a
#: plain overwrite.
SCHEMA_OPERATIONS = frozenset(
    {"ADD COLUMNS", "CHANGE COLUMN", "CHANGE COLUMNS", "REPLACE COLUMNS", "RENAME COLUMN", "DROP COLUMNS", "UPGRADE SCHEMA"}
)


def _history_rows(spark: SparkSession, location: str, since: int | None, limit: int | None) -> list[Any]:
    quoted = location.replace("`", "``")
    sql = f"DESCRIBE HISTORY delta.`{quoted}`" + (f" LIMIT {limit}" if limit is not None else "")
    frame = spark.sql(sql).selectExpr("version", "unix_millis(timestamp) AS ts", "operation")
    if since is not None:
        frame = frame.where(f"version > {int(since)}")
    return frame.orderBy("version", ascending=False).collect()


_MISSING_MARKERS = (
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_TABLE_NOT_FOUND",
    "PATH_NOT_FOUND",
    "is not a Delta table",
    "doesn't exist",
    "does not exist",
)


def _history_commit(row: Any) -> CommitInfo:
    operation = row["operation"]
    data_change = row["version"] == 0 or operation not in MAINTENANCE_OPERATIONS
    return CommitInfo(version=int(row["version"]), timestamp_ms=row["ts"], operation=operation, data_change=data_change)


def _probe_history(spark: SparkSession, location: str, since: int | None, max_scan: int) -> VersionInfo:
    try:
        rows = _history_rows(spark, location, since, None if since is not None else max_scan)
        if since is not None and not rows:
            rows = _history_rows(spark, location, None, 1)
            if rows and rows[0]["version"] < since:
                entry = _history_commit(rows[0])
                return VersionInfo(
                    location=location,
                    status=ProbeStatus.OK,
                    version=entry.version,
                    timestamp_ms=entry.timestamp_ms,
                    operation=entry.operation,
                    data_change=None,
                    recreated=True,
                    note=f"since={since} is ahead of the latest version {entry.version} (table recreated?)",
                    backend="history",
                )
            latest_only = True
        else:
            latest_only = False
    except Exception as exc:  # noqa: BLE001 - Spark's error, classified by its text below
        text = str(exc)
        if any(marker in text for marker in _MISSING_MARKERS):
            return VersionInfo(location=location, status=ProbeStatus.MISSING, backend="history")
        return VersionInfo(
            location=location,
            status=ProbeStatus.FAILED,
            error=f"{location}: DESCRIBE HISTORY failed: {text.splitlines()[0] if text else type(exc).__name__}",
            backend="history",
        )
    if not rows:
        return VersionInfo(location=location, status=ProbeStatus.MISSING, backend="history")
    entries = [_history_commit(row) for row in rows]
    top = entries[0]
    found = next((e.version for e in entries if e.data_change), None)
    if since is None:
        data_change: bool | None = top.data_change
        truncated = found is None and entries[-1].version > 0 and len(entries) < max_scan
    else:
        data_change = False if latest_only else found is not None
        if latest_only:
            found = None
        # History only lists commits whose JSON survives; a gap above `since` means cleanup.
        expected = top.version - since
        truncated = not latest_only and found is None and len(entries) < expected
        if truncated:
            data_change = None
    schema = [e for e in entries if e.operation in SCHEMA_OPERATIONS] if since is not None and not latest_only else []
    return VersionInfo(
        schema_version=schema[0].version if schema else None,
        schema_operations=tuple(e.operation for e in reversed(schema) if e.operation),
        location=location,
        status=ProbeStatus.OK,
        version=top.version,
        timestamp_ms=top.timestamp_ms,
        operation=top.operation,
        data_change=data_change,
        last_data_version=found,
        history_truncated=truncated,
        note="history truncated by log cleanup" if truncated else None,
        backend="history",
    )
