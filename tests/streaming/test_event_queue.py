"""EventQueue: never drops lifecycle events, coalesces progress per query under pressure, keeps
per-query order, never blocks the producer, and wakes its consumer on close."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kindling_core.streaming.errors import StreamingError
from kindling_core.streaming.events import (
    ProgressSnapshot,
    QueryIdle,
    QueryProgressed,
    QueryStarted,
    QueryTerminated,
    StreamEvent,
)
from kindling_core.streaming.queue import DEFAULT_CAPACITY, EventQueue, EventQueueStats

WAIT = 30.0  # seconds: a deadline for thread joins and waits, never reached when the code works


def started(query: str, seq: int = 0) -> QueryStarted:
    return QueryStarted(query_id=query, run_id=f"run-{seq}", name=query, timestamp=float(seq))


def progress(query: str, batch: int) -> QueryProgressed:
    return QueryProgressed(ProgressSnapshot(query_id=query, run_id="run", name=query, timestamp=float(batch), batch_id=batch))


def idle(query: str, seq: int = 0) -> QueryIdle:
    return QueryIdle(query_id=query, run_id="run", timestamp=float(seq))


def terminated(query: str, seq: int = 0) -> QueryTerminated:
    return QueryTerminated(query_id=query, run_id="run", timestamp=float(seq))


def drain(queue: EventQueue) -> list[StreamEvent]:
    events = []
    while (event := queue.get(timeout=0)) is not None:
        events.append(event)
    return events


def test_below_capacity_every_event_is_delivered_in_put_order() -> None:
    queue = EventQueue(capacity=10)
    events = [started("a"), progress("a", 0), started("b"), progress("a", 1), idle("a"), progress("b", 0), terminated("a")]
    for event in events:
        queue.put(event)
    assert len(queue) == len(events)
    assert drain(queue) == events
    assert queue.stats() == EventQueueStats(capacity=10, put=7, delivered=7, dropped_progress=0, size=0, high_water_mark=7)


def test_at_capacity_a_newer_progress_replaces_the_waiting_one_of_its_query_in_place() -> None:
    queue = EventQueue(capacity=3)
    for event in (progress("a", 0), progress("b", 0), started("c")):
        queue.put(event)
    queue.put(progress("a", 1))
    queue.put(progress("a", 2))
    queue.put(progress("b", 1))
    assert drain(queue) == [progress("a", 2), progress("b", 1), started("c")]
    stats = queue.stats()
    assert (stats.put, stats.delivered, stats.dropped_progress, stats.high_water_mark) == (6, 3, 3, 3)


def test_coalescing_never_crosses_another_event_of_the_same_query() -> None:
    queue = EventQueue(capacity=1)
    queue.put(progress("a", 0))
    queue.put(terminated("a"))  # the last progress before the terminated event must survive
    queue.put(started("a", 1))
    queue.put(progress("a", 1))
    queue.put(idle("a"))
    queue.put(progress("a", 2))
    queue.put(progress("a", 3))  # replaces batch 2 only: nothing of "a" was put after it
    assert drain(queue) == [progress("a", 0), terminated("a"), started("a", 1), progress("a", 1), idle("a"), progress("a", 3)]
    assert queue.stats().dropped_progress == 1


def test_started_idle_and_terminated_events_are_never_dropped_however_full() -> None:
    queue = EventQueue(capacity=1)
    lifecycle = [event for n in range(100) for event in (started(f"q{n}"), idle(f"q{n}"), terminated(f"q{n}"))]
    for event in lifecycle:
        queue.put(event)
    assert drain(queue) == lifecycle
    assert queue.stats().high_water_mark == 300


def test_when_full_the_first_progress_of_a_query_is_still_queued() -> None:
    queue = EventQueue(capacity=2)
    for query in "abcd":
        queue.put(progress(query, 0))
    assert [event.query_id for event in drain(queue)] == ["a", "b", "c", "d"]
    assert queue.stats().dropped_progress == 0


def test_a_delivered_progress_is_not_replaced_afterwards() -> None:
    queue = EventQueue(capacity=1)
    queue.put(progress("a", 0))
    assert queue.get(timeout=0) == progress("a", 0)
    queue.put(progress("a", 1))
    queue.put(progress("a", 2))
    assert drain(queue) == [progress("a", 2)]
    assert queue.stats().dropped_progress == 1


def test_get_returns_none_when_nothing_arrives_in_time() -> None:
    queue = EventQueue()
    assert queue.get(timeout=0) is None
    assert queue.get(timeout=0.01) is None
    assert queue.capacity == DEFAULT_CAPACITY
    assert not queue.closed


def test_close_wakes_a_waiting_consumer_and_leaves_queued_events_readable() -> None:
    queue = EventQueue()
    waiting = threading.Event()
    got: list[StreamEvent | None] = []

    def consume() -> None:
        waiting.set()
        got.append(queue.get())  # no timeout: only close() or an event ends this wait

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert waiting.wait(WAIT)
    queue.close()
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert got == [None]
    assert queue.closed
    queue.put(terminated("late"))  # a late terminated event is still kept
    queue.close()  # idempotent
    assert queue.get() == terminated("late")
    assert queue.get() is None  # closed and empty: returns at once


def test_put_never_waits_for_a_consumer() -> None:
    queue = EventQueue(capacity=8)
    done = threading.Event()

    def produce() -> None:
        for batch in range(5000):
            for query in ("a", "b", "c"):
                queue.put(progress(query, batch))
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert done.wait(WAIT), "put blocked with no consumer"
    producer.join(WAIT)
    stats = queue.stats()
    assert stats.put == 15000
    assert stats.size <= 8 + 3
    assert stats.put == stats.delivered + stats.dropped_progress + stats.size
    assert {event.query_id: event.progress.batch_id for event in drain(queue) if isinstance(event, QueryProgressed)} == {
        "a": 4999,
        "b": 4999,
        "c": 4999,
    }


@pytest.mark.parametrize("capacity", [2, 10_000])
def test_concurrent_producers_keep_each_querys_order_and_newest_progress(capacity: int) -> None:
    queries = [f"q{n}" for n in range(6)]
    batches = 300
    queue = EventQueue(capacity=capacity)
    go = threading.Barrier(len(queries) + 1)
    received: list[StreamEvent] = []

    def produce(query: str) -> None:
        go.wait(WAIT)
        queue.put(started(query))
        for batch in range(batches):
            queue.put(progress(query, batch))
        queue.put(terminated(query))

    def consume() -> None:
        go.wait(WAIT)
        pending = set(queries)
        while pending:
            event = queue.get(timeout=WAIT)
            assert event is not None, "an event went missing"
            received.append(event)
            if isinstance(event, QueryTerminated):
                pending.discard(event.query_id)

    threads = [threading.Thread(target=produce, args=(query,)) for query in queries]
    threads.append(threading.Thread(target=consume))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)

    stats = queue.stats()
    assert stats.put == len(queries) * (batches + 2)
    assert stats.put == stats.delivered + stats.dropped_progress + stats.size
    assert stats.size == 0
    for query in queries:
        mine = [event for event in received if event.query_id == query]
        assert mine[0] == started(query)
        assert mine[-1] == terminated(query)
        batch_ids = [event.progress.batch_id for event in mine[1:-1]]  # type: ignore[union-attr]
        assert batch_ids == sorted(set(batch_ids))
        assert batch_ids[-1] == batches - 1
    if capacity > stats.put:
        assert stats.dropped_progress == 0


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "8"])
def test_a_capacity_that_is_not_a_positive_integer_is_refused(capacity: object) -> None:
    with pytest.raises(StreamingError) as caught:
        EventQueue(capacity=capacity)  # type: ignore[arg-type]
    assert f"EventQueue(capacity={capacity!r})" in str(caught.value)
    assert "positive integer" in str(caught.value)


# --- property: what survives, and in which order ------------------------------------------

KINDS = ("started", "progress", "idle", "terminated")
operation = st.one_of(
    st.tuples(st.just("put"), st.sampled_from("abc"), st.sampled_from(KINDS)),
    st.tuples(st.just("get"), st.just(""), st.just("")),
)


def make(kind: str, query: str, seq: int) -> StreamEvent:
    """An event whose ``seq`` (put order) can be read back: run id for lifecycle events, batch id for progress."""
    if kind == "progress":
        return progress(query, seq)
    if kind == "started":
        return QueryStarted(query_id=query, run_id=str(seq), name=None, timestamp=0.0)
    if kind == "idle":
        return QueryIdle(query_id=query, run_id=str(seq), timestamp=0.0)
    return QueryTerminated(query_id=query, run_id=str(seq))


def seq_of(event: StreamEvent) -> int:
    return event.progress.batch_id if isinstance(event, QueryProgressed) else int(event.run_id)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=5), operations=st.lists(operation, max_size=80))
def test_property_only_superseded_progress_is_lost_and_per_query_order_holds(
    capacity: int, operations: list[tuple[str, str, str]]
) -> None:
    queue = EventQueue(capacity=capacity)
    put: list[StreamEvent] = []
    delivered: list[StreamEvent] = []
    counter = itertools.count()
    for action, query, kind in operations:
        if action == "put":
            event = make(kind, query, next(counter))
            put.append(event)
            queue.put(event)
            lifecycle_waiting = sum(1 for e in put if not isinstance(e, QueryProgressed)) - sum(
                1 for e in delivered if not isinstance(e, QueryProgressed)
            )
            assert len(queue) <= capacity + 3 + lifecycle_waiting  # 3 queries
        else:
            got = queue.get(timeout=0)
            if got is not None:
                delivered.append(got)
    delivered += drain(queue)

    stats = queue.stats()
    assert stats.put == len(put) == stats.delivered + stats.dropped_progress
    assert len(delivered) == stats.delivered
    lost = [event for event in put if event not in delivered]
    assert all(isinstance(event, QueryProgressed) for event in lost), "only progress may be dropped"
    assert len(lost) == stats.dropped_progress
    for query in "abc":
        sent = [event for event in put if event.query_id == query]
        got = [event for event in delivered if event.query_id == query]
        assert [seq_of(e) for e in got] == sorted(seq_of(e) for e in got), "per-query order"
        progress_sent = [event for event in sent if isinstance(event, QueryProgressed)]
        if progress_sent:
            assert progress_sent[-1] in got, "the newest progress of a query survives"
        for before, after in itertools.pairwise(sent):
            if isinstance(before, QueryProgressed) and not isinstance(after, QueryProgressed):
                assert before in got, "the last progress before a lifecycle event survives"
