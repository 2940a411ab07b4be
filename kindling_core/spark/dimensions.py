"""The Spark side of dimension watching: the batched version probe and the Change Data Feed
reader that :class:`~kindling_core.dimensions.watcher.DimensionWatcher` is given.

:class:`DeltaChangeSource` is bound to one SparkSession and project root:

* :meth:`~DeltaChangeSource.probe` is the watcher's ``probe``: one
  :meth:`DeltaVersionProbe.latest <kindling_core.spark.probe.DeltaVersionProbe.latest>` call for
  all the watched tables (``_delta_log`` read directly, no Spark job for local and Hadoop
  paths), answers converted to :class:`~kindling_core.items.TableVersion` (a commit that
  changed the schema string becomes ``TableVersion.schema``, the columns compared by
  :func:`~kindling_core.dimensions.schema.compare_schemas`);
* :meth:`~DeltaChangeSource.read_changes` is the watcher's ``read_changes``: it reads
  ``readChangeFeed`` for ``from_version .. to_version`` and counts, in at most two Spark jobs,
  the inserted and deleted rows matching the predicate and the updated rows whose columns of
  interest changed. An update's pre- and post-images are compared on those columns (per commit
  version, as multisets): an update that leaves them as they were is not counted; one that
  moves a row into or out of the predicate counts.

:func:`dimension_watcher` builds a watcher of an app's dimensions on the app's session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kindling_core._names import did_you_mean
from kindling_core.dimensions.schema import compare_schemas
from kindling_core.errors import KindlingError
from kindling_core.items import ChangeReport, ChangeRows, TableStatus, TableVersion
from kindling_core.model import Entity
from kindling_core.spark.delta import EntityIO
from kindling_core.spark.probe import DeltaVersionProbe, VersionInfo

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from kindling_core.app import App
    from kindling_core.dimensions import DimensionWatcher

__all__ = ["DeltaChangeSource", "ChangeFeedError", "dimension_watcher", "CHANGE_FEED_COLUMNS"]

#: The metadata columns ``readChangeFeed`` adds to a table's own columns.
CHANGE_FEED_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


class ChangeFeedError(KindlingError):
    """The Change Data Feed of a dimension could not be read or filtered as asked: a column of
    interest that the table does not have, a predicate Spark cannot parse, or a feed that is not
    enabled (or was cleaned up) for the versions asked. ``entity`` names the dimension."""

    def __init__(self, message: str, *, entity: str, **kwargs: Any):
        self.entity = entity
        kwargs.setdefault("culprit", f"dimension {entity!r}")
        super().__init__(message, **kwargs)


def _table_version(info: VersionInfo) -> TableVersion:
    schema = None
    if info.schema_version is not None:
        schema = compare_schemas(
            info.schema_before,
            info.schema_after,
            version=info.schema_version,
            operations=info.schema_operations,
            with_data=bool(info.data_change),
        )
    return TableVersion(
        status=TableStatus(info.status.value),
        location=info.location,
        version=info.version,
        data_change=info.data_change,
        last_data_version=info.last_data_version,
        operation=info.operation,
        timestamp_ms=info.timestamp_ms,
        error=info.error,
        note=info.note,
        schema=schema,
        recreated=info.recreated,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class DeltaChangeSource:
    """The version probe and Change Data Feed reader of Delta dimensions on ``spark`` (see the
    module docstring). ``root`` resolves relative entity paths; ``backend`` is the probe's."""

    def __init__(self, spark: SparkSession, *, root: Path | None = None, backend: str = "auto") -> None:
        self.spark = spark
        self.io = EntityIO(spark, root=root)
        self._probe = DeltaVersionProbe(spark, backend=backend)

    def probe(self, entities: Sequence[Entity], since: Mapping[str, int]) -> dict[str, TableVersion]:
        """One batched probe of ``entities`` (Delta tables with ``path=``), keyed by entity id."""
        locations = {entity.id: self.io.location(entity) for entity in entities}
        asked = {key: version for key, version in since.items() if key in locations}
        return {key: _table_version(info) for key, info in self._probe.latest(locations, since=asked).items()}

    def read_changes(
        self,
        entity: Entity,
        from_version: int,
        to_version: int,
        columns: Sequence[str] | None = None,
        predicate: str | None = None,
    ) -> ChangeRows:
        """Count the relevant change rows of ``entity`` in ``from_version .. to_version``."""
        from pyspark.sql import functions as F

        location = self.io.location(entity)
        span = f"versions {from_version}..{to_version}"
        try:
            feed = (
                self.spark.read.format("delta")
                .option("readChangeFeed", "true")
                .option("startingVersion", from_version)
                .option("endingVersion", to_version)
                .load(location)
            )
            table_columns = [c for c in feed.columns if c not in CHANGE_FEED_COLUMNS]
        except Exception as exc:
            raise self._unreadable(entity, location, span, exc) from exc
        wanted = list(columns) if columns else table_columns
        for column in wanted:
            if column not in table_columns:
                raise ChangeFeedError(
                    f"dimension {entity.id!r}: options['change.columns'] names column {column!r}, which the table at "
                    f"{location} does not have.{did_you_mean(str(column), table_columns)} Columns: {', '.join(table_columns)}.",
                    entity=entity.id,
                    remedy="list columns of the table in change.columns, or leave it out to watch every column",
                )
        kind = F.col("_change_type")
        try:
            matches = F.expr(predicate) if predicate else F.lit(True)
            counts = feed.groupBy(kind).agg(F.count(F.lit(1)).alias("read"), F.count(F.when(matches, 1)).alias("hits"))
            by_kind = {row["_change_type"]: (row["read"], row["hits"]) for row in counts.collect()}
        except Exception as exc:
            if predicate and any(token in str(exc).upper() for token in ("PARSE", "UNRESOLVED", "CANNOT RESOLVE")):
                raise ChangeFeedError(
                    f"dimension {entity.id!r}: options['change.predicate'] = {predicate!r} is not a condition on the "
                    f"table's columns: {_first_line(exc)}",
                    entity=entity.id,
                    remedy=f"write a SQL condition over the columns {', '.join(table_columns)}, such as \"region = 'EU'\"",
                ) from exc
            raise self._unreadable(entity, location, span, exc) from exc
        read = sum(total for total, _ in by_kind.values())
        inserted = by_kind.get("insert", (0, 0))[1]
        deleted = by_kind.get("delete", (0, 0))[1]
        updated = 0
        if by_kind.get("update_preimage", (0, 0))[1] or by_kind.get("update_postimage", (0, 0))[1]:
            images = feed.where(kind.isin("update_preimage", "update_postimage") & matches)
            side = F.when(kind == "update_postimage", 1).otherwise(-1)
            net = images.groupBy("_commit_version", *wanted).agg(F.sum(side).alias("net")).where("net != 0")
            row = net.agg(
                F.sum(F.when(F.col("net") > 0, F.col("net"))).alias("gained"),
                F.sum(F.when(F.col("net") < 0, -F.col("net"))).alias("lost"),
            ).collect()[0]
            updated = max(row["gained"] or 0, row["lost"] or 0)
        return ChangeRows(from_version=from_version, to_version=to_version, inserted=inserted, deleted=deleted, updated=updated, read=read)

    @staticmethod
    def _unreadable(entity: Entity, location: str, span: str, exc: BaseException) -> ChangeFeedError:
        return ChangeFeedError(
            f"cannot read the change data feed of dimension {entity.id!r} at {location} for {span}: {_first_line(exc)}",
            entity=entity.id,
            remedy="enable it on the table (declare the entity with change_data_feed=True, or "
            "ALTER TABLE ... SET TBLPROPERTIES (delta.enableChangeDataFeed = true)), or watch the dimension "
            "with options={'change.detector': 'version-poll'}",
        )


def dimension_watcher(
    app: App,
    *,
    on_change: Callable[[ChangeReport], None] | None = None,
    dimensions: Iterable[str] | None = None,
    clock: Callable[[], float] | None = None,
) -> DimensionWatcher:
    """A :class:`~kindling_core.dimensions.DimensionWatcher` of ``app``'s dimensions, probing and
    reading change feeds on ``app.spark`` (relative paths against the project root)."""
    from kindling_core.dimensions import DimensionWatcher

    source = DeltaChangeSource(app.spark, root=app.config.root)
    extra = {} if clock is None else {"clock": clock}
    return DimensionWatcher.from_app(
        app, probe=source.probe, read_changes=source.read_changes, on_change=on_change, dimensions=dimensions, **extra
    )
