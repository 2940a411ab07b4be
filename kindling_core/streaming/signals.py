"""Signals about long-running streaming queries (declared, typed).

Every payload names the query (``name``, the Spark query name) and, for a streaming pipe, the
pipe (``pipe``; ``None`` for registered and adopted queries). Emitted by the
:class:`~kindling_core.streaming.manager.StreamManager` on the thread that caused them: the
caller of ``start``/``stop``/``restart`` for the life-cycle signals, the manager's event
consumer for progress, idle and termination, the watchdog's thread for stalls. Never while a
lock is held, and a receiver's failure never reaches Spark or the manager (the signal bus
isolates receivers).

Order for one start: ``streaming.before_start`` → ``streaming.state_changed`` (to
``starting``) → ``streaming.after_start`` (or ``streaming.start_failed``) →
``streaming.state_changed`` (to ``running``/``failed``); then ``streaming.progress_made`` per
micro-batch, ``streaming.query_idled`` when a trigger finds no new data; and at the end
``streaming.query_terminated`` (always) plus ``streaming.query_failed`` when it ended with an
exception. A stop: ``streaming.before_stop`` → ``streaming.state_changed`` (``stopping``) →
``streaming.after_stop`` (with ``streaming.stop_timeout_reached`` first when the wait gave up).
"""

from __future__ import annotations

import attrs

from kindling_core.signals import SignalSpec
from kindling_core.streaming.events import ProgressSnapshot
from kindling_core.streaming.state import QueryState

__all__ = [
    "StreamStarting",
    "StreamStarted",
    "StreamStartFailed",
    "StreamProgress",
    "StreamIdle",
    "StreamStalled",
    "StreamTerminated",
    "StreamStopping",
    "StreamStopped",
    "StreamStopTimedOut",
    "StreamStateChanged",
    "EMITS",
]


@attrs.frozen
class StreamStarting:
    """A query is about to start: ``restarts`` earlier starts, ``reason`` why (``"start"`` or
    a restart's reason)."""

    name: str
    pipe: str | None
    trigger: str
    checkpoint: str | None
    restarts: int
    reason: str


@attrs.frozen
class StreamStarted:
    """``start()`` returned: the query runs with ``query_id`` / ``run_id``; it took ``duration`` s."""

    name: str
    pipe: str | None
    query_id: str
    run_id: str
    duration: float


@attrs.frozen
class StreamStartFailed:
    """Starting the query raised ``error`` (Spark's exception or the pipe function's)."""

    name: str
    pipe: str | None
    error: BaseException = attrs.field(eq=False)
    message: str = ""


@attrs.frozen
class StreamProgress:
    """A micro-batch finished (Spark's ``StreamingQueryProgress``, copied)."""

    name: str
    pipe: str | None
    progress: ProgressSnapshot


@attrs.frozen
class StreamIdle:
    """A trigger fired and found no new data; the query has been idle since ``since``."""

    name: str
    pipe: str | None
    query_id: str
    run_id: str
    since: float


@attrs.frozen
class StreamStalled:
    """No progress for ``seconds`` (over the ``threshold``): while a trigger is active
    (``streaming.query_stalled``), or ever since the start (``streaming.start_stalled``).
    ``message`` is Spark's status message when it was noticed."""

    name: str
    pipe: str | None
    query_id: str | None
    run_id: str | None
    seconds: float
    threshold: float
    message: str


@attrs.frozen
class StreamTerminated:
    """The query ended: cleanly (``exception is None``) or failed. ``source`` says who noticed
    (``"listener"``, or ``"watchdog"`` when Spark's listener bus lost the event);
    ``requested`` is true when kindling stopped it."""

    name: str
    pipe: str | None
    query_id: str
    run_id: str
    exception: str | None
    error_class: str | None
    source: str
    requested: bool


@attrs.frozen
class StreamStopping:
    """kindling is about to stop the query, waiting at most ``timeout`` seconds."""

    name: str
    pipe: str | None
    timeout: float
    reason: str


@attrs.frozen
class StreamStopped:
    """The stop returned after ``duration`` seconds (``timed_out``: it gave up waiting)."""

    name: str
    pipe: str | None
    duration: float
    timed_out: bool


@attrs.frozen
class StreamStopTimedOut:
    """A stop gave up after ``timeout`` seconds: ``isActive`` is already false, but Spark's
    execution thread may still be running its last batch. ``message`` says what happened."""

    name: str
    pipe: str | None
    timeout: float
    message: str


@attrs.frozen
class StreamStateChanged:
    """The query moved from ``previous`` to ``state`` (see :mod:`kindling_core.streaming.state`)."""

    name: str
    pipe: str | None
    previous: QueryState
    state: QueryState
    reason: str


_M = "StreamManager"
BEFORE_START = SignalSpec("streaming.before_start", StreamStarting, doc="A streaming query is about to start (or restart).", emitter=_M)
AFTER_START = SignalSpec("streaming.after_start", StreamStarted, doc="A streaming query's start() returned; it is running.", emitter=_M)
START_FAILED = SignalSpec("streaming.start_failed", StreamStartFailed, doc="Starting a streaming query raised.", emitter=_M)
PROGRESS_MADE = SignalSpec("streaming.progress_made", StreamProgress, doc="A streaming query finished a micro-batch.", emitter=_M)
QUERY_IDLED = SignalSpec("streaming.query_idled", StreamIdle, doc="A streaming query's trigger found no new data.", emitter=_M)
QUERY_STALLED = SignalSpec(
    "streaming.query_stalled",
    StreamStalled,
    doc="The watchdog saw a trigger active with no progress past `stale-after-seconds` (a stale query).",
    emitter="Watchdog",
)
START_STALLED = SignalSpec(
    "streaming.start_stalled",
    StreamStalled,
    doc="The watchdog saw a running query that made no progress within `no-progress-after-start-seconds` of its start.",
    emitter="Watchdog",
)
QUERY_TERMINATED = SignalSpec(
    "streaming.query_terminated", StreamTerminated, doc="A streaming query ended (cleanly or not; always emitted).", emitter=_M
)
QUERY_FAILED = SignalSpec("streaming.query_failed", StreamTerminated, doc="A streaming query ended with an exception.", emitter=_M)
BEFORE_STOP = SignalSpec("streaming.before_stop", StreamStopping, doc="kindling is about to stop a streaming query.", emitter=_M)
AFTER_STOP = SignalSpec("streaming.after_stop", StreamStopped, doc="Stopping a streaming query returned (or gave up waiting).", emitter=_M)
STOP_TIMEOUT_REACHED = SignalSpec(
    "streaming.stop_timeout_reached",
    StreamStopTimedOut,
    doc="A stop gave up waiting: isActive is already false while Spark's execution thread may still run.",
    emitter=_M,
)
STATE_CHANGED = SignalSpec("streaming.state_changed", StreamStateChanged, doc="A managed streaming query changed state.", emitter=_M)

EMITS: tuple[SignalSpec, ...] = (
    BEFORE_START,
    AFTER_START,
    START_FAILED,
    PROGRESS_MADE,
    QUERY_IDLED,
    QUERY_STALLED,
    START_STALLED,
    QUERY_TERMINATED,
    QUERY_FAILED,
    BEFORE_STOP,
    AFTER_STOP,
    STOP_TIMEOUT_REACHED,
    STATE_CHANGED,
)
