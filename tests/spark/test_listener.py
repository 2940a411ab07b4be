"""The listener bridge on a real local Spark session, with real Structured Streaming queries.

One query reading a small Delta table (``noop`` sink, 200 ms trigger, idle events every
100 ms) is observed by several attachments at once: a recording one (attached twice with the
same ``put``), one whose ``put`` raises on the first event of each kind, one whose ``put``
always raises, and one detached before the query starts. A second query fails in its
``foreachBatch`` function. Every wait has a deadline and every query is stopped.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling_core.spark.listener import CALLBACKS, ListenerAttachment, attach_listener
from kindling_core.streaming.events import QueryIdle, QueryProgressed, QueryStarted, QueryTerminated, StreamEvent

pytestmark = pytest.mark.spark

DEADLINE = 120.0  # seconds for any one event to arrive; reached only when something is broken
IDLE_CONF = "spark.sql.streaming.noDataProgressEventInterval"


class Recorder:
    """A ``put`` that keeps the events of one query and lets a test wait for them."""

    def __init__(self) -> None:
        self.query_id: str | None = None  # set once the query started; events of others are ignored
        self.events: list[StreamEvent] = []
        self._changed = threading.Condition()

    def put(self, event: StreamEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def mine(self) -> list[StreamEvent]:
        with self._changed:
            return [event for event in self.events if event.query_id == self.query_id]

    def wait_for(self, what: str, predicate: Callable[[list[StreamEvent]], bool]) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.mine()), DEADLINE):
                pytest.fail(f"no {what} within {DEADLINE:.0f}s; got {[type(e).__name__ for e in self.mine()]}")


def batches(events: list[StreamEvent]) -> list[int]:
    return [event.progress.batch_id for event in events if isinstance(event, QueryProgressed)]


def kinds(events: list[StreamEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def has_idle_after_batch(batch: int) -> Callable[[list[StreamEvent]], bool]:
    def check(events: list[StreamEvent]) -> bool:
        seen = False
        for event in events:
            seen = seen or (isinstance(event, QueryProgressed) and event.progress.batch_id == batch)
            if seen and isinstance(event, QueryIdle):
                return True
        return False

    return check


def terminated(events: list[StreamEvent]) -> bool:
    return any(isinstance(event, QueryTerminated) for event in events)


@pytest.fixture(scope="module")
def stop_queries(spark) -> Iterator[None]:
    """Stop every query still active when this module's tests are done."""
    yield
    for query in spark.streams.active:
        query.stop()


def delta_source(spark, path: Path, first: int, count: int) -> None:
    spark.range(first, first + count).write.format("delta").mode("append").save(str(path))


def start_query(spark, source: Path, checkpoint: Path, name: str, **write: Any):
    """A stream over the Delta table at ``source``; idle events every 100 ms while it has no data."""
    spark.conf.set(IDLE_CONF, "100ms")  # read when the query starts
    try:
        writer = spark.readStream.format("delta").load(str(source)).writeStream
        if "foreach_batch" in write:
            writer = writer.foreachBatch(write["foreach_batch"])
        else:
            writer = writer.format("noop")
        return (
            writer.option("checkpointLocation", str(checkpoint)).queryName(name).trigger(processingTime="200 milliseconds").start()
        )
    finally:
        spark.conf.unset(IDLE_CONF)


