"""The listener bridge's logic without a Spark session: copies of pyspark's event objects (built
the way Spark Connect builds them, from Spark's JSON), one listener per (session, put),
idempotent detach, and failures that never escape a callback. The same behaviour on real
queries, classic and Connect, is tested in tests/spark/test_listener.py and
tests/spark/test_connect.py."""

from __future__ import annotations

import gc
import json
import logging
import uuid
import weakref
from typing import Any

import pytest

pyspark_listener = pytest.importorskip("pyspark.sql.streaming.listener")

from kindling_core.spark.listener import (  # noqa: E402 - after the skip
    CALLBACKS,
    attach_listener,
    from_java,
    idle_from,
    progress_from,
    started_from,
    terminated_from,
)
from kindling_core.streaming.events import QueryIdle, QueryStarted, QueryTerminated, StreamEvent  # noqa: E402

QUERY, RUN = str(uuid.uuid4()), str(uuid.uuid4())
OFFSET = {"sourceVersion": 1, "reservoirVersion": 3, "index": -1}


def progress_json(batch: int = 4, start: Any = None, latest: Any = None) -> dict[str, Any]:
    return {
        "id": QUERY,
        "runId": RUN,
        "name": "orders",
        "timestamp": "2026-12-01T04:08:35.123Z",
        "batchId": batch,
        "batchDuration": 812,
        "durationMs": {"triggerExecution": 800, "addBatch": 500},
        "eventTime": {"watermark": "2026-12-01T04:00:00.000Z"},
        "stateOperators": [
            {
                "operatorName": "stateStoreSave",
                "numRowsTotal": 40,
                "numRowsUpdated": 4,
                "numRowsRemoved": 0,
                "allUpdatesTimeMs": 1,
                "allRemovalsTimeMs": 0,
                "commitTimeMs": 2,
                "memoryUsedBytes": 2048,
                "numRowsDroppedByWatermark": 0,
                "numShufflePartitions": 2,
                "numStateStoreInstances": 2,
            }
        ],
        "sources": [
            {
                "description": "DeltaSource[file:/lake/orders]",
                "startOffset": start,
                "endOffset": OFFSET,
                "latestOffset": latest,
                "numInputRows": 7,
                "inputRowsPerSecond": 1.5,
                "processedRowsPerSecond": 9.0,
            }
        ],
        "sink": {"description": "ForeachBatchSink", "numOutputRows": -1},
        "numInputRows": 7,
        "inputRowsPerSecond": 1.5,
        "processedRowsPerSecond": 9.0,
    }


def progress_event(**kwargs: Any) -> Any:
    return pyspark_listener.QueryProgressEvent.fromJson({"progress": progress_json(**kwargs)})


def started_event() -> Any:
    return pyspark_listener.QueryStartedEvent.fromJson(
        {"id": QUERY, "runId": RUN, "name": "orders", "timestamp": "2026-12-01T04:08:35.000Z"}
    )


def terminated_event(exception: str | None = None) -> Any:
    return pyspark_listener.QueryTerminatedEvent.fromJson(
        {"id": QUERY, "runId": RUN, "exception": exception, "errorClassOnException": "X" if exception else None}
    )


class FakeStreams:
    def __init__(self, fail_add: bool = False, fail_remove: bool = False) -> None:
        self.listeners: list[Any] = []
        self.removed: list[Any] = []
        self.fail_add, self.fail_remove = fail_add, fail_remove

    def addListener(self, listener: Any) -> None:  # noqa: N802 - pyspark's API
        if self.fail_add:
            raise RuntimeError("session is stopped")
        self.listeners.append(listener)

    def removeListener(self, listener: Any) -> None:  # noqa: N802 - pyspark's API
        if self.fail_remove:
            raise RuntimeError("connection lost")
        self.removed.append(listener)
        self.listeners.remove(listener)


class FakeSession:
    def __init__(self, **kwargs: bool) -> None:
        self.streams = FakeStreams(**kwargs)


