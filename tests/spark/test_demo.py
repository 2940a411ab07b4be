"""The retail demo (the README's main job) end to end on real Spark and Delta, and its
streaming part run by ``kindling stream --until-idle`` after the runs."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyspark.sql import Window
from pyspark.sql import functions as F

from examples.retail import pipeline as demo
from kindling_core.cli import cli
from kindling_core.execution import PipeStatus
from kindling_core.testing import builtin_entry_points, make_config

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("lakehouse")
    app = demo.build_app(root, config=make_config({}), entry_points=builtin_entry_points())
    app.use_spark(spark)
    first = app.run()
    second = app.run()  # merges must be idempotent
    return app, root, first, second


def table(spark, root: Path, entity_id: str):
    return spark.read.format("delta").load(str(root / entity_id.replace(".", "/")))


def test_demo_runs_every_pipe(demo_run) -> None:
    app, _, first, second = demo_run
    assert len(app.catalog.pipes) == 13
    assert [p.id for p in app.catalog.pipes.values() if p.is_streaming] == ["silver.order_events", "gold.revenue_events"]
    for result in (first, second):
        assert result.succeeded, result.summary_table()
        assert {o.status for o in result.pipes} == {PipeStatus.SUCCEEDED}
        assert len(result.pipes) == 13  # the streaming pipes too, bounded
    assert [len(g) for g in app.plan().generations] == [3, 3, 2, 4, 1]


def test_demo_row_counts(spark, demo_run) -> None:
    _, root, _, _ = demo_run
    counts = {
        "bronze.customers": demo.N_CUSTOMERS,
        "bronze.products": demo.N_PRODUCTS,
        "bronze.orders": demo.N_ORDERS + demo.N_UPDATES,
        "silver.customers": demo.N_CUSTOMERS,
        "silver.products": demo.N_PRODUCTS,
        "silver.orders": demo.N_ORDERS,
        "silver.orders_enriched": demo.N_ORDERS,
        "gold.daily_sales": 28,
        "gold.product_performance": demo.N_PRODUCTS,
        # every event streamed through once: the second run's rewrite of bronze.orders is skipped
        "silver.order_events": demo.N_ORDERS + demo.N_UPDATES,
        "gold.revenue_events": demo.N_ORDERS + demo.N_UPDATES,
    }
    for entity_id, expected in counts.items():
        assert table(spark, root, entity_id).count() == expected, entity_id


def test_demo_merges_resolve_late_updates(spark, demo_run) -> None:
    _, root, _, _ = demo_run
    orders = table(spark, root, "silver.orders")
    assert orders.select("order_id").distinct().count() == demo.N_ORDERS
    amended = orders.where("status = 'amended'")
    assert amended.count() == demo.N_UPDATES
    assert amended.where(F.col("order_id") % (demo.N_ORDERS // demo.N_UPDATES) != 0).count() == 0
    customers = table(spark, root, "silver.customers")
    assert customers.where("email != lower(trim(email))").count() == 0
    assert customers.where("email = 'c7@example.com'").count() == 1


def test_demo_aggregates_are_consistent(spark, demo_run) -> None:
    _, root, _, _ = demo_run
    enriched_total = table(spark, root, "silver.orders_enriched").agg(F.sum("amount")).first()[0]
    daily = table(spark, root, "gold.daily_sales").agg(F.sum("revenue"), F.sum("orders")).first()
    assert daily[0] == enriched_total and daily[1] == demo.N_ORDERS
    ltv = table(spark, root, "gold.customer_ltv").agg(F.sum("lifetime_value")).first()[0]
    assert ltv == enriched_total
    products = table(spark, root, "gold.product_performance").agg(F.sum("revenue")).first()[0]
    assert products == enriched_total
    segments = table(spark, root, "gold.segment_summary").agg(F.sum("customers")).first()[0]
    assert segments == table(spark, root, "gold.customer_ltv").count()
    # the streamed events, latest per order, add up to what the batch side computed
    latest = Window.partitionBy("order_id").orderBy(F.col("event_seq").desc())
    events = table(spark, root, "gold.revenue_events").withColumn("rank", F.row_number().over(latest)).where("rank = 1")
    assert events.agg(F.sum("amount")).first()[0] == enriched_total
    assert events.where("segment is null or category is null").count() == 0  # both dimension joins matched


def test_kindling_stream_until_idle_resumes_the_streaming_part_and_writes_nothing_twice(
    spark, demo_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, root, _, _ = demo_run
    module = "demo_stream_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{module}.py").write_text(
        f"from pathlib import Path\nfrom examples.retail.pipeline import build_app\napp = build_app(Path({str(root)!r}))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    logger = logging.getLogger("kindling")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        result = CliRunner().invoke(cli, ["stream", "--app", f"{module}:app", "--until-idle", "--json"])
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved  # the CLI configures it
        sys.modules.pop(module, None)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["outcome"] == "idle"
    queries = {q["query"]: q for q in document["queries"]}
    assert list(queries) == ["gold.revenue_events", "silver.order_events"]  # consumers first
    for query in queries.values():  # both runs' checkpoints say everything was processed
        assert query["state"] == "stopped" and query["rows"] == 0 and query["problem"] is None
        assert query["checkpoint"] == str(root / "_checkpoints" / query["pipe"])
    assert table(spark, root, "gold.revenue_events").count() == demo.N_ORDERS + demo.N_UPDATES
