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

A failure the manager did not ask for (see :mod:`kindling_core.streaming.recovery`), after
``streaming.query_terminated`` / ``streaming.query_failed`` and ``streaming.state_changed`` (to
``failed``), is classified and decided on, then one of:

* restart: ``streaming.state_changed`` (to ``recovering``) → ``streaming.recovery_scheduled``;
  after the backoff, on the recovery's own thread, ``streaming.recovery_started`` → the start's
  signals above → ``streaming.recovered`` once the new run proved healthy (a failure before
  that starts this sequence again, on the same budget);
* budget spent: ``streaming.state_changed`` (to ``exhausted``) → ``streaming.recovery_exhausted``;
* anything else (give up, alert only, a permanent failure, a clean start kindling cannot do yet,
  an adopted query): ``streaming.recovery_declined``; the query stays ``failed``.
"""

from __future__ import annotations

import attrs

from kindling_core.recovery.chain import RecoveryDecision
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
    "StreamRecoveryScheduled",
    "StreamRecovering",
    "StreamRecovered",
    "StreamRecoveryExhausted",
    "StreamRecoveryDeclined",
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


@attrs.frozen
class StreamRecoveryScheduled:
    """A failed query will be restarted after ``delay`` seconds, at ``at`` (epoch): attempt
    ``attempt`` of ``max_attempts``. ``decision`` carries the classification (kind, classifier,
    reason) and the action (strategy, reason); ``error`` is the failure's text as Spark gave it."""

    name: str
    pipe: str | None
    attempt: int
    max_attempts: int
    delay: float
    at: float
    decision: RecoveryDecision
    error: str


@attrs.frozen
class StreamRecovering:
    """The backoff ended: attempt ``attempt`` of ``max_attempts`` starts the query again now."""

    name: str
    pipe: str | None
    attempt: int
    max_attempts: int


@attrs.frozen
class StreamRecovered:
    """The restarted run (``query_id`` / ``run_id``) proved healthy: ``batches`` micro-batches
    (``healthy_by="batches"``) or ``tool.kindling.recovery.healthy-seconds`` without failing
    (``healthy_by="seconds"``). ``attempts`` restarts of this crash loop it took, ``seconds`` from
    the loop's first failure to now."""

    name: str
    pipe: str | None
    query_id: str | None
    run_id: str | None
    attempts: int
    seconds: float
    batches: int
    healthy_by: str


@attrs.frozen
class StreamRecoveryExhausted:
    """A restart was wanted but the budget is spent (``attempts`` of ``max_attempts`` within the
    window): the query is ``exhausted`` until an explicit start or restart."""

    name: str
    pipe: str | None
    attempts: int
    max_attempts: int
    decision: RecoveryDecision
    error: str


@attrs.frozen
class StreamRecoveryDeclined:
    """The failure is not recovered: ``decision.action`` is give-up, alert-only, or a clean start
    kindling cannot do yet; a permanent failure, or an adopted query kindling cannot start. The
    query stays ``failed``."""

    name: str
    pipe: str | None
    decision: RecoveryDecision
    error: str


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
RECOVERY_SCHEDULED = SignalSpec(
    "streaming.recovery_scheduled",
    StreamRecoveryScheduled,
    doc="A failed streaming query will be restarted after a backoff (the recovery strategies decided so).",
    emitter=_M,
)
RECOVERY_STARTED = SignalSpec(
    "streaming.recovery_started", StreamRecovering, doc="A recovery's backoff ended; the failed query starts again now.", emitter=_M
)
RECOVERED = SignalSpec(
    "streaming.recovered",
    StreamRecovered,
    doc="A restarted query proved healthy (`healthy-batches` micro-batches or `healthy-seconds` without failing).",
    emitter=_M,
)
RECOVERY_EXHAUSTED = SignalSpec(
    "streaming.recovery_exhausted",
    StreamRecoveryExhausted,
    doc="A failed query's recovery budget is spent; it stays `exhausted` until started again.",
    emitter=_M,
)
RECOVERY_DECLINED = SignalSpec(
    "streaming.recovery_declined",
    StreamRecoveryDeclined,
    doc="A failed query is not recovered (give up, alert only, permanent failure, clean start unavailable, adopted query).",
    emitter=_M,
)

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
    RECOVERY_SCHEDULED,
    RECOVERY_STARTED,
    RECOVERED,
    RECOVERY_EXHAUSTED,
    RECOVERY_DECLINED,
)