class Events:
    def __init__(self) -> None:
        self.got: list[StreamEvent] = []

    def put(self, event: StreamEvent) -> None:
        self.got.append(event)


def test_progress_copy_keeps_the_fields_kindling_uses() -> None:
    copied = progress_from(progress_event(start=OFFSET)).progress
    assert (copied.query_id, copied.run_id, copied.name, copied.batch_id) == (QUERY, RUN, "orders", 4)
    assert copied.timestamp == pytest.approx(1796097715.123)
    assert (copied.num_input_rows, copied.input_rows_per_second, copied.processed_rows_per_second) == (7, 1.5, 9.0)
    assert copied.batch_duration_ms == 812 and dict(copied.duration_ms) == {"triggerExecution": 800, "addBatch": 500}
    assert copied.watermark == "2026-12-01T04:00:00.000Z"
    (operator,) = copied.state_operators
    assert (operator.operator, operator.rows_total, operator.rows_updated, operator.memory_used_bytes) == ("stateStoreSave", 40, 4, 2048)
    assert (copied.state_rows, copied.state_memory_bytes) == (40, 2048)
    (source,) = copied.sources
    assert source.description == "DeltaSource[file:/lake/orders]"
    assert source.start_offset == source.end_offset == '{"sourceVersion": 1, "reservoirVersion": 3, "index": -1}'
    assert (source.num_input_rows, source.input_rows_per_second, source.processed_rows_per_second) == (7, 1.5, 9.0)
    assert (copied.sink_description, copied.sink_rows) == ("ForeachBatchSink", -1)
    hash(copied)  # frozen copies are hashable, safe to hand across threads


@pytest.mark.parametrize("missing", [None, "None", "null"])
def test_a_missing_offset_is_none_whatever_spark_wrote(missing: Any) -> None:
    event = progress_event()
    source = event.progress.sources[0]
    source["startOffset"] = source["latestOffset"] = missing  # classic writes "None", Connect "null"
    (copied,) = progress_from(event).progress.sources
    assert copied.start_offset is None and copied.latest_offset is None
    assert copied.caught_up


def test_lifecycle_copies() -> None:
    assert started_from(started_event()) == QueryStarted(query_id=QUERY, run_id=RUN, name="orders", timestamp=pytest.approx(1796097715.0))
    idle = idle_from(pyspark_listener.QueryIdleEvent.fromJson({"id": QUERY, "runId": RUN, "timestamp": "bad"}))
    assert isinstance(idle, QueryIdle) and idle.timestamp > 0  # an unreadable time: the time of receipt
    ended = terminated_from(terminated_event("boom"))
    assert isinstance(ended, QueryTerminated)
    assert (ended.query_id, ended.run_id, ended.exception, ended.error_class, ended.source) == (QUERY, RUN, "boom", "X", "listener")


