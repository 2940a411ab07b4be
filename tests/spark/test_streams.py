"""``app.streams`` on the local Spark session with real Delta tables and real streaming queries.

Small data, 200 ms triggers, one Delta source shared by the tests that only read it. Every wait
has a deadline; every query a test starts is stopped when it ends (``stop_everything``). The
manager's logic in isolation (a fake driver) is in tests/streaming/test_manager.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from kindling_core.config import parse_config
from kindling_core.spark.listener import attach_listener
from kindling_core.streaming import signals as sig
from kindling_core.streaming.errors import DuplicateQueryNameError, ForeignQueryError
from kindling_core.streaming.state import QueryState
from kindling_core.testing import make_app

pytestmark = pytest.mark.spark

S = QueryState
DEADLINE = 120.0  # reached only when something is broken
FAST = "200 milliseconds"


def wait_until(what: str, predicate: Callable[[], object], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def stop_everything(spark) -> Iterator[None]:
    """Stop every query a test left active (and restore the session's stop timeout)."""
    yield
    spark.conf.set("spark.sql.streaming.stopTimeout", "30s")
    for query in spark.streams.active:
        try:
            query.stop()
        except Exception:  # noqa: BLE001 - a query blocked on purpose; its batch was released
            pass


@pytest.fixture(scope="module")
def source(spark, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Delta table of two commits (two files): orders 1-3, then 4-5. Read-only for tests."""
    path = str(tmp_path_factory.mktemp("stream-source") / "orders")
    spark.createDataFrame([(1, 10), (2, 20), (3, 30)], "id long, amount long").coalesce(1).write.format("delta").save(path)
    spark.createDataFrame([(4, 40), (5, 50)], "id long, amount long").coalesce(1).write.format("delta").mode("append").save(path)
    return path


def new_app(spark, root: Path, **streaming: Any):
    settings = {"watchdog-interval-seconds": 3600, **{k.replace("_", "-"): v for k, v in streaming.items()}}
    app = make_app(config=parse_config({"streaming": settings}, root=root))
    app.use_spark(spark)
    return app


def record(app, *specs) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for spec in specs:
        app.signals.connect(spec, lambda sender, payload, name=spec.name: seen.append((name, payload)))
    return seen


def rows(spark, path: Path) -> list[tuple]:
    return sorted(tuple(r) for r in spark.read.format("delta").load(str(path)).collect())


def chain_app(spark, source: str, root: Path, **streaming: Any):
    """bronze.orders (the shared source) -> silver.orders (stream, 1 file per batch) -> gold.orders (stream)."""
    app = new_app(spark, root, **streaming)
    spark.createDataFrame([(1, "gold"), (2, "silver")], "tier_id long, tier string").write.format("delta").save(str(root / "tiers"))
    app.entity("bronze.orders", path=source)
    app.entity("silver.tiers", path="tiers", kind="dimension")
    app.entity("silver.orders", path="silver")
    app.entity("gold.orders", path="gold", merge_keys=["id"])

    @app.pipe(
        "silver.orders",
        inputs=["bronze.orders", "silver.tiers"],
        output="silver.orders",
        mode="streaming",
        dimensions=["silver.tiers"],
        trigger=FAST,
        read_options={"maxFilesPerTrigger": 1},
        write="append",
    )
    def silver(orders, tiers):
        assert orders.isStreaming and not tiers.isStreaming
        return orders.join(tiers, (orders.id % 2 + 1) == tiers.tier_id).select("id", "amount", "tier")

    @app.pipe("gold.orders", inputs=["silver.orders"], output="gold.orders", mode="streaming", trigger=FAST, write="append")
    def gold(orders):
        return orders.withColumn("doubled", F.col("amount") * 2)

    return app


def test_a_chain_of_streaming_pipes_runs_and_reports_through_app_streams(spark, source: str, tmp_path: Path) -> None:
    app = chain_app(spark, source, tmp_path)
    seen = record(app, sig.PROGRESS_MADE, sig.AFTER_START, sig.STATE_CHANGED)
    app.signals.connect(sig.PROGRESS_MADE, lambda sender, payload: 1 / 0)  # a raising receiver never reaches Spark
    started = app.streams.start()
    # consumers first; the consumer started before silver ever wrote (its input was created)
    assert [s.pipe for s in started] == ["gold.orders", "silver.orders"]
    assert {s.state for s in started} == {S.RUNNING}
    assert {q.name for q in spark.streams.active} >= {"kindling_gold_orders", "kindling_silver_orders"}
    assert app.streams.process_all_available(timeout=DEADLINE)

    expected = [(i, 10 * i, "gold" if i % 2 == 0 else "silver", 20 * i) for i in range(1, 6)]
    assert rows(spark, tmp_path / "gold") == expected
    silver_batches = [p.progress for name, p in seen if name == "streaming.progress_made" and p.pipe == "silver.orders"]
    assert [b.num_input_rows for b in silver_batches if b.num_input_rows] == [3, 2]  # maxFilesPerTrigger=1: one commit per batch
    status = app.streams.status()["silver.orders"]
    assert status.name == "kindling_silver_orders" and status.trigger == "200 milliseconds"
    assert status.checkpoint == str(tmp_path / ".kindling" / "checkpoints" / "silver.orders")
    assert status.query_id and status.run_id and status.batch_id is not None and status.batch_id >= 1
    assert status.last_progress_at is not None and status.sources and status.sources[0].description.startswith("DeltaSource")
    assert "triggerExecution" in status.duration_ms and status.restarts == 0 and status.last_error is None
    app.streams.stop()
    assert {s.state for s in app.streams.status().values()} == {S.STOPPED}
    assert app.streams.await_termination(timeout=5)
    assert not {q.name for q in spark.streams.active} & {"kindling_gold_orders", "kindling_silver_orders"}
    moves = [(p.pipe, p.state) for name, p in seen if name == "streaming.state_changed" and p.pipe == "gold.orders"]
    assert moves == [("gold.orders", s) for s in (S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED)]
    app.close()


def test_concurrent_starts_and_restarts_start_each_query_once(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path)
    app.entity("bronze.orders", path=source)
    app.entity("silver.copy", path="copy", merge_keys=["id"])
    app.pipe("copy", inputs=["bronze.orders"], output="silver.copy", mode="streaming", trigger=FAST, write="merge")(lambda o: o)
    starts = record(app, sig.AFTER_START)
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        app.streams.start()

    def restart() -> None:
        barrier.wait()
        app.streams.restart("copy", reason="test")

    for action in (start, restart):
        threads = [threading.Thread(target=action) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
        assert [q.name for q in spark.streams.active].count("kindling_copy") == 1
    runs = {p.run_id for _, p in starts}
    assert len(starts) == len(runs) >= 2  # the first start, then at least one restart, never two at once
    assert len({p.query_id for _, p in starts}) == 1  # one checkpoint, one query
    assert app.streams.process_all_available(timeout=DEADLINE)
    assert rows(spark, tmp_path / "copy") == [(i, 10 * i) for i in range(1, 6)]
    assert app.streams.query_status("copy").restarts == len(starts) - 1
    app.close()


def blocking_feed(spark, source: str, root: Path, gate: threading.Event, entered: threading.Event) -> Callable[[], Any]:
    def block(batch, batch_id) -> None:
        entered.set()
        gate.wait(DEADLINE)

    def build():
        return (
            spark.readStream.format("delta").load(source).writeStream.foreachBatch(block)
            .option("checkpointLocation", str(root / f"cp-{time.monotonic_ns()}")).trigger(processingTime="100 milliseconds")
        )

    return build


def test_a_blocked_batch_is_reported_stalled_and_its_stop_gives_up(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path, watchdog_interval_seconds=0.1, stale_after_seconds=0.3, no_progress_after_start_seconds=0.3)
    seen = record(app, sig.START_STALLED, sig.QUERY_STALLED, sig.STOP_TIMEOUT_REACHED)
    gate, entered = threading.Event(), threading.Event()
    app.streams.register("blocked_feed", blocking_feed(spark, source, tmp_path, gate, entered))
    try:
        app.streams.start()
        assert entered.wait(DEADLINE)
        wait_until("both stalls reported", lambda: {name for name, _ in seen} >= {"streaming.start_stalled", "streaming.query_stalled"})
        stalled = next(p for name, p in seen if name == "streaming.query_stalled")
        assert stalled.name == "blocked_feed" and stalled.threshold == 0.3 and stalled.seconds >= 0.3
        (status,) = app.streams.stop(timeout=0.5)
        assert not gate.is_set()  # stop() returned while the batch is still blocked
        assert status.state is S.STOPPED and status.stop_timed_out
        assert "timed out after 0.5s (gave up waiting)" in status.last_error and "isActive is false" in status.last_error
        assert not spark.streams.get(status.query_id) or not spark.streams.get(status.query_id).isActive
    finally:
        gate.set()
    assert [name for name, _ in seen].count("streaming.stop_timeout_reached") == 1


def test_sparks_stop_timeout_is_reported_as_a_timed_out_stop(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path)
    gate, entered = threading.Event(), threading.Event()
    app.streams.register("blocked_feed", blocking_feed(spark, source, tmp_path, gate, entered))
    spark.conf.set("spark.sql.streaming.stopTimeout", "1s")
    try:
        app.streams.start()
        assert entered.wait(DEADLINE)
        (status,) = app.streams.stop(timeout=60)
        assert status.stop_timed_out and "spark.sql.streaming.stopTimeout fired" in status.last_error
    finally:
        gate.set()


def test_the_watchdog_notices_queries_that_end_behind_the_listeners_back(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path, watchdog_interval_seconds=0.1)
    terminated = record(app, sig.QUERY_TERMINATED)
    app.entity("bronze.orders", path=source)
    app.entity("silver.copy", path="copy")
    app.pipe("copy", inputs=["bronze.orders"], output="silver.copy", mode="streaming", trigger=FAST, write="append")(lambda o: o)

    def explode(batch, batch_id) -> None:
        raise ValueError("bad batch")

    app.streams.register(
        "exploding",
        lambda: spark.readStream.format("delta").load(source).writeStream.foreachBatch(explode).option(
            "checkpointLocation", str(tmp_path / "cp-exploding")
        ),
    )
    app.streams.start()
    attach_listener(spark, app.streams.events.put).detach()  # the manager's listener: gone from now on
    copy = app.streams.query_status("copy")
    spark.streams.get(copy.query_id).stop()  # stopped outside app.streams; no event reaches it
    wait_until("the stop noticed", lambda: app.streams.query_status("copy").state is S.STOPPED)
    wait_until("the failure noticed", lambda: app.streams.query_status("exploding").state is S.FAILED)
    assert "bad batch" in app.streams.query_status("exploding").last_error
    assert {p.source for _, p in terminated} == {"watchdog"}
    assert {p.requested for _, p in terminated} == {False}


def test_bounded_default_trigger_ends_by_itself(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path, default_trigger="availableNow")
    app.entity("bronze.orders", path=source)
    app.entity("silver.copy", path="copy")
    app.pipe("copy", inputs=["bronze.orders"], output="silver.copy", mode="streaming", write="append")(lambda o: o)
    app.streams.start()
    assert app.streams.await_termination(timeout=DEADLINE)
    status = app.streams.query_status("copy")
    assert status.state is S.STOPPED and status.trigger == "availableNow" and status.last_error is None
    assert rows(spark, tmp_path / "copy") == [(i, 10 * i) for i in range(1, 6)]


def test_queries_of_another_session_and_names_already_taken(spark, source: str, tmp_path: Path) -> None:
    app = new_app(spark, tmp_path)
    app.entity("bronze.orders", path=source)
    app.entity("silver.copy", path="copy")
    app.pipe("copy", inputs=["bronze.orders"], output="silver.copy", mode="streaming", trigger=FAST, write="append")(lambda o: o)
    other = spark.newSession()
    foreign = other.readStream.format("delta").load(source).writeStream.format("noop").queryName("elsewhere").start()
    with pytest.raises(ForeignQueryError) as caught:
        app.streams.adopt(foreign)
    assert "query 'elsewhere' runs on another Spark session than the app's" in str(caught.value)
    foreign.stop()
    squatter = spark.readStream.format("delta").load(source).writeStream.format("noop").queryName("kindling_copy").start()
    with pytest.raises(DuplicateQueryNameError, match="a query named 'kindling_copy' is already active on this Spark session"):
        app.streams.start()
    squatter.stop()
    outside = spark.readStream.format("delta").load(source).writeStream.format("noop").queryName("outside").start()
    assert app.streams.adopt(outside) == "outside"
    app.streams.start()
    assert app.streams.query_status("copy").state is S.RUNNING
    assert app.streams.query_status("outside").state is S.RUNNING
    app.close()  # stops everything app.streams manages, the adopted query too
    assert not outside.isActive
    assert not {q.name for q in spark.streams.active} & {"kindling_copy", "outside"}
