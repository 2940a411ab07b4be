"""The bridge from Spark's ``StreamingQueryListener`` to kindling's stream events.

Public API:

``attach_listener(spark, put) -> ListenerAttachment``
    registers one listener on ``spark`` (classic or Spark Connect) whose callbacks copy the
    fields kindling uses into the frozen events of :mod:`kindling_core.streaming.events` and
    call ``put(event)`` (typically :meth:`kindling_core.streaming.queue.EventQueue.put`). The
    returned :class:`ListenerAttachment` is the ``detach`` callable: calling it removes the
    listener; calling it again does nothing. ``attachment.stats()`` → :class:`ListenerStats`
    (failures per callback).
``started_from`` / ``progress_from`` / ``idle_from`` / ``terminated_from``
    the copies the callbacks make, one per Spark event type.

Invariants:

* Nothing raises into Spark's listener bus: a failure while copying Spark's event or inside
  ``put`` is caught, counted per callback and logged once per callback (logger
  ``kindling.streaming``, with the traceback); later events are delivered as usual.
* The callback body is the copy and one ``put`` call: no lock of its own (only ``put``'s), no
  py4j call, no signal, no thread. ``put`` must not block either.
* After ``detach()`` returns, ``put`` is not called again (a callback already running may
  finish). Do not call ``detach()`` from ``put``: on Spark Connect the listener bus holds its
  lock while calling listeners, and removing the last listener waits for that thread.
* One listener per ``(session, put)``: attaching the same ``put`` (equal callables, e.g. the
  same bound method) to the same session again returns the existing attachment, so events are
  never doubled; either caller's ``detach()`` removes it. A different ``put`` gets its own
  listener.
* Importing this module never imports pyspark: the listener class is built on first use.

Classic Spark and Spark Connect differ in where the callbacks run and what they cost:

* classic: the JVM calls the Python listener through Py4J. ``onQueryStarted`` runs
  synchronously inside ``start()`` (on a Py4J callback thread, while ``start()`` waits); the
  others on a Py4J callback thread fed by Spark's streaming listener bus. Before our callback
  runs, pyspark has already converted the Java event into Python objects
  (``QueryProgressEvent.fromJObject``: tens of Py4J round trips per progress, on that thread);
  reading ``event.progress`` and its fields is then plain Python. Null offsets arrive as the
  text ``"None"``; they are copied as ``None``. Spark's own bus may drop events under load
  (the watchdog covers that).
* Spark Connect: the listener runs in the client process (a client-side listener bus, not
  pickled to the server). The server streams progress, idle and terminated events as JSON to
  one client thread, which builds the events (``fromJson``) and calls the listeners in turn
  while holding the bus lock. ``onQueryStarted`` is called by the client in the thread that
  called ``start()``, after the server answered, so a very fast first batch's progress can
  arrive before it. Null offsets arrive as ``"null"``; they are copied as ``None``. If the
  event stream breaks, pyspark removes every client listener (with a warning) and events stop:
  the watchdog notices queries ending without events.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core.streaming.events import (
    ProgressSnapshot,
    QueryIdle,
    QueryProgressed,
    QueryStarted,
    QueryTerminated,
    SourceProgress,
    StateOperatorProgress,
    StreamEvent,
    parse_spark_timestamp,
)

__all__ = [
    "ListenerAttachment",
    "ListenerStats",
    "attach_listener",
    "idle_from",
    "progress_from",
    "started_from",
    "terminated_from",
]

logger = logging.getLogger("kindling.streaming")

Put = Callable[[StreamEvent], object]

CALLBACKS = ("onQueryStarted", "onQueryProgress", "onQueryIdle", "onQueryTerminated")


# --- copies of Spark's events -------------------------------------------------------------


def _offset(text: str | None) -> str | None:
    """Spark's offset JSON, ``None`` for a missing one (classic says ``"None"``, Connect ``"null"``)."""
    if text is None or text == "None" or text == "null":
        return None
    return text


def started_from(event: Any) -> QueryStarted:
    """Copy a ``QueryStartedEvent``."""
    return QueryStarted(
        query_id=str(event.id),
        run_id=str(event.runId),
        name=event.name,
        timestamp=parse_spark_timestamp(event.timestamp, time.time()),
    )


def progress_from(event: Any) -> QueryProgressed:
    """Copy a ``QueryProgressEvent``: ids, batch, rows and rates, duration parts, watermark,
    state operators' rows and memory, sources' offsets and the sink's output rows."""
    progress = event.progress
    sink = progress.sink
    return QueryProgressed(
        ProgressSnapshot(
            query_id=str(progress.id),
            run_id=str(progress.runId),
            name=progress.name,
            timestamp=parse_spark_timestamp(progress.timestamp, time.time()),
            batch_id=progress.batchId,
            num_input_rows=progress.numInputRows,
            input_rows_per_second=progress.inputRowsPerSecond,
            processed_rows_per_second=progress.processedRowsPerSecond,
            batch_duration_ms=progress.batchDuration,
            duration_ms=progress.durationMs,
            watermark=progress.eventTime.get("watermark"),
            state_operators=tuple(
                StateOperatorProgress(
                    operator=op.operatorName,
                    rows_total=op.numRowsTotal,
                    rows_updated=op.numRowsUpdated,
                    memory_used_bytes=op.memoryUsedBytes,
                )
                for op in progress.stateOperators
            ),
            sources=tuple(
                SourceProgress(
                    description=source.description,
                    start_offset=_offset(source.startOffset),
                    end_offset=_offset(source.endOffset),
                    latest_offset=_offset(source.latestOffset),
                    num_input_rows=source.numInputRows,
                    input_rows_per_second=source.inputRowsPerSecond,
                    processed_rows_per_second=source.processedRowsPerSecond,
                )
                for source in progress.sources
            ),
            sink_description=sink.description,
            sink_rows=sink.numOutputRows,
        )
    )


