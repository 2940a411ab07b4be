"""What a running stream-static join sees when its Delta dimension changes (no restart).

Orders stream from a Delta table and are joined on ``customer_id`` to ``customers``
dimensions read with ``spark.read.format("delta").load(path)`` (or ``spark.table(name)``), as
``kindling_core.spark.delta.EntityIO.read`` reads a declared dimension. Micro-batches go to
``foreachBatch`` (as kindling's streaming pipes write), or to a Delta sink where a query is
restarted. Each step changes the dimensions, appends orders and drives the query with
``processAllAvailable()`` (bounded by the suite's pytest timeout); an order's tier columns say
which dimension version its micro-batch joined.

Spark work is slow, so the findings are observed in three scenarios run once per module, at
the same time (:func:`observed`), and each test asserts one row of docs/design/dimensions.md's
findings table on what its scenario saw:

* :func:`see_reads`: one query joins the same dimension four ways (by path and by name with a merge
  join, with a broadcast hint, broadcast automatically) and a second, cached dimension, with
  left joins so every order comes out once; the dimensions change through this session,
  through another writer, by a cache refresh and by added columns;
* :func:`see_restart`: a query into a Delta sink is restarted after a column was added to its
  dimension;
* :func:`see_breaks`: four queries, one per incompatible change (a column renamed, a type changed,
  the table deleted, a column dropped with column mapping), share the orders; then the renamed
  one is started again from its old DataFrame and from a fresh read.

A test failing here means that note is wrong for the Spark and Delta versions installed.

"Another writer" is a job in another session or on another cluster: nothing tells this
session's cache manager about its commits. ``commit_as_another_writer`` makes such a commit
with no second JVM: Delta commits are files, so the statement runs on a copy of the table and
the new data files, then the new log entries, are copied back, as the other job would have
written them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
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
SCHEMA_CHANGED = "DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS"
#: Session settings for this module's tiny tables and queries: no Java code generation
#: (compiling it costs more than it saves on a few rows), no adaptive re-planning, no file
#: statistics on Delta writes. Execution details only; restored afterwards.
FAST = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.databricks.delta.stats.collect": "false",
}
READS = ("by_path", "by_name", "broadcast", "automatic")  # the four reads of the first dimension


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


def plan_of(query: StreamingQuery) -> str:
    """The physical plan of the query's last micro-batch (the final plan when adaptive)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        query.explain()
    return out.getvalue().split("== Initial Plan ==")[0]


@attrs.define
class Lake:
    """Fresh Delta tables copied from templates (no Spark job): one scenario's orders and
    dimensions."""

    spark: SparkSession
    root: Path
    customers: Path  # template: customer 1 is bronze
    no_orders: Path  # template: no orders yet
    orders: str = ""
    last_order: int = 0

    def scenario(self, name: str) -> Lake:
        """A lake of its own, with no orders, for one scenario."""
        root = self.root / name
        shutil.copytree(self.no_orders, root / "orders")
        return attrs.evolve(self, root=root, orders=str(root / "orders"))

    def dimension(self, name: str) -> str:
        location = str(self.root / name)
        shutil.copytree(self.customers, location)
        return location

    def read(self, location: str) -> DataFrame:
        return self.spark.read.format("delta").load(location)

    def sql(self, statement: str, location: str) -> None:
        self.spark.sql(statement.format(dimension=f"delta.`{location}`"))

    def order(self, *customers: int) -> list[int]:
        """Append one order per customer, in one commit; return their ids."""
        ids = list(range(self.last_order + 1, self.last_order + 1 + len(customers)))
        self.last_order = ids[-1]
        rows = self.spark.createDataFrame(list(zip(ids, customers, strict=True)), "order_id long, customer_id long")
        rows.write.format("delta").mode("append").save(self.orders)
        return ids

    def stream(self) -> DataFrame:
        return self.spark.readStream.format("delta").load(self.orders)


