"""What a running stream-static join sees when its Delta dimension changes (no restart).

Orders stream from a Delta table and are joined on ``customer_id`` to a ``customers`` dimension
read with ``spark.read.format("delta").load(path)`` (or ``spark.table(name)``), as
``kindling_core.spark.delta.EntityIO.read`` reads a declared dimension. Each micro-batch goes
to ``foreachBatch`` (as kindling's streaming pipes write), or to a Delta sink where a test
restarts the query. Each step changes the dimension, appends one order and drives the query
with ``processAllAvailable()`` (bounded by the suite's pytest timeout), then reads the output:
the order's ``tier`` says which dimension version its micro-batch joined.
docs/design/dimensions.md turns these findings into kindling's restart defaults; a test
failing here means that note is wrong for the Spark and Delta versions installed.

"Another writer" is a job in another session or on another cluster: nothing tells this
session's cache manager about its commits. ``commit_as_another_writer`` makes such a commit
with no second JVM: Delta commits are files, so the statement runs on a copy of the table and
the new data files, then the new log entries, are copied back, as the other job would have
written them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from uuid import uuid4

import attrs
import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from kindling_core.spark.probe import probe_versions

pytestmark = pytest.mark.spark

DEADLINE = 120.0  # reached only when something is broken
SINK_COLUMNS = ["customer_id", "order_id", "tier"]
SCHEMA_CHANGED = "DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS"


def commit_as_another_writer(spark: SparkSession, location: str, statement: str) -> None:
    """Commit ``statement`` (``{dimension}`` stands for the table) to the Delta table at
    ``location`` the way a job in another Spark application would."""
    shadow = f"{location}-other-writer"
    shutil.rmtree(shadow, ignore_errors=True)
    shutil.copytree(location, shadow)
    spark.sql(statement.format(dimension=f"delta.`{shadow}`"))
    for folder in ("", "_delta_log"):
        known = set(os.listdir(os.path.join(location, folder)))
        # Data files before log entries, and the commit file (.json) last: the version exists
        # only once every file it names is there.
        new = sorted(
            (name for name in os.listdir(os.path.join(shadow, folder)) if name not in known),
            key=lambda name: name.endswith(".json"),
        )
        for name in new:
            source = os.path.join(shadow, folder, name)
            if os.path.isfile(source):
                shutil.copy(source, os.path.join(location, folder, name))
    shutil.rmtree(shadow)


@attrs.define
class Enrichment:
    """Orders joined to customers; one order at a time, for customer 1 unless told."""

    spark: SparkSession
    orders: str
    sink: str
    checkpoint: str
    dimension: str  # the SQL identifier: a table name or delta.`path`
    location: str  # the dimension's folder
    table_name: str | None
    last_order: int = 0
    # What the last query started without a Delta sink got, batch by batch (None: a Delta sink).
    collected: list[list[dict]] | None = None
    collected_columns: list[str] = attrs.Factory(list)

    def read_dimension(self) -> DataFrame:
        """The dimension as a pipe reads it: by name, or ``spark.read...load(path)``."""
        if self.table_name is not None:
            return self.spark.table(self.table_name)
        return self.spark.read.format("delta").load(self.location)

    def start(self, dimension: DataFrame, *, delta_sink: bool = False, **sink_options: str) -> StreamingQuery:
        """Start the join. By default its micro-batches go to ``foreachBatch`` (as kindling's
        streaming pipes write) and are collected here; with ``delta_sink`` to a Delta table,
        on the checkpoint, which a restart resumes."""
        writer = self.spark.readStream.format("delta").load(self.orders).join(dimension, "customer_id").writeStream
        for key, value in sink_options.items():
            writer = writer.option(key, value)
        if delta_sink:
            self.collected = None
            return writer.format("delta").option("checkpointLocation", self.checkpoint).start(self.sink)
        batches: list[list[dict]] = []
        self.collected = batches

        def collect(batch: DataFrame, batch_id: int) -> None:
            self.collected_columns = batch.columns
            batches.append([row.asDict() for row in batch.collect()])

        return writer.foreachBatch(collect).start()

    def sql(self, statement: str) -> None:
        self.spark.sql(statement.format(dimension=self.dimension))

    def sql_elsewhere(self, statement: str) -> None:
        """Run ``statement`` on the dimension as another writer."""
        commit_as_another_writer(self.spark, self.location, statement)

    def update_here_then_elsewhere(self, query: StreamingQuery) -> list[str]:
        """The tiers of three orders: one enriched now, one after this session set the tier
        to gold, one after another writer set it to platinum."""
        tiers = [self.step(query)]
        self.sql("UPDATE {dimension} SET tier = 'gold'")
        tiers.append(self.step(query))
        self.sql_elsewhere("UPDATE {dimension} SET tier = 'platinum'")
        tiers.append(self.step(query))
        return tiers

    def order(self, customer_id: int = 1) -> int:
        """Append one order; return its id."""
        self.last_order += 1
        order = self.spark.createDataFrame([(self.last_order, customer_id)], "order_id long, customer_id long")
        order.write.format("delta").mode("append").save(self.orders)
        return self.last_order

    def step(self, query: StreamingQuery, customer_id: int = 1) -> str:
        """Append one order, process it, return the ``tier`` it was enriched with."""
        order = self.order(customer_id)
        query.processAllAvailable()
        return self.enriched()[order]["tier"]

    def enriched(self) -> dict[int, dict]:
        """The last query's output by order id (each order exactly once)."""
        if self.collected is not None:
            rows = [row for batch in self.collected for row in batch]
        else:
            rows = [row.asDict() for row in self.spark.read.format("delta").load(self.sink).collect()]
        by_order = {row["order_id"]: row for row in rows}
        assert len(by_order) == len(rows), f"an order was written twice: {rows}"
        return by_order

    def sink_columns(self) -> list[str]:
        """The last query's output columns."""
        if self.collected is not None:
            return self.collected_columns
        return self.spark.read.format("delta").load(self.sink).columns