class FlakyPut(Recorder):
    """Raises on the first started, progress and idle event, records the others."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_kinds: set[type] = set()

    def put(self, event: StreamEvent) -> None:
        if type(event) not in self.failed_kinds and not isinstance(event, QueryTerminated):
            self.failed_kinds.add(type(event))
            raise RuntimeError(f"flaky put refuses the first {type(event).__name__}")
        super().put(event)


class BrokenPut(Recorder):
    """Records every event, then raises."""

    def put(self, event: StreamEvent) -> None:
        super().put(event)
        raise RuntimeError("broken put")


class LogRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def observed(spark, stop_queries, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the observed query once; every attachment is detached before the tests look."""
    root = tmp_path_factory.mktemp("listener")
    source = root / "source"
    delta_source(spark, source, 0, 5)
    log = LogRecords()
    logging.getLogger("kindling.streaming").addHandler(log)
    recorder, flaky, broken, early = Recorder(), FlakyPut(), BrokenPut(), Recorder()
    attachments: list[ListenerAttachment] = []
    query = None
    try:
        first = attach_listener(spark, recorder.put)
        again = attach_listener(spark, recorder.put)
        attachments += [first, attach_listener(spark, flaky.put), attach_listener(spark, broken.put)]
        detached_early = attach_listener(spark, early.put)
        detached_early()
        detached_early()  # idempotent

        query = start_query(spark, source, root / "checkpoint", f"listener_{uuid.uuid4().hex[:8]}")
        recorder.query_id = flaky.query_id = broken.query_id = str(query.id)
        recorder.wait_for("progress of batch 0 then an idle event", has_idle_after_batch(0))
        delta_source(spark, source, 5, 3)
        recorder.wait_for("progress of batch 1 then an idle event", has_idle_after_batch(1))
        flaky.wait_for("flaky put's progress of batch 1", lambda events: 1 in batches(events))
        flaky.wait_for("flaky put's second idle event", has_idle_after_batch(1))
        active_after_failures, exception_after_failures = query.isActive, query.exception()
        query.stop()
        recorder.wait_for("the terminated event", terminated)
        flaky.wait_for("flaky put's terminated event", terminated)
        broken.wait_for("broken put's terminated event", terminated)  # listeners are called one after the other
    finally:
        if query is not None and query.isActive:
            query.stop()
        for attachment in attachments:
            attachment()
        logging.getLogger("kindling.streaming").removeHandler(log)
    return {
        "query": {"id": str(query.id), "run_id": str(query.runId), "name": query.name},
        "same_attachment": first is again,
        "recorded": recorder.mine(),
        "flaky": flaky.mine(),
        "flaky_stats": attachments[1].stats(),
        "broken_stats": attachments[2].stats(),
        "broken_calls": len(broken.events),
        "early": early.events,
        "early_attached": detached_early.attached,
        "still_attached": [attachment.attached for attachment in attachments],
        "active_after_failures": active_after_failures,
        "exception_after_failures": exception_after_failures,
        "log": log.records,
    }


def test_started_progress_idle_and_terminated_reach_put_in_order(observed: dict[str, Any]) -> None:
    events = observed["recorded"]
    assert kinds(events)[0] == "QueryStarted"
    assert kinds(events)[-1] == "QueryTerminated"
    assert kinds(events).count("QueryStarted") == kinds(events).count("QueryTerminated") == 1
    assert batches(events) == [0, 1]
    assert has_idle_after_batch(0)(events) and has_idle_after_batch(1)(events)
    stamps = [event.progress.timestamp if isinstance(event, QueryProgressed) else event.timestamp for event in events]
    assert stamps == sorted(stamps)


def test_events_carry_the_querys_ids_and_name(observed: dict[str, Any]) -> None:
    query = observed["query"]
    started, *_, ended = observed["recorded"]
    assert isinstance(started, QueryStarted) and isinstance(ended, QueryTerminated)
    assert (started.query_id, started.run_id, started.name) == (query["id"], query["run_id"], query["name"])
    assert (ended.run_id, ended.exception, ended.error_class, ended.source) == (query["run_id"], None, None, "listener")
    for event in observed["recorded"]:
        assert (event.query_id, event.run_id) == (query["id"], query["run_id"])