def idle_from(event: Any) -> QueryIdle:
    """Copy a ``QueryIdleEvent``."""
    return QueryIdle(
        query_id=str(event.id),
        run_id=str(event.runId),
        timestamp=parse_spark_timestamp(event.timestamp, time.time()),
    )


def terminated_from(event: Any) -> QueryTerminated:
    """Copy a ``QueryTerminatedEvent`` (Spark gives no time: the time of receipt)."""
    return QueryTerminated(
        query_id=str(event.id),
        run_id=str(event.runId),
        exception=event.exception,
        error_class=event.errorClassOnException,
        source="listener",
        timestamp=time.time(),
    )


# --- the attachment -----------------------------------------------------------------------


@attrs.frozen
class ListenerStats:
    """Failures of one attachment's callbacks so far, per callback name (``onQueryProgress``...):
    a copy or a ``put`` that raised. Every callback name is present."""

    failures: Mapping[str, int] = attrs.field(converter=frozen_mapping)

    @property
    def total_failures(self) -> int:
        return sum(self.failures.values())


class ListenerAttachment:
    """One kindling listener registered on one session; calling it detaches it (idempotent)."""

    def __init__(self, spark: Any, put: Put) -> None:
        self._session = _weak(spark)
        self._put = put
        self._put_name = getattr(put, "__qualname__", None) or repr(put)
        self._attached = False
        self._listener: Any = None
        self._failures = dict.fromkeys(CALLBACKS, 0)
        self._failure_lock = threading.Lock()  # the failure path only, never the delivery path

    @property
    def attached(self) -> bool:
        """True while the listener is registered and passes events to ``put``."""
        return self._attached

    def stats(self) -> ListenerStats:
        with self._failure_lock:
            return ListenerStats(failures=dict(self._failures))

    def __call__(self) -> None:
        self.detach()

    def detach(self) -> None:
        """Stop calling ``put`` and remove the listener from the session. Idempotent; never raises."""
        spark, listener = self._unregister()
        if spark is None or listener is None:
            return
        try:
            spark.streams.removeListener(listener)
        except Exception:  # a stopped session or a broken connection: nothing left to remove
            logger.warning("could not remove kindling's streaming listener from the Spark session", exc_info=True)

    def _unregister(self) -> tuple[Any, Any]:
        """Stop delivering and forget this attachment; the session and listener to remove (or Nones)."""
        with _REGISTRY_LOCK:
            if not self._attached:
                return None, None
            self._attached = False
            listener, self._listener = self._listener, None
            spark = self._session()
            if spark is not None:
                registered = _REGISTRY.get(spark)
                if registered is not None and registered.get(self._put) is self:
                    del registered[self._put]
            return spark, listener

    def deliver(self, callback: str, copy: Callable[[Any], StreamEvent], event: Any) -> None:
        """The body of every callback: copy Spark's event and ``put`` it; never raises."""
        if not self._attached:
            return
        try:
            copied = copy(event)
        except Exception:  # noqa: BLE001 - nothing may reach Spark's listener bus
            self._failed(callback, "copying Spark's event")
            return
        try:
            self._put(copied)
        except Exception:  # noqa: BLE001 - nothing may reach Spark's listener bus
            self._failed(callback, f"in put {self._put_name}")

    def _failed(self, callback: str, where: str) -> None:
        with self._failure_lock:
            self._failures[callback] += 1
            first = self._failures[callback] == 1
        if first:
            logger.error(
                "kindling's streaming listener: %s failed %s; the event is lost, Spark is unaffected; "
                "further failures of %s are counted (ListenerAttachment.stats()), not logged",
                callback,
                where,
                callback,
                exc_info=True,
            )

    def __repr__(self) -> str:
        state = "attached" if self._attached else "detached"
        return f"<ListenerAttachment {state} put={self._put_name}>"


# session -> {put: attachment}. Weak on the session: a session that is gone takes its entries.
_REGISTRY: weakref.WeakKeyDictionary[Any, dict[Put, ListenerAttachment]] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def _weak(spark: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(spark)
    except TypeError:  # not weakly referenceable: keep it
        return lambda: spark


def attach_listener(spark: Any, put: Put) -> ListenerAttachment:
    """Register kindling's listener on ``spark``; every Spark event becomes one ``put(event)``.

    Returns the attachment, which detaches when called. Attaching the same ``put`` to the same
    session again returns the same attachment (no doubled events).
    """
    with _REGISTRY_LOCK:
        registered = _REGISTRY.setdefault(spark, {})
        existing = registered.get(put)
        if existing is not None:
            return existing
        attachment = ListenerAttachment(spark, put)
        attachment._listener = _listener_class()(attachment)
        attachment._attached = True
        registered[put] = attachment
    try:  # a Py4J or gRPC call: outside the lock
        spark.streams.addListener(attachment._listener)
    except BaseException:
        attachment._unregister()
        raise
    return attachment


@functools.cache
def _listener_class() -> type:
    """The ``StreamingQueryListener`` subclass, built on first use (imports pyspark)."""
    from pyspark.sql.streaming import StreamingQueryListener

    class KindlingStreamingListener(StreamingQueryListener):
        """Copies each event and hands it to its attachment's ``put``; never raises."""

        def __init__(self, attachment: ListenerAttachment) -> None:
            self._kindling = attachment

        def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryStarted", started_from, event)

        def onQueryProgress(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryProgress", progress_from, event)

        def onQueryIdle(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryIdle", idle_from, event)

        def onQueryTerminated(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryTerminated", terminated_from, event)

    return KindlingStreamingListener