@pytest.fixture
def make_enrichment(spark: SparkSession, tmp_path: Path) -> Iterator:
    """Build an :class:`Enrichment` (customer 1 is bronze, no orders yet); afterwards stop
    every query still active and drop the named tables."""
    made: list[Enrichment] = []

    def make(*, by_name: bool = False) -> Enrichment:
        customers = spark.createDataFrame([(1, "bronze")], "customer_id long, tier string").write.format("delta")
        name = None
        if by_name:
            name = f"customers_{uuid4().hex[:8]}"
            customers.saveAsTable(name)
            location = urlparse(spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]).path
            dimension = name
        else:
            location = str(tmp_path / "customers")
            customers.save(location)
            dimension = f"delta.`{location}`"
        orders = str(tmp_path / "orders")
        spark.createDataFrame([], "order_id long, customer_id long").write.format("delta").save(orders)
        made.append(
            Enrichment(
                spark,
                orders=orders,
                sink=str(tmp_path / "enriched"),
                checkpoint=str(tmp_path / "checkpoint"),
                dimension=dimension,
                location=location,
                table_name=name,
            )
        )
        return made[-1]

    yield make
    for query in spark.streams.active:
        query.stop()
    for enrichment in made:
        if enrichment.table_name is not None:
            spark.sql(f"DROP TABLE IF EXISTS {enrichment.table_name}")


def last_plan(query: StreamingQuery, capsys: pytest.CaptureFixture[str]) -> str:
    """The physical plan of the query's last micro-batch."""
    capsys.readouterr()
    query.explain()
    return capsys.readouterr().out


@pytest.fixture
def no_broadcast(spark: SparkSession) -> Iterator[None]:
    """Turn automatic broadcast joins off for the queries started in the test."""
    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    yield
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)


@pytest.mark.parametrize("by_name", [False, True], ids=["read-by-path", "read-by-name"])
def test_plain_join_reads_the_dimension_version_current_at_each_micro_batch(make_enrichment, no_broadcast, capsys, by_name: bool) -> None:
    """A plain stream-static join (a sort-merge join here: automatic broadcast is off) sees
    every kind of dimension write at its next micro-batch, with no restart: an UPDATE, a new
    key (INSERT), an INSERT OVERWRITE, and a commit by another writer. Reading the dimension
    by path or by table name makes no difference."""
    enrichment = make_enrichment(by_name=by_name)
    query = enrichment.start(enrichment.read_dimension())
    run_id = query.runId
    assert enrichment.step(query) == "bronze"
    enrichment.sql("UPDATE {dimension} SET tier = 'gold' WHERE customer_id = 1")
    assert enrichment.step(query) == "gold"
    enrichment.sql("INSERT INTO {dimension} VALUES (2, 'silver')")
    assert enrichment.step(query, customer_id=2) == "silver"
    enrichment.sql("INSERT OVERWRITE {dimension} VALUES (1, 'platinum')")
    assert enrichment.step(query) == "platinum"
    enrichment.sql_elsewhere("UPDATE {dimension} SET tier = 'diamond'")
    assert enrichment.step(query) == "diamond"
    assert "SortMergeJoin" in last_plan(query, capsys)
    assert query.isActive and query.runId == run_id
    assert sorted(enrichment.enriched()) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("hint", [True, False], ids=["broadcast-hint", "automatic-broadcast"])
