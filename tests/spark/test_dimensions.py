"""The dimension watcher on real Delta tables (kindling_core.spark.dimensions): the batched probe
sees an append and ignores OPTIMIZE without running a Spark job, and reports metadata-only
schema changes with their columns; the change-data-feed detector
ignores updates to columns or rows of no interest and reports a relevant one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kindling_core.dimensions import restart_need
from kindling_core.errors import PluginItemError
from kindling_core.model import Entity
from kindling_core.plugin import ChangeKind, ChangeReport, SchemaChange
from kindling_core.spark.dimensions import ChangeFeedError, dimension_watcher
from kindling_core.spark.probe import probe_versions
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app

pytestmark = pytest.mark.spark


def _jobs(spark: SparkSession) -> int:
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # type: ignore[union-attr]


def _app(spark: SparkSession, entity: Entity, recorder: RecordingErrorHandler | None = None):
    app = make_app([FakeEntryPoint("recorder", recorder)] if recorder else None).use_spark(spark)
    app.catalog.add(entity)
    app.catalog.add_pipe(
        "silver.enriched",
        func=lambda orders, dim: orders,
        inputs=["bronze.orders", entity.id],
        output="silver.enriched",
        mode="streaming",
        dimensions=[entity.id],
    )
    return app


def test_version_poll_sees_an_append_and_ignores_optimize_without_a_spark_job(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "customers")
    rows = spark.createDataFrame([(1, "ann"), (2, "bob")], "id INT, name STRING")
    rows.write.format("delta").save(path)
    app = _app(spark, Entity("dim.customers", path=path, kind="dimension"))
    changes: list[ChangeReport] = []
    watcher = dimension_watcher(app, on_change=changes.append)

    before = _jobs(spark)
    assert watcher.poll_once().baselines == ("dim.customers",)
    assert _jobs(spark) == before  # the probe reads _delta_log directly

    spark.sql(f"OPTIMIZE delta.`{path}`").collect()
    before = _jobs(spark)
    assert watcher.poll_once().changes == ()
    assert _jobs(spark) == before

    spark.createDataFrame([(3, "cy")], "id INT, name STRING").write.format("delta").mode("append").save(path)
    result = watcher.poll_once()
    assert [(c.entity, c.from_version, c.to_version, c.detector) for c in result.changes] == [("dim.customers", 0, 2, "version-poll")]
    assert "version 2 changed data (WRITE" in changes[0].reason
    assert (changes[0].kind, changes[0].schema) == (ChangeKind.DATA, None)


def test_version_poll_reports_metadata_only_schema_changes_with_their_columns(spark: SparkSession, tmp_path: Path) -> None:
    """ALTER TABLE ADD / RENAME / DROP COLUMN commit metadata only (no data change), yet each is
    reported as a schema change naming its columns, read from the log without a Spark job;
    turning column mapping on (a property and protocol change) is no change."""
    path = str(tmp_path / "customers")
    table = f"delta.`{path}`"
    spark.createDataFrame([(1, "bronze", "ann")], "id INT, tier STRING, name STRING").write.format("delta").save(path)
    app = _app(spark, Entity("dim.customers", path=path, kind="dimension"))
    watcher = dimension_watcher(app)
    watcher.poll_once()

    def alter(statement: str) -> tuple[ChangeReport, ...]:
        spark.sql(f"ALTER TABLE {table} {statement}")
        before = _jobs(spark)
        result = watcher.poll_once()
        assert _jobs(spark) == before
        return result.changes

    assert alter("ADD COLUMNS (region STRING)")[0].schema == SchemaChange(version=1, added=("region",), operations=("ADD COLUMNS",))
    mapping = "'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5'"
    assert alter(f"SET TBLPROPERTIES ({mapping})") == ()
    (renamed,) = alter("RENAME COLUMN name TO full_name")
    assert renamed.schema == SchemaChange(version=3, renamed=(("name", "full_name"),), operations=("RENAME COLUMN",))
    (dropped,) = alter("DROP COLUMN tier")
    assert (dropped.kind, dropped.from_version, dropped.to_version) == (ChangeKind.SCHEMA, 3, 4)
    assert dropped.schema == SchemaChange(version=4, removed=("tier",), operations=("DROP COLUMNS",))
    assert dropped.reason == "version 4 changed the schema (DROP COLUMNS): column(s) removed: tier (no data changed)"
    assert restart_need(dropped, app.catalog.entities["dim.customers"]).needed
    # Spark Connect's DESCRIBE HISTORY backend sees the operation, not the columns
    history = probe_versions(spark, [path], since={path: 3}, backend="history")[path]
    assert (history.schema_version, history.schema_operations, history.schema_before) == (4, ("DROP COLUMNS",), None)


def test_change_data_feed_ignores_irrelevant_updates_and_reports_a_relevant_one(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "customers_cdf")
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id INT, name STRING, tier STRING, region STRING) USING delta "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (1, 'ann', 'silver', 'EU'), (2, 'bob', 'silver', 'US')")
    recorder = RecordingErrorHandler()
    options = {"change.detector": "change-data-feed", "change.columns": ["tier"], "change.predicate": "region = 'EU'"}
    app = _app(spark, Entity("dim.customers", path=path, kind="dimension", options=options), recorder)
    changes: list[ChangeReport] = []
    watcher = dimension_watcher(app, on_change=changes.append)
    watcher.poll_once()  # baseline at version 1

    spark.sql(f"UPDATE delta.`{path}` SET name = 'anna' WHERE id = 1")  # an EU row, a column of no interest
    spark.sql(f"UPDATE delta.`{path}` SET tier = 'gold' WHERE id = 2")  # the column of interest, a US row
    assert watcher.poll_once().changes == ()
    assert changes == [] and recorder.errors == []

    spark.sql(f"UPDATE delta.`{path}` SET tier = 'gold' WHERE id = 1")
    (change,) = watcher.poll_once().changes
    assert (change.from_version, change.to_version, change.detector) == (1, 4, "change-data-feed")
    assert change.rows is not None and (change.rows.from_version, change.rows.updated, change.rows.inserted) == (4, 1, 0)
    assert "1 updated row(s) in columns tier where region = 'EU'" in change.reason


def test_change_data_feed_names_a_column_the_table_does_not_have(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "customers_typo")
    spark.sql(f"CREATE TABLE delta.`{path}` (id INT, tier STRING) USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    recorder = RecordingErrorHandler()
    options = {"change.detector": "change-data-feed", "change.columns": ["teir"]}
    app = _app(spark, Entity("dim.customers", path=path, kind="dimension", options=options), recorder)
    watcher = dimension_watcher(app)
    watcher.poll_once()
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (1, 'gold')")
    assert watcher.poll_once().skipped == ("dim.customers",)
    (error,) = recorder.errors
    assert isinstance(error, PluginItemError) and isinstance(error.__cause__, ChangeFeedError)
    assert "options['change.columns'] names column 'teir', which the table at" in str(error)
    assert "Did you mean 'tier'?" in str(error)
