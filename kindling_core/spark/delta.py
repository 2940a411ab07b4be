"""Reading and writing entities on Spark: Delta tables by path or catalog name, other formats.

:class:`EntityIO` is bound to one SparkSession and one project root (relative entity paths
are resolved against it). Writes are atomic per call (one Delta commit), so a failed or
cancelled write leaves the table at its previous version.

Semantics of :meth:`EntityIO.write`:

``overwrite`` / ``append``
    a Delta ``overwrite`` / ``append`` of the DataFrame;
``merge``
    upsert on the entity's ``merge_keys`` (``whenMatchedUpdateAll`` /
    ``whenNotMatchedInsertAll``); an entity without merge keys is an error before any work;

and in every mode: a missing table is created (with the declared schema, or the DataFrame's,
the declared partitioning and, when ``change_data_feed`` is set,
``delta.enableChangeDataFeed``; without a declared schema or table properties the first write
itself creates it, and a first ``merge`` inserts every row); an existing table whose schema conflicts with the
DataFrame's is an error naming the columns, raised before anything is written (set the
entity's ``options={"mergeSchema": "true"}`` to evolve it instead). With ``txn=`` (a
:class:`~kindling_core.spark.txn.DeltaTxn`) a write in any mode is idempotent: Delta skips it
when the table already holds that transaction (how streaming sinks get exactly-once batches).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kindling_core.errors import KindlingError
from kindling_core.model import Entity
from kindling_core.spark.session import is_connect_session
from kindling_core.spark.txn import DeltaTxn

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "EntityIO",
    "EntityIOError",
    "EntityMissingError",
    "SchemaConflictError",
    "MergeKeysMissingError",
    "LocationNotWritableError",
    "NotADataFrameError",
    "is_dataframe",
    "resolve_location",
]


class EntityIOError(KindlingError):
    """Reading or writing an entity failed. ``entity`` and ``location`` name it."""

    def __init__(self, message: str, *, entity: str, location: str | None = None, **kwargs: Any):
        self.entity = entity
        self.location = location
        kwargs.setdefault("culprit", entity)
        super().__init__(message, **kwargs)


class EntityMissingError(EntityIOError):
    """An input entity does not exist (no Delta table at its location)."""


class SchemaConflictError(EntityIOError):
    """The DataFrame's schema conflicts with the existing table's. ``columns`` lists them."""

    def __init__(self, message: str, *, columns: Sequence[str], **kwargs: Any):
        self.columns = tuple(columns)
        super().__init__(message, **kwargs)


class MergeKeysMissingError(EntityIOError):
    """``write="merge"`` on an entity that declares no ``merge_keys``."""


class LocationNotWritableError(EntityIOError):
    """The entity's location cannot be written (permissions, a file in the way)."""


class NotADataFrameError(EntityIOError):
    """A pipe returned something that is not a Spark DataFrame."""


def is_dataframe(value: object) -> bool:
    """True for classic and Spark Connect DataFrames."""
    try:
        from pyspark.sql import DataFrame
    except ImportError:  # pragma: no cover - no pyspark at all
        return False
    return isinstance(value, DataFrame)


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file:")


def _local_path(location: str) -> Path:
    return Path(location[len("file:") :] if location.startswith("file:") else location)


def resolve_location(entity: Entity, root: Path) -> str:
    """Where ``entity`` lives: a local ``path`` made absolute against ``root`` (the project
    root), a remote path (``abfss://``, ``s3a://``...) as given, else the catalog table name."""
    if entity.path is None:
        return entity.table  # type: ignore[return-value]
    if not _is_local(entity.path):
        return entity.path
    path = _local_path(entity.path)
    return str(path if path.is_absolute() else (root / path).resolve())


def _type_text(data_type: Any) -> str:
    return data_type.simpleString()


def _sql_name(entity: Entity, location: str) -> str:
    """The entity as a SQL table reference: its catalog name, else ``delta.`<path>```."""
    if entity.table is not None:
        return entity.table
    return "delta.`" + location.replace("`", "``") + "`"