def collecting(frame: DataFrame) -> tuple[StreamingQuery, dict[int, dict[str, Any]], list[str]]:
    """Start ``frame`` to ``foreachBatch``; its rows by order id (each order once, checked)
    and its columns fill in as batches run."""
    rows: dict[int, dict[str, Any]] = {}
    columns: list[str] = []

    def collect(batch: DataFrame, batch_id: int) -> None:
        columns[:] = batch.columns
        for row in batch.collect():
            assert row["order_id"] not in rows, f"order {row['order_id']} was written twice"
            rows[row["order_id"]] = row.asDict()

    return frame.writeStream.foreachBatch(collect).start(), rows, columns


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The templates, written once (the module's only table creations through Spark); stops
    any query a scenario left running."""
    saved = {key: spark.conf.get(key, None) for key in FAST}
    for key, value in FAST.items():
        spark.conf.set(key, value)
    root = tmp_path_factory.mktemp("dimension-semantics")
    customers = root / "customers-template"
    spark.createDataFrame([(1, "bronze")], "customer_id long, tier string").write.format("delta").save(str(customers))
    no_orders = root / "orders-template"
    spark.createDataFrame([], "order_id long, customer_id long").write.format("delta").save(str(no_orders))
    yield Lake(spark, root, customers, no_orders)
    for query in spark.streams.active:
        query.stop()
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


# ------------------------------------------------------------------------------- reads


@attrs.frozen
class Reads:
    """What the reads scenario saw: ``tiers[name]`` is the tier each read gave the orders of
    each step, ``None`` for a customer the dimension lacked (see :func:`see_reads`)."""

    tiers: dict[str, list[Any]]
    plan: str
    columns: list[str]
    active: bool
    same_run: bool
    cache_reads: list[str]


def see_reads(lake: Lake) -> Reads:
    """The first scenario (module docstring). Steps, each followed by orders (customer 1 unless
    said) and their processing:

    0. nothing changed;
    1. this session: UPDATE customer 1 of the dimension to gold and INSERT customer 2
       (silver), UPDATE the cached one to gold; orders for customers 1 and 2;
    2. this session: INSERT OVERWRITE the dimension with customers 1 and 2 platinum; another
       writer: UPDATE customer 2 to diamond, and the cached one to platinum; orders for
       customers 1 and 2;
    3. ``refreshByPath`` of the cached one; ALTER TABLE ADD COLUMNS region to the dimension,
       UPDATE customer 1 to emerald / eu; an append with ``mergeSchema`` adds customer 3
       (silver) with two new columns; orders for customers 1 and 3;
    4. another writer: UPDATE the cached one to diamond.
    """
    lake = lake.scenario("reads")
    spark = lake.spark
    dimension, cached_at = lake.dimension("customers"), lake.dimension("cached-customers")
    name = f"customers_{uuid4().hex[:8]}"
    spark.sql(f"CREATE TABLE {name} USING delta LOCATION '{dimension}'")
    try:
        return _run_reads(lake, dimension, cached_at, name)
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {name}")


def _run_reads(lake: Lake, dimension: str, cached_at: str, name: str) -> Reads:
    spark = lake.spark

    def tier(frame: DataFrame, column: str) -> DataFrame:
        return frame.select("customer_id", F.col("tier").alias(column))

    cached = lake.read(cached_at).cache()
    joins = {
        "by_path": tier(lake.read(dimension), "by_path").hint("merge"),
        "by_name": tier(spark.table(name), "by_name").hint("merge"),
        "broadcast": F.broadcast(tier(lake.read(dimension), "broadcast")),
        "automatic": tier(lake.read(dimension), "automatic"),  # small: Spark broadcasts it
        "cached": tier(cached, "cached"),
    }
    frame = lake.stream()
    for read in joins.values():
        frame = frame.join(read, "customer_id", "left")
    query, rows, columns = collecting(frame)
    run_id = query.runId
    steps: list[list[int]] = []

    def step(*customers: int) -> None:
        steps.append(lake.order(*(customers or (1,))))
        query.processAllAvailable()

    def elsewhere(location: str, statement: str) -> None:
        commit_as_another_writer(spark, location, statement)

    try:
        step()
        lake.sql("UPDATE {dimension} SET tier = 'gold' WHERE customer_id = 1", dimension)
        lake.sql("INSERT INTO {dimension} VALUES (2, 'silver')", dimension)
        lake.sql("UPDATE {dimension} SET tier = 'gold'", cached_at)
        step(1, 2)
        lake.sql("INSERT OVERWRITE {dimension} VALUES (1, 'platinum'), (2, 'platinum')", dimension)
        elsewhere(dimension, "UPDATE {dimension} SET tier = 'diamond' WHERE customer_id = 2")
        elsewhere(cached_at, "UPDATE {dimension} SET tier = 'platinum'")
        step(1, 2)
        cache_reads = [cached.first()["tier"], lake.read(cached_at).first()["tier"]]
        spark.catalog.refreshByPath(cached_at)
        lake.sql("ALTER TABLE {dimension} ADD COLUMNS (region string)", dimension)
        lake.sql("UPDATE {dimension} SET tier = 'emerald', region = 'eu' WHERE customer_id = 1", dimension)
        spark.createDataFrame([(3, "silver", "us", "retail")], "customer_id long, tier string, region string, segment string").write.format(
            "delta"
        ).mode("append").option("mergeSchema", "true").save(dimension)
        step(1, 3)
        elsewhere(cached_at, "UPDATE {dimension} SET tier = 'diamond'")
        step()
        plan = plan_of(query)
        active, same_run = query.isActive, query.runId == run_id
    finally:
        query.stop()
        cached.unpersist()
    tiers = {read: [[rows[order][read] for order in orders] for orders in steps] for read in joins}
    tiers = {read: [t[0] if len(t) == 1 else tuple(t) for t in seen] for read, seen in tiers.items()}
    return Reads(tiers, plan, list(columns), active, same_run, cache_reads)


def test_plain_join_reads_the_dimension_version_current_at_each_micro_batch(reads: Reads) -> None:
    """A plain stream-static join (a sort-merge join here, by a merge hint) sees every kind of
    dimension write at its next micro-batch, with no restart: an UPDATE, a new key (INSERT),
    an INSERT OVERWRITE, and a commit by another writer. Reading the dimension by path or by
    table name makes no difference."""
    for read in ("by_path", "by_name"):
        assert reads.tiers[read][:3] == ["bronze", ("gold", "silver"), ("platinum", "diamond")], read
    assert reads.plan.count("SortMergeJoin") == 2
    assert reads.active and reads.same_run


def test_broadcast_dimension_is_broadcast_again_at_each_micro_batch(reads: Reads) -> None:
    """A broadcast does not pin the data: each micro-batch broadcasts the dimension's current
    version, whether this session or another writer changed it. That holds for
    ``broadcast(dimension)`` and for a small dimension Spark broadcasts by itself (under
    ``spark.sql.autoBroadcastJoinThreshold``, 10 MB by default), the usual case."""
    for read in ("broadcast", "automatic"):
        assert reads.tiers[read][:3] == ["bronze", ("gold", "silver"), ("platinum", "diamond")], read
    # the hinted, the automatic and the cached dimension (small too) are broadcast
    assert reads.plan.count("BroadcastHashJoin") == 3


def test_cached_dimension_misses_another_writers_commits_until_refreshed(reads: Reads) -> None:
    """A cached dimension (``.cache()``, the same as ``persist()``) is served from the cache
    at every micro-batch. A write through this session refreshes the cached data, so the
    running query sees it; a commit by another writer is not seen: the query (and any batch
    read of the table in this session) keeps the cached version until
    ``spark.catalog.refreshByPath(location)`` rebuilds the cache, which the running query
    then uses, with no restart. The refresh is once: the next foreign commit is missed
    again."""
    assert reads.tiers["cached"] == ["bronze", ("gold", None), ("gold", None), ("platinum", None), "platinum"]
    assert reads.cache_reads == ["gold", "gold"]
    assert "InMemoryTableScan" in reads.plan
    assert reads.active


def test_added_dimension_column_is_not_seen_by_the_running_query(reads: Reads) -> None:
    """A column added to the dimension (``ALTER TABLE ADD COLUMNS``, or an append with
    ``mergeSchema``) neither fails the running query nor reaches its output: the query keeps
    the columns it was started with, and still sees the new values of those columns."""
    for read in READS:
        assert reads.tiers[read][3:] == [("emerald", "silver"), "emerald"], read
    assert reads.columns == ["customer_id", "order_id", *READS, "cached"]
    assert reads.active and reads.same_run


# ------------------------------------------------------------------------------- restart


@attrs.frozen
class Restart:
    """What the restart scenario saw (see :func:`see_restart`)."""

    refused: str  # the error of the start over a fresh read of the dimension
    order: int  # the order of the refused batch
    rows: list[dict[str, Any]]  # the Delta sink in the end
    orders: int  # how many orders the scenario appended


def see_restart(lake: Lake) -> Restart:
    """The third scenario: orders joined to a dimension into a Delta sink (with a checkpoint);
    after one order, a column is added to the dimension (ALTER TABLE ADD COLUMNS region,
    UPDATE region to eu) and the query is stopped; it is started again over a fresh read of
    the dimension, one order comes (refused), and it is started once more with ``mergeSchema``."""
    lake = lake.scenario("restart")
    dimension = lake.dimension("customers")
    sink, checkpoint = str(lake.root / "enriched"), str(lake.root / "checkpoint")

    def start(**options: str) -> StreamingQuery:
        writer = lake.stream().join(lake.read(dimension), "customer_id").writeStream.format("delta")
        for key, value in options.items():
            writer = writer.option(key, value)
        return writer.option("checkpointLocation", checkpoint).start(sink)

    query = start()
    lake.order(1)
    query.processAllAvailable()
    lake.sql("ALTER TABLE {dimension} ADD COLUMNS (region string)", dimension)
    lake.sql("UPDATE {dimension} SET region = 'eu'", dimension)
    query.stop()
    refused = start()
    (order,) = lake.order(1)
    with pytest.raises(StreamingQueryException) as caught:
        refused.processAllAvailable()
    merged = start(mergeSchema="true")
    merged.processAllAvailable()
    merged.stop()
    rows = [row.asDict() for row in lake.read(sink).collect()]
    return Restart(str(caught.value), order, rows, lake.last_order)


def test_restart_after_an_added_dimension_column_needs_schema_evolution_in_the_delta_sink(restart: Restart) -> None:
    """Restarting on the same checkpoint with the dimension read again picks up the added
    column, which changes the query's output schema: a Delta sink refuses it
    (``DELTA_METADATA_MISMATCH``) unless the sink writes with ``mergeSchema``. The order of
    the refused batch is written by the next start, once: nothing lost or duplicated."""
    assert "DELTA_METADATA_MISMATCH" in restart.refused
    by_order = {row["order_id"]: row for row in restart.rows}
    assert len(by_order) == len(restart.rows) and sorted(by_order) == list(range(1, restart.orders + 1))
    assert by_order[restart.order]["region"] == "eu"
    assert list(by_order[restart.order]) == ["customer_id", "order_id", "tier", "region"]


# ------------------------------------------------------------------------------- breaks


def rename_a_column(lake: Lake, location: str) -> None:
    """Overwrite the dimension with ``tier`` renamed to ``level``."""
    renamed = lake.spark.createDataFrame([(1, "gold")], "customer_id long, level string")
    renamed.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(location)


def change_a_type(lake: Lake, location: str) -> None:
    """Overwrite the dimension with ``tier`` an int instead of a string."""
    retyped = lake.spark.createDataFrame([(1, 2)], "customer_id long, tier int")
    retyped.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(location)


def delete_the_table(lake: Lake, location: str) -> None:
    shutil.rmtree(location)


def drop_a_column(lake: Lake, location: str) -> None:
    lake.sql("ALTER TABLE {dimension} DROP COLUMN tier", location)


CHANGES: dict[str, Callable[[Lake, str], None]] = {
    "column-renamed": rename_a_column,
    "column-type-changed": change_a_type,
    "table-deleted": delete_the_table,
    "column-dropped": drop_a_column,
}


@attrs.frozen
class Breaks:
    """What the breaks scenario saw, per change (see :func:`breaks`)."""

    tiers: dict[str, list[str]]  # tiers of the order before the change
    idle: dict[str, bool]  # active with no exception after the change, while no order came
    failed: dict[str, str]  # the error that ended the query at its next batch ("" if none)
    drop_probe: tuple[Any, ...]  # the version probe on the drop: (operation, data_change, schema ops)
    again: str  # the renamed query started again from its DataFrame: its error
    rebuilt_columns: list[str]
    rebuilt_orders: list[int]
    orders: int  # how many orders the scenario appended


def see_breaks(lake: Lake) -> Breaks:
    """The second scenario: one query per incompatible change (:data:`CHANGES`), joined to
    its own copy of the dimension; column mapping is turned on for the dropped column's table
    after its query started (the DataFrame was analysed without it); after an order each
    change is made, the queries are driven with no new order, then one order comes. Then the renamed dimension's query is started again from
    the DataFrame it was built from, and from a fresh read."""
    lake = lake.scenario("breaks")
    spark = lake.spark
    locations = {change: lake.dimension(change) for change in CHANGES}
    dimensions = {change: lake.read(location) for change, location in locations.items()}
    started = {change: collecting(lake.stream().join(dimensions[change], "customer_id")) for change in CHANGES}
    queries = {change: query for change, (query, _, _) in started.items()}
    try:
        lake.sql(
            "ALTER TABLE {dimension} SET TBLPROPERTIES ("
            "'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')",
            locations["column-dropped"],
        )
        lake.order(1)
        for query in queries.values():
            query.processAllAvailable()
        tiers = {change: [row["tier"] for _, row in sorted(rows.items())] for change, (_, rows, _) in started.items()}
        dropped_at = locations["column-dropped"]
        before = probe_versions(spark, [dropped_at])[dropped_at].version
        for change, make in CHANGES.items():
            make(lake, locations[change])
        probed = probe_versions(spark, [dropped_at], since={dropped_at: before})[dropped_at]
        for query in queries.values():
            query.processAllAvailable()
        idle = {change: query.isActive and query.exception() is None for change, query in queries.items()}
        lake.order(1)
        failed = {change: _failure(query) for change, query in queries.items()}

        again, _, _ = collecting(lake.stream().join(dimensions["column-renamed"], "customer_id"))
        again_error = _failure(again)
        rebuilt, rows, columns = collecting(lake.stream().join(lake.read(locations["column-renamed"]), "customer_id"))
        rebuilt.processAllAvailable()
        rebuilt.stop()
    finally:
        for query in queries.values():
            query.stop()
    return Breaks(
        tiers=tiers,
        idle=idle,
        failed=failed,
        drop_probe=(probed.operation, probed.data_change, probed.schema_operations),
        again=again_error,
        rebuilt_columns=list(columns),
        rebuilt_orders=sorted(rows),
        orders=lake.last_order,
    )


@attrs.frozen
class Observed:
    reads: Reads
    restart: Restart
    breaks: Breaks


@pytest.fixture(scope="module")
def observed(lake: Lake) -> Observed:
    """The three scenarios, run at the same time: they share no table, and each spends most
    of its time in single-threaded driver work (planning, Delta's log), so they share the
    cores well."""
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="semantics") as pool:
        seen = [pool.submit(see, lake) for see in (see_reads, see_restart, see_breaks)]
        return Observed(*(future.result() for future in seen))


@pytest.fixture
def reads(observed: Observed) -> Reads:
    return observed.reads


@pytest.fixture
def restart(observed: Observed) -> Restart:
    return observed.restart


@pytest.fixture
def breaks(observed: Observed) -> Breaks:
    return observed.breaks


def _failure(query: StreamingQuery) -> str:
    """The error that ends ``query`` (it must end within the deadline)."""
    try:
        query.awaitTermination(DEADLINE)
    except StreamingQueryException as exc:
        return str(exc)
    return "" if not query.isActive else f"still active after {DEADLINE} s"


@pytest.mark.parametrize("change", ["column-renamed", "column-type-changed", "table-deleted"])
def test_incompatible_dimension_change_fails_the_query_at_its_next_micro_batch(breaks: Breaks, change: str) -> None:
    """A dimension overwritten without a column the query was planned with, or with a column
    of another type, or deleted, fails the running query with
    ``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS``, but only when the next micro-batch runs: while no
    new order arrives, no batch runs and the query stays active. Only a restart that reads
    the dimension again can go on."""
    assert breaks.tiers[change] == ["bronze"]
    assert breaks.idle[change]
    assert SCHEMA_CHANGED in breaks.failed[change]


def test_dropping_a_column_changes_no_data_yet_fails_the_query_at_its_next_micro_batch(breaks: Breaks) -> None:
    """``ALTER TABLE DROP COLUMN`` (a table with column mapping) commits metadata only: the
    version probe, like Delta's streaming source, counts no data change (it reports the
    schema change apart). The running query fails at its next micro-batch all the same
    (``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS``). Turning column mapping on, a property and
    protocol change, does not disturb it."""
    assert breaks.tiers["column-dropped"] == ["bronze"]  # after column mapping was turned on
    assert breaks.drop_probe == ("DROP COLUMNS", False, ("DROP COLUMNS",))
    assert breaks.idle["column-dropped"]
    assert SCHEMA_CHANGED in breaks.failed["column-dropped"]


def test_restart_after_an_incompatible_change_must_read_the_dimension_again(breaks: Breaks) -> None:
    """A query started again from the DataFrame it was built from fails at its first
    micro-batch with ``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS`` (that DataFrame's columns were
    fixed when it was analysed); a query built from a fresh read of the dimension runs, with
    the dimension's new columns. A restart must rebuild the query, not reuse the DataFrame."""
    assert SCHEMA_CHANGED in breaks.again
    assert breaks.rebuilt_columns == ["customer_id", "order_id", "level"]
    assert breaks.rebuilt_orders == list(range(1, breaks.orders + 1))
