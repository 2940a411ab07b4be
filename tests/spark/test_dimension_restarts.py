"""Dimension-driven restarts on real streams: local Spark, Delta source, dimension and sink.

Orders stream through an enrichment pipe joined with a customers dimension whose entity says
``change.restart = "always"``. The dimension watcher (``interval-seconds`` 0.2) started by
``app.streams`` sees the dimension updated, the restart controller restarts the query once, new
orders carry the new attributes and the Delta sink holds every order exactly once; an OPTIMIZE
of the dimension (a commit that changes no data) restarts nothing. The controller's logic
(coalescing, storms, races, cascades) is tested on a fake driver in
tests/streaming/test_restarts.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_streams import DEADLINE, FAST, stop_everything, wait_until  # noqa: F401  (stop_everything: an autouse fixture)

from kindling_core.config import parse_config
from kindling_core.testing import make_app


def write(spark, path: Path, rows: list[tuple], schema: str, *, mode: str = "append", files: int = 1) -> None:
    spark.createDataFrame(rows, schema).repartition(files).write.format("delta").mode(mode).save(str(path))


def test_a_dimension_update_restarts_its_query_once_and_an_optimize_restarts_nothing(spark, tmp_path: Path) -> None:
    orders, customers, sink = tmp_path / "orders", tmp_path / "customers", tmp_path / "enriched"
    write(spark, orders, [(1, 1), (2, 2), (3, 1)], "id long, customer long")
    write(spark, customers, [(1, "gold"), (2, "silver")], "customer long, tier string", files=2)
    config = {
        "streaming": {"watchdog-interval-seconds": 3600},
        "change-detectors": {"interval-seconds": 0.2},
        "restarts": {"debounce-seconds": 0.2},
        "recovery": {"healthy-batches": 1, "healthy-seconds": 1},
    }
    app = make_app(config=parse_config(config, root=tmp_path)).use_spark(spark)
    seen: list[tuple[str, Any]] = []
    for name in ("restarts.restart_requested", "restarts.restart_started", "restarts.restart_completed", "dimensions.baseline_recorded"):
        app.signals.connect(name, lambda sender, payload, name=name: seen.append((name, payload)))
    app.entity("bronze.orders", path=str(orders))
    app.entity("silver.customers", path=str(customers), kind="dimension", options={"change.restart": "always"})
    app.entity("silver.enriched", path=str(sink))
    app.pipe(
        "enrich",
        inputs=["bronze.orders", "silver.customers"],
        output="silver.enriched",
        mode="streaming",
        dimensions=["silver.customers"],
        trigger=FAST,
        write="append",
    )(lambda orders, customers: orders.join(customers, "customer"))

    def named(name: str) -> list[Any]:
        return [payload for n, payload in list(seen) if n == name]

    def enriched() -> dict[int, list[str]]:
        rows: dict[int, list[str]] = {}
        for row in spark.read.format("delta").load(str(sink)).collect():
            rows.setdefault(row.id, []).append(row.tier)
        return rows

    try:
        app.streams.start()
        assert app.streams.process_all_available(timeout=DEADLINE)
        wait_until("the dimension's baseline", lambda: named("dimensions.baseline_recorded"))
        assert enriched() == {1: ["gold"], 2: ["silver"], 3: ["gold"]}

        write(spark, customers, [(1, "platinum"), (2, "bronze")], "customer long, tier string", mode="overwrite", files=2)
        wait_until("the restart completed", lambda: named("restarts.restart_completed"))
        (requested,) = named("restarts.restart_requested")
        assert requested.pipe == "enrich" and requested.source == "dimension" and requested.entity == "silver.customers"
        assert requested.version == 1  # the overwrite (version 0 created the table)
        (completed,) = named("restarts.restart_completed")
        assert completed.sources == ("dimension",) and completed.version == requested.version
        assert app.streams.query_status("enrich").restarts == 1

        write(spark, orders, [(4, 1), (5, 2)], "id long, customer long")
        assert app.streams.process_all_available(timeout=DEADLINE)
        assert enriched() == {1: ["gold"], 2: ["silver"], 3: ["gold"], 4: ["platinum"], 5: ["bronze"]}  # each order once

        watcher = app.streams.dimension_watcher
        spark.sql(f"OPTIMIZE delta.`{customers}`")
        polls = watcher.polls
        wait_until("three polls after the OPTIMIZE", lambda: watcher.polls >= polls + 3)
        assert len(named("restarts.restart_requested")) == 1 and app.streams.restarts.idle()
        assert app.streams.query_status("enrich").restarts == 1
    finally:
        app.close()
    assert app.streams.dimension_watcher is None
