"""The queue between Spark's listener callbacks and the one thread that consumes their events.

:class:`EventQueue` holds :data:`~kindling_core.streaming.events.StreamEvent` values. Its
producers are Spark's listener callbacks (through :func:`kindling_core.spark.listener.attach_listener`)
and the watchdog; its consumer is the stream manager's event thread.

Public API: ``EventQueue(capacity=1024)`` with ``put(event)``, ``get(timeout=None)``,
``close()``, ``closed``, ``len(queue)`` and ``stats()`` → :class:`EventQueueStats`.

Invariants:

* ``put`` never waits for room and never raises for a full queue: it runs inside Spark's
  listener callback (``onQueryStarted`` even inside ``start()``). It only takes the queue's own
  lock for a few dictionary and deque operations.
* :class:`~kindling_core.streaming.events.QueryStarted`,
  :class:`~kindling_core.streaming.events.QueryIdle` and
  :class:`~kindling_core.streaming.events.QueryTerminated` are never dropped.
* Under pressure (``len(queue) >= capacity`` when a progress event arrives) a
  :class:`~kindling_core.streaming.events.QueryProgressed` replaces the progress of the same
  query that is still waiting, *in its place*, provided no other event of that query was put
  after it; the replaced one is counted in ``stats().dropped_progress``. Otherwise it is queued.
  Hence the newest progress of every query always survives, and so does the last progress put
  before each started, idle or terminated event of that query.
* Events of one query (same ``query_id``) are delivered in the order they were put, minus the
  replaced progress events: a started event is never delivered after a progress put after it,
  and a terminated event is delivered after the last progress put before it. Events of
  different queries keep their put order too, except that a replacing progress takes the
  replaced one's place.
* The bound is soft, by construction never at the cost of an event that must survive: beyond
  ``capacity`` the queue grows only by lifecycle (started, idle, terminated) events and by at
  most one progress per query per lifecycle event. ``stats().high_water_mark`` shows how far.
* Counts add up: ``put == delivered + dropped_progress + size``.

``get`` is meant for one consumer thread (several are safe, but then per-query order depends
on how they interleave). ``close()`` wakes it: from then on ``get`` returns what is still
queued without waiting, then ``None``. Events put after ``close()`` are still accepted (a
late terminated event stays readable), so detach the listener before closing for good.
"""

from __future__ import annotations

import threading
from collections import deque

import attrs

from kindling_core.streaming.errors import StreamingError
from kindling_core.streaming.events import QueryProgressed, StreamEvent

__all__ = ["DEFAULT_CAPACITY", "EventQueue", "EventQueueStats"]

#: Events queued before progress events start to be coalesced.
DEFAULT_CAPACITY = 1024


@attrs.frozen
class EventQueueStats:
    """Counts of an :class:`EventQueue` at one moment (``put == delivered + dropped_progress + size``).

    ``put``: events accepted by ``put``; ``delivered``: events returned by ``get``;
    ``dropped_progress``: progress events replaced by a newer progress of the same query;
    ``size``: events waiting now; ``high_water_mark``: the most events ever waiting at once.
    """

    capacity: int
    put: int
    delivered: int
    dropped_progress: int
    size: int
    high_water_mark: int


class _Slot:
    """One place in the queue; a coalesced progress event overwrites ``event`` in place."""

    __slots__ = ("event",)

    def __init__(self, event: StreamEvent) -> None:
        self.event = event


class EventQueue:
    """A bounded, thread-safe FIFO of stream events that coalesces progress per query under pressure.

    ``capacity`` (events, >= 1) is where coalescing starts; anything else raises
    :class:`~kindling_core.streaming.errors.StreamingError` naming the value.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if type(capacity) is not int or capacity < 1:
            raise StreamingError(
                f"EventQueue capacity must be a positive integer, got {capacity!r}",
                culprit=f"EventQueue(capacity={capacity!r})",
                remedy=f"pass a whole number of events, at least 1 (the default is {DEFAULT_CAPACITY})",
            )
        self._capacity = capacity
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._slots: deque[_Slot] = deque()
        # query id -> the slot of its newest queued progress, as long as no other event of
        # that query was put after it (only such a slot may be overwritten).
        self._open_progress: dict[str, _Slot] = {}
        self._closed = False
        self._put = 0
        self._delivered = 0
        self._dropped_progress = 0
        self._high_water_mark = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._slots)

    def put(self, event: StreamEvent) -> None:
        """Queue ``event``; never waits, never drops a started, idle or terminated event."""
        query_id = event.query_id
        with self._lock:
            self._put += 1
            slots = self._slots
            if type(event) is QueryProgressed:
                if len(slots) >= self._capacity:
                    slot = self._open_progress.get(query_id)
                    if slot is not None:
                        slot.event = event
                        self._dropped_progress += 1
                        return
                slot = _Slot(event)
                slots.append(slot)
                self._open_progress[query_id] = slot
            else:
                self._open_progress.pop(query_id, None)
                slots.append(_Slot(event))
            if len(slots) > self._high_water_mark:
                self._high_water_mark = len(slots)
            self._ready.notify()

    def get(self, timeout: float | None = None) -> StreamEvent | None:
        """The oldest event; waits up to ``timeout`` seconds (``None``: until one arrives or
        :meth:`close`). ``None`` when the time ran out, or the queue is closed and empty."""
        with self._ready:
            if not self._slots and not self._closed:
                self._ready.wait_for(self._has_work, timeout)
            if not self._slots:
                return None
            slot = self._slots.popleft()
            event = slot.event
            if type(event) is QueryProgressed and self._open_progress.get(event.query_id) is slot:
                del self._open_progress[event.query_id]
            self._delivered += 1
            return event

    def _has_work(self) -> bool:
        return bool(self._slots) or self._closed

    def close(self) -> None:
        """Wake the consumer: ``get`` stops waiting once the queue is empty. Idempotent."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def stats(self) -> EventQueueStats:
        with self._lock:
            return EventQueueStats(
                capacity=self._capacity,
                put=self._put,
                delivered=self._delivered,
                dropped_progress=self._dropped_progress,
                size=len(self._slots),
                high_water_mark=self._high_water_mark,
            )
