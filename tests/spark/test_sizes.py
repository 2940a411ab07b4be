"""Delta table sizes from _delta_log against Delta's own DESCRIBE DETAIL, and cache advice on them.

One table goes through appends, a DELETE with deletion vectors, a MERGE and OPTIMIZE, with a
checkpoint every two commits; after every step the size read from its log without Spark must
equal ``DESCRIBE DETAIL``'s ``sizeInBytes``. An app planning over real tables then applies
``min-size-mb`` with those sizes, without running a Spark job for path entities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from kindling_core.spark.probe import ProbeStatus, table_size
from kindling_core.testing import make_app

pytestmark = pytest.mark.spark


def detail_size(spark: SparkSession, name: str) -> int:
    return int(spark.sql(f"DESCRIBE DETAIL {name}").select("sizeInBytes").first()[0])


def jobs(spark: SparkSession) -> int:
    """Jobs ever submitted to the DAG scheduler."""
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # type: ignore[union-attr]


def test_log_size_equals_describe_detail_after_every_step(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "orders")
    sizes: list[tuple[int | None, int]] = []

    def check() -> None:
        before = jobs(spark)
        from_log = table_size(path)  # plain Python, no session
        with_session = table_size(path, spark, backend="hadoop")  # the session's Hadoop FileSystem
        assert jobs(spark) == before, "reading a size from the log ran a Spark job"
        assert from_log.status is ProbeStatus.OK, from_log.error
        assert (with_session.size_bytes, with_session.files) == (from_log.size_bytes, from_log.files)
        sizes.append((from_log.size_bytes, detail_size(spark, f"delta.`{path}`")))

    (
        spark.range(20).selectExpr("id", "id * 10 AS amount").repartition(2).write.format("delta")
        .option("delta.checkpointInterval", "2").option("delta.enableDeletionVectors", "true").save(path)
    )
    check()
    spark.range(20, 40).selectExpr("id", "id * 10 AS amount").write.format("delta").mode("append").save(path)
    check()
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 7 = 0")  # deletion vectors on existing files
    check()
    table = DeltaTable.forPath(spark, path)
    updates = spark.range(35, 45).selectExpr("id", "id * 100 AS amount")
    table.alias("t").merge(updates.alias("u"), "t.id = u.id").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
    check()
    table.optimize().executeCompaction()
    check()
    log = Path(path) / "_delta_log"
    assert list(log.glob("*.checkpoint*.parquet")), "the scenario should have written a checkpoint"
    commits = "".join(p.read_text(encoding="utf-8") for p in log.glob("*.json"))
    assert '"deletionVector":{' in commits, "the DELETE should have written deletion vectors"
    assert all(from_log == detail for from_log, detail in sizes), sizes
    assert len({detail for _, detail in sizes}) > 2  # the steps really changed the size


def declare(app: Any, **entity: Any) -> None:
    """gold.a and gold.b both read silver.orders: a shared-consumer candidate for caching."""
    app.entity("silver.orders", **entity)
    for name in ("gold.a", "gold.b"):
        app.pipe(name, inputs=["silver.orders"], output=name)(lambda orders: orders)


def advice(spark: SparkSession, min_size_mb: float, **entity: Any) -> tuple[Any, ...]:
    with make_app(config={"cache": {"min-size-mb": min_size_mb}}) as app:
        app.use_spark(spark)
        declare(app, **entity)
        return app.plan().cache_recommendations


def test_plan_applies_the_size_threshold_to_a_path_table_without_a_spark_job(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "orders")
    spark.range(100).selectExpr("id", "id * 10 AS amount").write.format("delta").save(path)
    size = detail_size(spark, f"delta.`{path}`")
    assert size < 1024 * 1024  # a few KB

    before = jobs(spark)
    (rec,) = advice(spark, size / (1024 * 1024) / 2, path=path)  # threshold: half the table
    assert rec.entity == "silver.orders" and rec.size_bytes == size
    assert advice(spark, 1, path=path) == ()  # 1 MB: the table is too small to be worth caching
    assert jobs(spark) == before, "planning over a path table ran a Spark job"


def test_catalog_table_size_comes_from_describe_detail_on_the_active_session(spark: SparkSession) -> None:
    spark.sql("DROP TABLE IF EXISTS kindling_sizes_orders")
    spark.range(50).selectExpr("id").write.format("delta").saveAsTable("kindling_sizes_orders")
    try:
        size = detail_size(spark, "kindling_sizes_orders")
        (rec,) = advice(spark, size / (1024 * 1024) / 2, table="kindling_sizes_orders")
        assert rec.size_bytes == size
        assert advice(spark, 1, table="kindling_sizes_orders") == ()
    finally:
        spark.sql("DROP TABLE IF EXISTS kindling_sizes_orders")
