"""Signals of the restart controller (declared, typed): ``restarts.*``.

Every payload names the streaming pipe or registered query (``pipe``, its ``app.streams`` key)
and what asked for the restart: ``reason`` / ``reasons`` (human text), ``version`` (the newest
dimension version asked for, when known), ``entity`` / ``entities`` (the dimension that changed,
or the upstream output of a cascade) and ``source`` / ``sources`` (``"api"``: a call of
``app.streams.request_restart``; ``"dimension"``: the dimension watcher, after the dimension's
restart policy said a restart is needed; ``"cascade"``: a completed restart of a pipe whose
output this one reads as a stream).

Emitted by :class:`~kindling_core.streaming.restarts.RestartController`: ``requested`` and
``coalesced`` on the thread that asked (the caller of ``request_restart``, the dimension
watcher's thread, a restart worker for cascades); the others on the controller's restart
workers (``kindling-restart-<pipe>``) or, for requests dropped at ``close()``, on the closing
thread. For one query: ``restarts.restart_requested`` per request (then
``restarts.restart_coalesced`` when a pending restart absorbed it), then, once the burst
settled, ``restarts.restart_started`` → the manager's ``streaming.*`` stop and start signals →
``restarts.restart_completed`` (the new run proved healthy) or ``restarts.restart_failed``; or
``restarts.restart_skipped`` instead of all of that (the query is not running, is being
recovered, the dimension's change needs no restart, the cascade is too deep).
"""

from __future__ import annotations

import attrs

from kindling_core.signals import SignalSpec

__all__ = [
    "RestartRequested",
    "RestartCoalesced",
    "RestartStarted",
    "RestartCompleted",
    "RestartFailed",
    "RestartSkipped",
    "EMITS",
]


@attrs.frozen
class RestartRequested:
    """One request for a restart of ``pipe``; ``depth`` counts cascade hops (0: not a cascade)."""

    pipe: str
    reason: str
    version: int | None
    entity: str | None
    source: str
    depth: int = 0


@attrs.frozen
class RestartCoalesced:
    """A pending restart of ``pipe`` absorbed the request (``reason``, ``version``, ``entity``,
    ``source``): it still restarts once, for all of ``reasons``, on ``pending_version`` (the
    newest version asked for so far); ``requests`` requests are pending now."""

    pipe: str
    reason: str
    version: int | None
    entity: str | None
    source: str
    reasons: tuple[str, ...]
    pending_version: int | None
    requests: int


@attrs.frozen
class RestartStarted:
    """The controller begins restarting ``pipe`` for ``requests`` coalesced requests, the first
    made ``waited`` seconds ago (debounce, the concurrency cap and any restart of the same query
    under way made it wait)."""

    pipe: str
    reasons: tuple[str, ...]
    version: int | None
    entities: tuple[str, ...]
    sources: tuple[str, ...]
    requests: int
    waited: float


@attrs.frozen
class RestartCompleted:
    """``pipe`` was stopped and started again (run ``run_id``) and the new run proved healthy
    (``healthy_by``: ``"batches"``, ``tool.kindling.recovery.healthy-batches`` micro-batches, or
    ``"seconds"``, ``healthy-seconds`` without failing); ``seconds`` from the start of the
    restart to now."""

    pipe: str
    reasons: tuple[str, ...]
    version: int | None
    entities: tuple[str, ...]
    sources: tuple[str, ...]
    requests: int
    run_id: str | None
    seconds: float
    batches: int
    healthy_by: str


@attrs.frozen
class RestartFailed:
    """Restarting ``pipe`` failed at ``stage`` (``"check"``: the start's checks before the stop,
    the query keeps running; ``"start"``: the query is ``failed`` and its recovery takes over;
    ``"health"``: the new run failed before it proved healthy, its recovery takes over);
    ``error`` says what happened."""

    pipe: str
    reasons: tuple[str, ...]
    version: int | None
    entities: tuple[str, ...]
    sources: tuple[str, ...]
    requests: int
    stage: str
    error: str


@attrs.frozen
class RestartSkipped:
    """No restart of ``pipe`` happens for these requests; ``why`` says why (not running, being
    recovered, stopped or started by someone else meanwhile, a change that needs no restart,
    the cascade depth reached, ``app.streams`` closed)."""

    pipe: str
    reasons: tuple[str, ...]
    version: int | None
    entities: tuple[str, ...]
    sources: tuple[str, ...]
    requests: int
    why: str


_C = "RestartController"
RESTART_REQUESTED = SignalSpec(
    "restarts.restart_requested",
    RestartRequested,
    doc="A restart of a streaming query was asked for (API, dimension change or cascade).",
    emitter=_C,
)
RESTART_COALESCED = SignalSpec(
    "restarts.restart_coalesced",
    RestartCoalesced,
    doc="A pending restart absorbed a new request: one restart, reasons merged, on the newest version.",
    emitter=_C,
)
RESTART_STARTED = SignalSpec(
    "restarts.restart_started",
    RestartStarted,
    doc="The restart controller begins a restart (the requests settled and a slot was free).",
    emitter=_C,
)
RESTART_COMPLETED = SignalSpec(
    "restarts.restart_completed",
    RestartCompleted,
    doc="A controller restart is done: the query was stopped, started again and its new run proved healthy.",
    emitter=_C,
)
RESTART_FAILED = SignalSpec(
    "restarts.restart_failed",
    RestartFailed,
    doc="A controller restart failed (its checks, its start, or the new run before it proved healthy).",
    emitter=_C,
)
RESTART_SKIPPED = SignalSpec(
    "restarts.restart_skipped",
    RestartSkipped,
    doc="Requests that restart nothing: the query is not running or is recovering, or no restart is needed.",
    emitter=_C,
)

EMITS: tuple[SignalSpec, ...] = (
    RESTART_REQUESTED,
    RESTART_COALESCED,
    RESTART_STARTED,
    RESTART_COMPLETED,
    RESTART_FAILED,
    RESTART_SKIPPED,
)