def test_broadcast_dimension_is_broadcast_again_at_each_micro_batch(make_enrichment, capsys, hint: bool) -> None:
    """A broadcast does not pin the data: each micro-batch broadcasts the dimension's current
    version, whether this session or another writer changed it. That holds for
    ``broadcast(dimension)`` and for a small dimension Spark broadcasts by itself (under
    ``spark.sql.autoBroadcastJoinThreshold``, 10 MB by default), the usual case."""
    enrichment = make_enrichment()
    dimension = enrichment.read_dimension()
    query = enrichment.start(F.broadcast(dimension) if hint else dimension)
    assert enrichment.update_here_then_elsewhere(query) == ["bronze", "gold", "platinum"]
    assert "BroadcastExchange" in last_plan(query, capsys)
    assert query.isActive


def test_cached_dimension_misses_another_writers_commits_until_refreshed(make_enrichment, capsys) -> None:
    """A cached dimension (``.cache()``, the same as ``persist()``) is served from the cache
    at every micro-batch. A write through this session refreshes the cached data, so the
    running query sees it; a commit by another writer is not seen: the query (and any batch
    read of the table in this session) keeps the cached version until
    ``spark.catalog.refreshByPath(location)`` rebuilds the cache, which the running query
    then uses, with no restart. The refresh is once: the next foreign commit is missed
    again."""
    enrichment = make_enrichment()
    dimension = enrichment.read_dimension().cache()
    try:
        query = enrichment.start(dimension)
        assert enrichment.update_here_then_elsewhere(query) == ["bronze", "gold", "gold"]
        assert "InMemoryTableScan" in last_plan(query, capsys)
        assert [row["tier"] for row in dimension.collect()] == ["gold"]
        assert [row["tier"] for row in enrichment.read_dimension().collect()] == ["gold"]
        enrichment.spark.catalog.refreshByPath(enrichment.location)
        assert enrichment.step(query) == "platinum"
        enrichment.sql_elsewhere("UPDATE {dimension} SET tier = 'diamond'")
        assert enrichment.step(query) == "platinum"
        assert query.isActive
    finally:
        dimension.unpersist()


def test_added_dimension_column_is_not_seen_by_the_running_query(make_enrichment) -> None:
    """A column added to the dimension (``ALTER TABLE ADD COLUMNS``, or an append with
    ``mergeSchema``) neither fails the running query nor reaches its output: the query keeps
    the columns it was started with, and still sees the new values of those columns."""
    enrichment = make_enrichment()
    query = enrichment.start(enrichment.read_dimension())
    assert enrichment.step(query) == "bronze"
    enrichment.sql("ALTER TABLE {dimension} ADD COLUMNS (region string)")
    enrichment.sql("UPDATE {dimension} SET tier = 'gold', region = 'eu'")
    assert enrichment.step(query) == "gold"
    enrichment.spark.createDataFrame(
        [(2, "silver", "us", "retail")], "customer_id long, tier string, region string, segment string"
    ).write.format("delta").mode("append").option("mergeSchema", "true").save(enrichment.location)
    assert enrichment.step(query, customer_id=2) == "silver"
    assert query.isActive
    assert enrichment.sink_columns() == SINK_COLUMNS


def test_restart_after_an_added_dimension_column_needs_schema_evolution_in_the_delta_sink(
    make_enrichment,
) -> None:
    """Restarting on the same checkpoint with the dimension read again picks up the added
    column, which changes the query's output schema: a Delta sink refuses it
    (``DELTA_METADATA_MISMATCH``) unless the sink writes with ``mergeSchema``. The order of
    the refused batch is written by the next start, once: nothing lost or duplicated."""
    enrichment = make_enrichment()
    query = enrichment.start(enrichment.read_dimension(), delta_sink=True)
    assert enrichment.step(query) == "bronze"
    enrichment.sql("ALTER TABLE {dimension} ADD COLUMNS (region string)")
    enrichment.sql("UPDATE {dimension} SET region = 'eu'")
    query.stop()

    refused = enrichment.start(enrichment.read_dimension(), delta_sink=True)
    order = enrichment.order()
    with pytest.raises(StreamingQueryException, match="DELTA_METADATA_MISMATCH"):
        refused.processAllAvailable()

    query = enrichment.start(enrichment.read_dimension(), delta_sink=True, mergeSchema="true")
    query.processAllAvailable()
    assert enrichment.enriched()[order]["region"] == "eu"
    assert sorted(enrichment.enriched()) == [1, 2]
    assert enrichment.sink_columns() == [*SINK_COLUMNS, "region"]