class JavaEvent:
    """A classic Java event as kindling's copy uses it: only ``json()`` (Spark's JSON of the event)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


def test_classic_java_events_are_copied_from_their_json_as_connect_events_are() -> None:
    """Spark's JSON holds offsets parsed (objects); pyspark's Connect events hold them as text.
    Both give the same copy."""
    assert from_java(progress_from)(JavaEvent({"progress": progress_json(start=OFFSET)})) == progress_from(progress_event(start=OFFSET))
    started = {"id": QUERY, "runId": RUN, "name": "orders", "timestamp": "2026-12-01T04:08:35.000Z", "jobTags": []}
    assert from_java(started_from)(JavaEvent(started)) == started_from(started_event())
    idle = {"id": QUERY, "runId": RUN, "timestamp": "2026-12-01T04:08:36.000Z"}
    assert from_java(idle_from)(JavaEvent(idle)) == idle_from(pyspark_listener.QueryIdleEvent.fromJson(idle))
    ended = from_java(terminated_from)(JavaEvent({"id": QUERY, "runId": RUN, "exception": "boom", "errorClassOnException": None}))
    assert (ended.query_id, ended.exception, ended.error_class) == (QUERY, "boom", None)


def test_rates_spark_left_out_of_its_json_are_zero() -> None:
    body = progress_json()
    del body["inputRowsPerSecond"], body["sources"][0]["processedRowsPerSecond"]  # NaN: Spark writes nothing
    copied = from_java(progress_from)(JavaEvent({"progress": body})).progress
    assert copied.input_rows_per_second == 0.0 and copied.sources[0].processed_rows_per_second == 0.0


def test_callbacks_copy_and_put_every_kind_of_event() -> None:
    session, events = FakeSession(), Events()
    attach_listener(session, events.put)
    (listener,) = session.streams.listeners
    listener.onQueryStarted(started_event())
    listener.onQueryProgress(progress_event())
    listener.onQueryIdle(pyspark_listener.QueryIdleEvent.fromJson({"id": QUERY, "runId": RUN, "timestamp": "2026-12-01T04:08:36.000Z"}))
    listener.onQueryTerminated(terminated_event())
    assert [type(event).__name__ for event in events.got] == ["QueryStarted", "QueryProgressed", "QueryIdle", "QueryTerminated"]
    assert isinstance(listener, pyspark_listener.StreamingQueryListener)


def test_one_listener_per_session_and_put() -> None:
    session, events, other = FakeSession(), Events(), Events()
    first = attach_listener(session, events.put)
    assert attach_listener(session, events.put) is first  # an equal bound method: the same attachment
    second = attach_listener(session, other.put)
    assert second is not first
    assert len(session.streams.listeners) == 2
    assert attach_listener(FakeSession(), events.put) is not first  # another session


def test_detach_removes_the_listener_once_and_stops_delivery() -> None:
    session, events = FakeSession(), Events()
    detach = attach_listener(session, events.put)
    (listener,) = session.streams.listeners
    assert detach.attached
    detach()
    detach()
    assert session.streams.removed == [listener] and not detach.attached
    listener.onQueryProgress(progress_event())  # a late call from Spark's bus
    assert events.got == []
    assert attach_listener(session, events.put) is not detach  # attaching again is a new listener


def test_detach_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    session = FakeSession(fail_remove=True)
    detach = attach_listener(session, Events().put)
    with caplog.at_level(logging.WARNING, logger="kindling.streaming"):
        detach()
    assert not detach.attached
    assert "could not remove kindling's streaming listener" in caplog.text
    assert "connection lost" in caplog.text


def test_a_failed_registration_raises_and_leaves_nothing_behind() -> None:
    session, events = FakeSession(fail_add=True), Events()
    with pytest.raises(RuntimeError, match="session is stopped"):
        attach_listener(session, events.put)
    session.streams.fail_add = False
    attachment = attach_listener(session, events.put)
    assert attachment.attached and len(session.streams.listeners) == 1


def test_a_failing_copy_or_put_is_counted_logged_once_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    session = FakeSession()
    calls = []

    def refusing_put(event: StreamEvent) -> None:
        calls.append(event)
        raise ValueError("queue is gone")

    attachment = attach_listener(session, refusing_put)
    (listener,) = session.streams.listeners
    with caplog.at_level(logging.ERROR, logger="kindling.streaming"):
        for _ in range(3):
            listener.onQueryProgress(progress_event())
            listener.onQueryIdle(object())  # not an event: the copy fails
    assert len(calls) == 3
    assert attachment.stats().failures == {"onQueryStarted": 0, "onQueryProgress": 3, "onQueryIdle": 3, "onQueryTerminated": 0}
    assert attachment.stats().total_failures == 6
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "onQueryProgress failed in put " in messages[0] and "<locals>.refusing_put" in messages[0]
    assert "onQueryIdle failed copying Spark's event" in messages[1]
    assert "ValueError: queue is gone" in caplog.text
    assert set(attachment.stats().failures) == set(CALLBACKS)


def test_attaching_does_not_keep_a_session_alive() -> None:
    session = FakeSession()
    attachment = attach_listener(session, Events().put)
    gone = weakref.ref(session)
    del session
    gc.collect()
    assert gone() is None
    attachment()  # detaching after the session is gone does nothing and raises nothing
    assert not attachment.attached
