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
    the copies the callbacks make of pyspark's event objects (what Spark Connect's client
    delivers); ``progress_snapshot`` copies one progress (Spark's progress JSON or pyspark's
    ``StreamingQueryProgress``); ``from_java(copy)`` applies a copy to a classic Java event
    through the event's JSON.

Invariants:

* Nothing raises into Spark's listener bus: a failure while copying Spark's event or inside
  ``put`` is caught, counted per callback and logged once per callback (logger
  ``kindling.streaming``, with the traceback); later events are delivered as usual.
* The callback body is the copy and one ``put`` call: no lock of its own (only ``put``'s), no
  signal, no thread, and no Py4J call but one on classic Spark (the Java event's JSON).
  ``put`` must not block either.
* The copies are the same on both: offsets are JSON text as ``json.dumps`` writes them
  (``None`` when Spark has none), rates Spark could not compute (NaN) are 0.0.
* After ``detach()`` returns, ``put`` is not called again (a callback already running may
  finish). Do not call ``detach()`` from ``put``: on Spark Connect the listener bus holds its
  lock while calling listeners, and removing the last listener waits for that thread.
* One listener per ``(session, put)``: attaching the same ``put`` (equal callables, e.g. the
  same bound method) to the same session again returns the existing attachment, so events are
  never doubled; either caller's ``detach()`` removes it. A different ``put`` gets its own
  listener.
* Importing this module never imports pyspark: the listener class is built on first use.

Classic Spark and Spark Connect differ in where the callbacks run and what they cost:

* classic: the JVM calls the listener through Py4J. ``onQueryStarted`` runs synchronously
  inside ``start()`` (on a Py4J callback thread, while ``start()`` waits); the others on a
  Py4J callback thread fed by Spark's streaming listener bus, one event at a time. pyspark's
  own bridge (``JStreamingQueryListener``) would first convert each Java event into Python
  objects field by field: tens of Py4J round trips per progress event (``fromJObject``), tens
  of milliseconds on a busy driver, during which Spark's listener bus waits. kindling
  registers its own implementation of Spark's ``PythonStreamingQueryListener`` instead: the
  copy asks the Java event for its JSON (``event.json()``, one Py4J call, Spark >= 3.5) and
  copies from that. Spark's own bus may still drop events under load (the watchdog covers
  that).
* Spark Connect: the listener runs in the client process (a client-side listener bus, not
  pickled to the server). The server streams progress, idle and terminated events as JSON to
  one client thread, which builds the events (``fromJson``) and calls the listeners in turn
  while holding the bus lock. ``onQueryStarted`` is called by the client in the thread that
  called ``start()``, after the server answered, so a very fast first batch's progress can
  arrive before it. No Py4J is involved: reading the events is plain Python. If the
  event stream breaks, pyspark removes every client listener (with a warning) and events stop:
  the watchdog notices queries ending without events.
"""

from __future__ import annotations

import functools
import json
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
    "from_java",
    "idle_from",
    "progress_from",
    "progress_snapshot",
    "started_from",
    "terminated_from",
]

logger = logging.getLogger("kindling.streaming")

Put = Callable[[StreamEvent], object]

CALLBACKS = ("onQueryStarted", "onQueryProgress", "onQueryIdle", "onQueryTerminated")


# --- copies of Spark's events -------------------------------------------------------------


def _offset(value: Any) -> str | None:
    """An offset as JSON text; ``None`` for a missing one (classic pyspark says ``"None"``,
    pyspark's Connect events ``"null"``). Spark's JSON holds offsets parsed: they are written
    back with ``json.dumps`` as pyspark's Connect events do, so both paths give the same text."""
    if value is None or value == "None" or value == "null":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _number(value: Any) -> float:
    """A rate; Spark leaves NaN out of its JSON and pyspark then gives ``None``: 0.0."""
    return 0.0 if value is None else value


def progress_snapshot(progress: Mapping[str, Any]) -> ProgressSnapshot:
    """Copy one micro-batch's progress: Spark's progress JSON (parsed), or pyspark's
    ``StreamingQueryProgress`` (a ``dict`` with the same keys). Keeps ids, batch, rows and
    rates, duration parts, watermark, state operators' rows and memory, sources' offsets and
    the sink's output rows."""
    sink = progress.get("sink") or {}
    return ProgressSnapshot(
        query_id=str(progress["id"]),
        run_id=str(progress["runId"]),
        name=progress.get("name"),
        timestamp=parse_spark_timestamp(progress.get("timestamp"), time.time()),
        batch_id=progress["batchId"],
        num_input_rows=progress.get("numInputRows") or 0,
        input_rows_per_second=_number(progress.get("inputRowsPerSecond")),
        processed_rows_per_second=_number(progress.get("processedRowsPerSecond")),
        batch_duration_ms=progress.get("batchDuration") or 0,
        duration_ms=progress.get("durationMs"),
        watermark=(progress.get("eventTime") or {}).get("watermark"),
        state_operators=tuple(
            StateOperatorProgress(
                operator=op.get("operatorName", ""),
                rows_total=op.get("numRowsTotal") or 0,
                rows_updated=op.get("numRowsUpdated") or 0,
                memory_used_bytes=op.get("memoryUsedBytes") or 0,
            )
            for op in progress.get("stateOperators") or ()
        ),
        sources=tuple(
            SourceProgress(
                description=source.get("description", ""),
                start_offset=_offset(source.get("startOffset")),
                end_offset=_offset(source.get("endOffset")),
                latest_offset=_offset(source.get("latestOffset")),
                num_input_rows=source.get("numInputRows") or 0,
                input_rows_per_second=_number(source.get("inputRowsPerSecond")),
                processed_rows_per_second=_number(source.get("processedRowsPerSecond")),
            )
            for source in progress.get("sources") or ()
        ),
        sink_description=sink.get("description", ""),
        sink_rows=sink.get("numOutputRows"),
    )


def started_from(event: Any) -> QueryStarted:
    """Copy a ``QueryStartedEvent``."""
    return QueryStarted(
        query_id=str(event.id),
        run_id=str(event.runId),
        name=event.name,
        timestamp=parse_spark_timestamp(event.timestamp, time.time()),
    )


def progress_from(event: Any) -> QueryProgressed:
    """Copy a ``QueryProgressEvent`` (see :func:`progress_snapshot`)."""
    return QueryProgressed(progress_snapshot(event.progress))


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


class _JsonFields:
    """Spark's event JSON read like pyspark's event objects (``event.runId``, ``event.progress``)."""

    __slots__ = ("_fields",)

    def __init__(self, text: str) -> None:
        self._fields = json.loads(text)

    def __getattr__(self, name: str) -> Any:
        return self._fields.get(name)


def from_java(copy: Callable[[Any], StreamEvent]) -> Callable[[Any], StreamEvent]:
    """``copy`` applied to a classic Java event through its JSON: one Py4J call (``json()``)
    instead of the tens pyspark's own conversion makes."""

    def copy_java(jevent: Any) -> StreamEvent:
        return copy(_JsonFields(jevent.json()))

    copy_java.__name__ = copy_java.__qualname__ = f"{copy.__name__}_java"
    return copy_java


_STARTED_FROM_JAVA = from_java(started_from)
_PROGRESS_FROM_JAVA = from_java(progress_from)
_IDLE_FROM_JAVA = from_java(idle_from)
_TERMINATED_FROM_JAVA = from_java(terminated_from)


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
        self._session = weakref.ref(spark)  # the registry must not keep a session alive
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


class _JavaCallbacks:
    """Spark's ``PythonStreamingQueryListener`` interface, implemented through Py4J (classic).

    Takes the place of pyspark's own ``JStreamingQueryListener``, which converts every Java
    event into Python objects field by field before any listener runs; this one hands the
    Java event to the attachment, whose copy asks it for its JSON in one call.
    """

    def __init__(self, attachment: ListenerAttachment) -> None:
        self._kindling = attachment

    def onQueryStarted(self, jevent: Any) -> None:  # noqa: N802 - Spark's interface
        self._kindling.deliver("onQueryStarted", _STARTED_FROM_JAVA, jevent)

    def onQueryProgress(self, jevent: Any) -> None:  # noqa: N802 - Spark's interface
        self._kindling.deliver("onQueryProgress", _PROGRESS_FROM_JAVA, jevent)

    def onQueryIdle(self, jevent: Any) -> None:  # noqa: N802 - Spark's interface
        self._kindling.deliver("onQueryIdle", _IDLE_FROM_JAVA, jevent)

    def onQueryTerminated(self, jevent: Any) -> None:  # noqa: N802 - Spark's interface
        self._kindling.deliver("onQueryTerminated", _TERMINATED_FROM_JAVA, jevent)

    class Java:
        implements = ["org.apache.spark.sql.streaming.PythonStreamingQueryListener"]


@functools.cache
def _listener_class() -> type:
    """The ``StreamingQueryListener`` subclass, built on first use (imports pyspark)."""
    from pyspark.sql.streaming import StreamingQueryListener

    class KindlingStreamingListener(StreamingQueryListener):
        """Copies each event and hands it to its attachment's ``put``; never raises.

        On Spark Connect the client's listener bus calls the ``on...`` methods with pyspark's
        event objects. On classic Spark, pyspark registers ``_jlistener`` with the JVM: here a
        wrapper around :class:`_JavaCallbacks`, so events reach the copy as Java objects.
        """

        def __init__(self, attachment: ListenerAttachment) -> None:
            self._kindling = attachment

        @property
        def _jlistener(self) -> Any:
            jlistener = getattr(self, "_jlistenerobj", None)
            if jlistener is None:
                from pyspark import SparkContext

                jvm = SparkContext._jvm
                assert jvm is not None, "a classic session has a JVM"
                wrapper = jvm.org.apache.spark.sql.streaming.PythonStreamingQueryListenerWrapper
                jlistener = self._jlistenerobj = wrapper(_JavaCallbacks(self._kindling))
            return jlistener

        def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryStarted", started_from, event)

        def onQueryProgress(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryProgress", progress_from, event)

        def onQueryIdle(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryIdle", idle_from, event)

        def onQueryTerminated(self, event: Any) -> None:  # noqa: N802 - pyspark's API
            self._kindling.deliver("onQueryTerminated", terminated_from, event)

    return KindlingStreamingListener