def rename_a_column(enrichment: Enrichment) -> None:
    """Overwrite the dimension with ``tier`` renamed to ``level``."""
    renamed = enrichment.spark.createDataFrame([(1, "gold")], "customer_id long, level string")
    renamed.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(enrichment.location)


def change_a_type(enrichment: Enrichment) -> None:
    """Overwrite the dimension with ``tier`` an int instead of a string."""
    retyped = enrichment.spark.createDataFrame([(1, 2)], "customer_id long, tier int")
    retyped.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(enrichment.location)


def delete_the_table(enrichment: Enrichment) -> None:
    shutil.rmtree(enrichment.location)


INCOMPATIBLE_CHANGES = {
    "column-renamed": rename_a_column,
    "column-type-changed": change_a_type,
    "table-deleted": delete_the_table,
}


@pytest.mark.parametrize("change", sorted(INCOMPATIBLE_CHANGES))
def test_incompatible_dimension_change_fails_the_query_at_its_next_micro_batch(make_enrichment, change: str) -> None:
    """A dimension overwritten without a column the query was planned with, or with a
    column of another type, or deleted, fails the running query with ``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS``, but only when the
    next micro-batch runs: while no new order arrives, no batch runs and the query stays
    active. Only a restart that reads the dimension again can go on."""
    enrichment = make_enrichment()
    query = enrichment.start(enrichment.read_dimension())
    assert enrichment.step(query) == "bronze"
    INCOMPATIBLE_CHANGES[change](enrichment)
    query.processAllAvailable()
    assert query.isActive and query.exception() is None
    enrichment.order()
    with pytest.raises(StreamingQueryException, match=SCHEMA_CHANGED):
        query.awaitTermination(DEADLINE)
    assert not query.isActive
    assert sorted(enrichment.enriched()) == [1]


def test_dropping_a_column_changes_no_data_yet_fails_the_query_at_its_next_micro_batch(make_enrichment) -> None:
    """``ALTER TABLE DROP COLUMN`` (a table with column mapping) commits metadata only: the
    version probe, like Delta's streaming source, counts no data change, so a detector that
    watches data changes reports nothing. The running query fails at its next micro-batch all
    the same (``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS``). Turning column mapping on, a property
    and protocol change, does not disturb it."""
    enrichment = make_enrichment()
    query = enrichment.start(enrichment.read_dimension())
    assert enrichment.step(query) == "bronze"
    enrichment.sql(
        "ALTER TABLE {dimension} SET TBLPROPERTIES ("
        "'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')"
    )
    assert enrichment.step(query) == "bronze"
    before = probe_versions(enrichment.spark, [enrichment.location])[enrichment.location].version
    assert before is not None
    enrichment.sql("ALTER TABLE {dimension} DROP COLUMN tier")
    dropped = probe_versions(enrichment.spark, [enrichment.location], since={enrichment.location: before})
    assert (dropped[enrichment.location].operation, dropped[enrichment.location].data_change) == ("DROP COLUMNS", False)
    enrichment.order()
    with pytest.raises(StreamingQueryException, match=SCHEMA_CHANGED):
        query.awaitTermination(DEADLINE)
    assert sorted(enrichment.enriched()) == [1, 2]


def test_restart_after_an_incompatible_change_must_read_the_dimension_again(make_enrichment) -> None:
    """A query started again from the DataFrame it was built from fails at its first
    micro-batch with ``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS`` (that DataFrame's columns were
    fixed when it was analysed); a query built from a fresh read of the dimension runs, with
    the dimension's new columns. A restart must rebuild the query, not reuse the DataFrame."""
    enrichment = make_enrichment()
    dimension = enrichment.read_dimension()
    query = enrichment.start(dimension)
    assert enrichment.step(query) == "bronze"
    rename_a_column(enrichment)
    query.stop()

    again = enrichment.start(dimension)
    enrichment.order()
    with pytest.raises(StreamingQueryException, match=SCHEMA_CHANGED):
        again.awaitTermination(DEADLINE)

    rebuilt = enrichment.start(enrichment.read_dimension())
    rebuilt.processAllAvailable()
    assert enrichment.sink_columns() == ["customer_id", "order_id", "level"]
    assert sorted(enrichment.enriched()) == [1, 2]