def test_progress_fields_are_copied(observed: dict[str, Any]) -> None:
    first, second = (event.progress for event in observed["recorded"] if isinstance(event, QueryProgressed))
    assert first.name == observed["query"]["name"]
    assert (first.num_input_rows, second.num_input_rows) == (5, 3)
    assert (first.sink_rows, second.sink_rows) == (5, 3)
    assert first.sink_description == "NoopTable"
    assert {"triggerExecution", "addBatch", "latestOffset"} <= set(first.duration_ms)
    assert first.batch_duration_ms > 0 and first.duration_ms["triggerExecution"] > 0
    assert second.processed_rows_per_second > 0
    assert first.watermark is None and first.state_operators == ()
    (source0,), (source1,) = first.sources, second.sources
    assert source0.description.startswith("DeltaSource[")
    assert source0.start_offset is None  # Spark's null offset, never the text "None"
    assert json.loads(source0.end_offset)["reservoirVersion"] == 1
    assert source1.start_offset == source0.end_offset
    assert json.loads(source1.end_offset)["reservoirVersion"] == 2
    assert source0.num_input_rows == 5


def test_attaching_the_same_put_twice_does_not_double_events(observed: dict[str, Any]) -> None:
    assert observed["same_attachment"]
    events = observed["recorded"]
    assert len(events) == len(set(events))


def test_a_put_that_raises_breaks_neither_the_query_nor_later_events(observed: dict[str, Any]) -> None:
    assert observed["active_after_failures"] and observed["exception_after_failures"] is None
    flaky = observed["flaky"]  # the first started, progress and idle events raised in put
    assert batches(flaky) == [1]
    assert has_idle_after_batch(1)(flaky)
    assert terminated(flaky)
    assert observed["flaky_stats"].failures == {
        "onQueryStarted": 1,
        "onQueryProgress": 1,
        "onQueryIdle": 1,
        "onQueryTerminated": 0,
    }


def test_failures_are_counted_each_time_and_logged_once_per_callback(observed: dict[str, Any]) -> None:
    failures = observed["broken_stats"].failures
    assert failures["onQueryStarted"] >= 1 and failures["onQueryTerminated"] >= 1
    assert failures["onQueryProgress"] >= 2 and failures["onQueryIdle"] >= 2
    assert observed["broken_stats"].total_failures == observed["broken_calls"]
    logged = [record for record in observed["log"] if "BrokenPut.put" in record.getMessage()]
    assert sorted(record.args[0] for record in logged) == sorted(CALLBACKS)  # type: ignore[index]
    assert all(record.levelno == logging.ERROR and record.exc_info for record in logged)
    assert "RuntimeError: broken put" in logging.Formatter().format(logged[0])
    flaky_logged = [record for record in observed["log"] if "FlakyPut.put" in record.getMessage()]
    assert len(flaky_logged) == 3


def test_a_detached_listener_receives_nothing(observed: dict[str, Any]) -> None:
    assert observed["early"] == []
    assert observed["early_attached"] is False
    assert observed["still_attached"] == [False, False, False]


def test_a_failing_query_ends_with_a_terminated_event_naming_the_python_error(spark, stop_queries, tmp_path: Path) -> None:
    delta_source(spark, tmp_path / "source", 0, 2)
    recorder = Recorder()

    def explode(batch, batch_id: int) -> None:
        raise ValueError(f"kindling-listener-boom in batch {batch_id}")

    detach = attach_listener(spark, recorder.put)
    try:
        query = start_query(spark, tmp_path / "source", tmp_path / "checkpoint", "listener_failing", foreach_batch=explode)
        recorder.query_id = str(query.id)
        recorder.wait_for("the terminated event", terminated)
    finally:
        detach()
    started, ended = recorder.mine()
    assert isinstance(started, QueryStarted) and isinstance(ended, QueryTerminated)
    assert ended.run_id == started.run_id == str(query.runId)
    assert "ValueError: kindling-listener-boom in batch 0" in ended.exception
    assert ended.error_class == "FOREACH_BATCH_USER_FUNCTION_ERROR"
    assert not query.isActive