class EntityIO:
    """Entity reads and writes on one SparkSession (see the module doc for semantics)."""

    def __init__(self, spark: SparkSession, *, root: Path | None = None) -> None:
        self.spark = spark
        self.root = (root or Path.cwd()).resolve()

    # ------------------------------------------------------------------ locations

    def location(self, entity: Entity) -> str:
        """Absolute storage location for ``path`` entities, the table name otherwise."""
        return resolve_location(entity, self.root)

    def exists(self, entity: Entity) -> bool:
        """Whether the entity's table exists (a Delta log at the path / a catalog table)."""
        if entity.table is not None:
            return bool(self.spark.catalog.tableExists(entity.table))
        location = self.location(entity)
        if entity.format != "delta":
            return _local_path(location).exists() if _is_local(location) else True
        if _is_local(location):
            return (_local_path(location) / "_delta_log").is_dir()
        if is_connect_session(self.spark):
            # DeltaTable.isDeltaTable on Connect needs the Delta Connect server plugin.
            try:
                self.spark.sql(f"DESCRIBE DETAIL {_sql_name(entity, location)}").collect()
            except Exception:  # noqa: BLE001 - not a Delta table, or nothing at the location
                return False
            return True
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, location))

    # ------------------------------------------------------------------ reads

    def read(self, entity: Entity, *, streaming: bool = False) -> DataFrame:
        """A DataFrame over the entity (a streaming one when ``streaming``)."""
        if entity.format == "delta" and not self.exists(entity):
            raise EntityMissingError(
                f"entity {entity.id!r} has no table at {self.location(entity)}",
                entity=entity.id,
                location=self.location(entity),
                remedy="run the pipe that produces it first, or create the table",
            )
        reader: Any = self.spark.readStream if streaming else self.spark.read
        reader = reader.format(entity.format)
        read_options = {k: str(v) for k, v in entity.options.items() if not k.startswith(("write.", "change."))}
        if read_options and entity.format != "delta":
            reader = reader.options(**read_options)
        if entity.table is not None:
            return reader.table(entity.table)
        return reader.load(self.location(entity))

    def schema_of(self, entity: Entity) -> StructType | None:
        """The existing table's schema, or ``None`` when the table does not exist."""
        if not self.exists(entity):
            return None
        return self.read(entity).schema

    # ------------------------------------------------------------------ writes

    def write(
        self, entity: Entity, frame: Any, mode: str, *, pipe: str | None = None, txn: DeltaTxn | None = None
    ) -> None:
        """Write ``frame`` to ``entity`` with ``mode`` (``overwrite`` | ``append`` | ``merge``).

        ``txn`` makes the write idempotent (Delta tables): the commit carries the transaction
        ``(txn.app_id, txn.version)``, and the write is skipped -- nothing committed, no
        error -- when the table already holds a version ``>= txn.version`` for that app id.
        Appends and overwrites pass it as writer options; a merge through this session's
        settings, set only for the merge (see :mod:`kindling_core.spark.txn`).
        """
        mode = str(mode)
        who = f"pipe {pipe!r}" if pipe else "the writer"
        if not is_dataframe(frame):
            raise NotADataFrameError(
                f"{who} returned {type(frame).__name__} for entity {entity.id!r}; expected a Spark DataFrame",
                entity=entity.id,
                remedy="return the DataFrame to write (for example `return orders.join(customers, 'id')`)",
            )
        if mode == "merge" and not entity.merge_keys:
            raise MergeKeysMissingError(
                f"{who} merges into entity {entity.id!r}, which declares no merge_keys",
                entity=entity.id,
                location=self.location(entity),
                remedy=f"declare app.entity({entity.id!r}, ..., merge_keys=['id']) or write with 'overwrite'/'append'",
            )
        location = self.location(entity)
        self._check_writable(entity, location)
        options = {
            k[len("write.") :] if k.startswith("write.") else k: str(v)
            for k, v in entity.options.items()
            if not k.startswith("change.")  # change detection settings (kindling_core.dimensions.spec)
        }
        evolve = options.get("mergeSchema", "").lower() == "true" or options.get("overwriteSchema", "").lower() == "true"
        existing = self.schema_of(entity) if entity.format == "delta" else None
        partition = bool(entity.partition_by) and entity.format != "delta"
        if existing is None and entity.format == "delta":
            if entity.schema is not None or entity.change_data_feed:
                self.create(entity, frame.schema)  # declared schema / table properties first
                existing = self.schema_of(entity)
            else:
                # The first write creates the table (one commit instead of two); a merge into
                # a table that does not exist yet is an insert of every row.
                mode, partition = ("overwrite" if mode == "merge" else mode), bool(entity.partition_by)
        if existing is not None and not evolve:
            self._check_schema(entity, existing, frame.schema, mode, who)
        if mode == "merge":
            with txn.session_settings(self.spark) if txn is not None else contextlib.nullcontext():
                self._merge(entity, frame)
            return
        if txn is not None:
            options.update(txn.writer_options())
        writer = frame.write.format(entity.format).mode(mode)
        if options:
            writer = writer.options(**options)
        if partition:
            writer = writer.partitionBy(*entity.partition_by)
        if entity.table is not None:
            writer.saveAsTable(entity.table)
        else:
            writer.save(location)

    def create(self, entity: Entity, frame_schema: StructType) -> None:
        """Create the entity's Delta table if missing (declared schema, else ``frame_schema``)."""
        declared = entity.schema
        if isinstance(declared, str):
            from pyspark.sql.types import StructType

            declared = StructType.fromDDL(declared)
        schema = declared if declared is not None else frame_schema
        if is_connect_session(self.spark):
            # DeltaTable's builders on Connect need the Delta Connect server plugin
            # (io.delta:delta-connect-server), which plain Connect servers lack; SQL only
            # needs the Delta SQL extension.
            sql = f"CREATE TABLE IF NOT EXISTS {_sql_name(entity, self.location(entity))} ({schema.toDDL()}) USING delta"
            if entity.partition_by:
                sql += " PARTITIONED BY (" + ", ".join(f"`{c}`" for c in entity.partition_by) + ")"
            if entity.change_data_feed:
                sql += " TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"
            self.spark.sql(sql)
            return
        from delta.tables import DeltaTable

        builder = DeltaTable.createIfNotExists(self.spark)
        builder = builder.tableName(entity.table) if entity.table is not None else builder.location(self.location(entity))
        builder = builder.addColumns(schema)
        if entity.partition_by:
            builder = builder.partitionedBy(*entity.partition_by)
        if entity.change_data_feed:
            builder = builder.property("delta.enableChangeDataFeed", "true")
        builder.execute()

    def _check_writable(self, entity: Entity, location: str) -> None:
        if entity.path is None or not _is_local(location):
            return
        path = _local_path(location)
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        problem = None
        if probe.exists() and not probe.is_dir():
            problem = f"{probe} is a file, not a folder"
        elif not os.access(probe, os.W_OK | os.X_OK):
            problem = f"{probe} is not writable by this process"
        if problem:
            raise LocationNotWritableError(
                f"cannot write entity {entity.id!r} at {location}: {problem}",
                entity=entity.id,
                location=location,
                remedy="point the entity's path at a writable folder, or fix the permissions",
            )

    def _check_schema(self, entity: Entity, existing: StructType, incoming: StructType, mode: str, who: str) -> None:
        current = {f.name.lower(): f for f in existing.fields}
        new = {f.name.lower(): f for f in incoming.fields}
        problems: list[str] = []
        columns: list[str] = []
        for name, field in new.items():
            if name not in current:
                problems.append(f"new column {field.name} {_type_text(field.dataType)}")
                columns.append(field.name)
            elif _type_text(current[name].dataType) != _type_text(field.dataType):
                problems.append(
                    f"column {field.name} is {_type_text(current[name].dataType)} in the table but "
                    f"{_type_text(field.dataType)} in the output"
                )
                columns.append(field.name)
        if mode == "merge":
            for key in entity.merge_keys:
                if key.lower() not in new:
                    problems.append(f"merge key {key} is missing from the output")
                    columns.append(key)
        if problems:
            raise SchemaConflictError(
                f"{who} output conflicts with the schema of entity {entity.id!r} at "
                f"{self.location(entity)}: {'; '.join(problems)}",
                entity=entity.id,
                location=self.location(entity),
                columns=columns,
                remedy="make the output match the table, or set options={'mergeSchema': 'true'} on the "
                "entity to evolve the table's schema",
            )

    def _merge(self, entity: Entity, frame: Any) -> None:
        condition = " AND ".join(f"t.`{key}` = s.`{key}`" for key in entity.merge_keys)
        if is_connect_session(self.spark):
            # DeltaTable.forPath/forName on Connect needs the Delta Connect server plugin;
            # MERGE INTO only needs the Delta SQL extension. spark.sql runs the command eagerly.
            self.spark.sql(
                f"MERGE INTO {_sql_name(entity, self.location(entity))} AS t USING {{source}} AS s "
                f"ON {condition} WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                source=frame,
            )
            return
        from delta.tables import DeltaTable

        target = (
            DeltaTable.forName(self.spark, entity.table)
            if entity.table is not None
            else DeltaTable.forPath(self.spark, self.location(entity))
        )
        (
            target.alias("t")
            .merge(frame.alias("s"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
