"""The restart controller: turns restart *requests* into throttled, coalesced, validated restarts.

Requests come from ``app.streams.request_restart`` (source ``"api"``), from the dimension
watcher once a dimension's restart policy said a change needs one (``"dimension"``) and from
completed restarts whose output other streaming pipes read as a stream (``"cascade"``). The
controller never calls Spark: it asks its :class:`RestartHost` (the
:class:`~kindling_core.streaming.manager.StreamManager`) to check, restart and confirm a query.

Per query (its ``app.streams`` key):

* **coalescing**: at most one *pending* restart. A new request is absorbed by it: reasons,
  entities and sources merged (each once, in order), the newest ``version`` kept, the smallest
  cascade depth kept;
* **debounce**: a pending restart is *due* once no request for it came for
  ``debounce-seconds``, or ``max-wait-seconds`` after its first request, whichever is earlier,
  so a steady drip of changes cannot postpone it forever;
* **one at a time**: a query being restarted (from its check to the end of its health
  confirmation) is *active*; requests arriving meanwhile pend and become exactly one follow-up
  restart after it, never a concurrent one, so the query ends on the newest version;
* **semaphore**: at most ``max-concurrent`` restarts are between their check and the return of
  their start at once (the health confirmation holds no slot).

Threads: one **processor** (``kindling-restarts``, started with the first request) works the
queue: it hands each due restart of a query that is not active to a short-lived **worker**
(``kindling-restart-<key>``) while a slot is free. It waits on the controller's condition,
woken by requests, by workers finishing and by ``close()``, and looks again at least every
:data:`RECHECK_SECONDS` while anything is pending (debounce deadlines, and clocks that tests
advance by hand). A worker runs one restart:

1. check (:meth:`RestartHost.restart_check`): a query that is not running (stopped, pending,
   failed, exhausted) or is recovering is *skipped* with the reason (recovery owns a failed
   query; a recovering one restarts over fresh reads anyway); one that is starting, stopping or
   confirming a recovery's health is *deferred*: it pends again and is checked anew later;
2. stop (with the stop timeout) → the checkpoint checks and the start of the manager's normal
   restart path (:meth:`RestartHost.restart_query`) → slot released;
3. confirm healthy progress, the recovery rule (:meth:`RestartHost.confirm_healthy`);
4. ``restarts.restart_completed``, then cascades: one request per streaming pipe reading the
   restarted pipe's output as a stream (:meth:`RestartHost.cascade_targets`), one hop deeper,
   skipped beyond ``cascade-depth``.

Locks: the controller's condition guards its pending, active and slot bookkeeping; it is never
held across a host call or a signal emit. Signals are those of
:mod:`kindling_core.streaming.restart_signals`; a receiver failure the signal bus propagates
reaches the requesting caller, never a worker or the processor (it is reported by the bus).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from kindling_core.errors import ReceiverError
from kindling_core.signals import SignalSpec
from kindling_core.streaming import restart_signals as sig

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.config import RestartsConfig

__all__ = [
    "SOURCES",
    "RECHECK_SECONDS",
    "RestartRequest",
    "Verdict",
    "RestartCheck",
    "RestartAttempt",
    "Health",
    "CascadeTarget",
    "RestartHost",
    "RestartController",
]

logger = logging.getLogger("kindling.streaming.restarts")

#: Where a restart request comes from.
SOURCES = ("api", "dimension", "cascade")
#: The processor looks at its pending restarts at least this often (seconds, real time).
RECHECK_SECONDS = 0.25
#: A deferred restart (its query starting, stopping, or confirming a recovery) is checked again after this long.
DEFER_SECONDS = 0.2


@attrs.frozen
class RestartRequest:
    """One request: restart ``pipe`` (an ``app.streams`` key) because of ``reason``;
    ``version`` the dimension version that asks for it, ``entity`` the entity that changed,
    ``source`` one of :data:`SOURCES`, ``depth`` the cascade hops from the first restart."""

    pipe: str
    reason: str
    version: int | None = None
    entity: str | None = None
    source: str = "api"
    depth: int = 0


class Verdict(str, enum.Enum):
    """What the check before a restart says."""

    READY = "ready"
    """Running and nobody else is moving it: restart it now."""
    DEFER = "defer"
    """Starting, stopping or confirming a recovery's health: check again a little later."""
    SKIP = "skip"
    """Not running, or recovery owns it: no restart."""


@attrs.frozen
class RestartCheck:
    verdict: Verdict
    why: str = ""


@attrs.frozen
class RestartAttempt:
    """What stopping and starting the query did: ``run_id`` of the new run; else ``skipped``
    (someone else stopped or started it meanwhile) or ``failed`` at ``stage`` (``"check"``
    before the stop, ``"start"``) with the error text."""

    run_id: str | None = None
    skipped: str = ""
    failed: str = ""
    stage: str = ""


@attrs.frozen
class Health:
    """Whether the new run proved healthy: by ``"batches"`` or ``"seconds"``, else ``why`` not
    (``stopped``: it was stopped meanwhile, which is no failure)."""

    healthy: bool
    batches: int = 0
    healthy_by: str = ""
    why: str = ""
    stopped: bool = False


@attrs.frozen
class CascadeTarget:
    """A streaming pipe that reads a restarted pipe's output (``entity``) as a stream."""

    pipe: str
    reason: str
    entity: str | None = None


class RestartHost(Protocol):
    """What the controller asks of the stream manager."""

    def restart_check(self, pipe: str) -> RestartCheck:
        """May ``pipe`` be restarted now?"""

    def restart_query(self, pipe: str, reason: str) -> RestartAttempt:
        """Stop ``pipe`` (with the stop timeout) and start it again through the normal start path."""

    def confirm_healthy(self, pipe: str, run_id: str) -> Health:
        """Wait until ``run_id`` proved healthy (the recovery rule), failed or was stopped."""

    def cascade_targets(self, pipe: str) -> Sequence[CascadeTarget]:
        """The streaming pipes reading ``pipe``'s output as a stream."""

    def emit(self, spec: SignalSpec, payload: Any) -> None: ...

    def report(self, error: BaseException, subject: str) -> None: ...


def _merge(into: list[str], value: str | None) -> None:
    if value is not None and value not in into:
        into.append(value)


def _newest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


class _Pending:
    """The pending (or running) restart of one query: the requests it absorbed. Guarded by the
    controller's condition."""

    def __init__(self, request: RestartRequest, now: float) -> None:
        self.pipe = request.pipe
        self.reasons: list[str] = []
        self.entities: list[str] = []
        self.sources: list[str] = []
        self.version: int | None = None
        self.depth = request.depth
        self.requests = 0
        self.first_at = now
        self.last_at = now
        self.retry_at = 0.0  # time.monotonic() before which a deferred restart is not looked at
        self.holds_slot = False  # taken by a worker that has not yet released its slot
        self.absorb(request, now)

    def absorb(self, request: RestartRequest, now: float) -> None:
        _merge(self.reasons, request.reason)
        _merge(self.entities, request.entity)
        _merge(self.sources, request.source)
        self.version = _newest(self.version, request.version)
        self.depth = min(self.depth, request.depth)
        self.requests += 1
        self.last_at = max(self.last_at, now)

    def merge(self, other: _Pending) -> None:
        """Absorb a pending restart that was taken and given back (deferred)."""
        for reason in other.reasons:
            _merge(self.reasons, reason)
        for entity in other.entities:
            _merge(self.entities, entity)
        for source in other.sources:
            _merge(self.sources, source)
        self.version = _newest(self.version, other.version)
        self.depth = min(self.depth, other.depth)
        self.requests += other.requests
        self.first_at = min(self.first_at, other.first_at)

    def due(self, debounce: float, max_wait: float) -> float:
        return min(self.last_at + debounce, self.first_at + max_wait)

    def fields(self) -> dict[str, Any]:
        return {
            "pipe": self.pipe,
            "reasons": tuple(self.reasons),
            "version": self.version,
            "entities": tuple(self.entities),
            "sources": tuple(self.sources),
            "requests": self.requests,
        }


class RestartController:
    """Coalesces, debounces and throttles restart requests (see the module docstring).

    ``settings`` is ``[tool.kindling.restarts]``; ``clock`` gives seconds (monotonic) for the
    debounce and maximum wait; ``close_wait`` bounds how long :meth:`close` waits for restarts
    in their stop/start phase.
    """

    def __init__(
        self,
        host: RestartHost,
        settings: RestartsConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        close_wait: float = 60.0,
    ) -> None:
        self._host = host
        self.settings = settings
        self._clock = clock
        self._close_wait = close_wait
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._active: set[str] = set()
        self._slots = 0  # workers between their check and the return of their start
        self._processor: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ requests

    def request(self, request: RestartRequest, *, detached: bool = False) -> bool:
        """Queue ``request`` (checked by the caller): ``True`` when it is a new pending restart,
        ``False`` when a pending one absorbed it, or the controller is closed (nothing queued).
        ``detached``: the caller has nobody to raise a receiver's failure to."""
        if request.source not in SOURCES:
            raise ValueError(f"restart request source must be one of {SOURCES}, got {request.source!r}")
        now = self._clock()
        with self._cond:
            if self._closed:
                return False
            pending = self._pending.get(request.pipe)
            if pending is None:
                self._pending[request.pipe] = _Pending(request, now)
                coalesced = None
            else:
                pending.absorb(request, now)
                coalesced = sig.RestartCoalesced(
                    request.pipe,
                    request.reason,
                    request.version,
                    request.entity,
                    request.source,
                    tuple(pending.reasons),
                    pending.version,
                    pending.requests,
                )
            self._ensure_processor()
            self._cond.notify_all()
        requested = sig.RestartRequested(request.pipe, request.reason, request.version, request.entity, request.source, request.depth)
        self._emit(sig.RESTART_REQUESTED, requested, detached)
        if coalesced is not None:
            self._emit(sig.RESTART_COALESCED, coalesced, detached)
        return coalesced is None

    def skip(self, request: RestartRequest, why: str, *, detached: bool = False) -> None:
        """Report that ``request`` restarts nothing (``restarts.restart_skipped``) without queueing it."""
        payload = sig.RestartSkipped(
            request.pipe,
            (request.reason,),
            request.version,
            (request.entity,) if request.entity is not None else (),
            (request.source,),
            1,
            why,
        )
        self._emit(sig.RESTART_SKIPPED, payload, detached)

    @property
    def pending(self) -> tuple[str, ...]:
        """The queries with a pending restart (not yet handed to a worker)."""
        with self._cond:
            return tuple(self._pending)

    @property
    def active(self) -> tuple[str, ...]:
        """The queries being restarted now (check to health confirmation)."""
        with self._cond:
            return tuple(sorted(self._active))

    def idle(self) -> bool:
        """Nothing pending and nothing being restarted."""
        with self._cond:
            return not self._pending and not self._active

    # ------------------------------------------------------------------ the processor

    def _ensure_processor(self) -> None:
        """Start the processor thread once (the condition is held)."""
        if self._processor is None:
            self._processor = threading.Thread(target=self._process, name="kindling-restarts", daemon=True)
            self._processor.start()

    def _process(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                taken, wait = self._take_due()
                if not taken:
                    self._cond.wait(wait)
                    continue
            for pending in taken:
                name = f"kindling-restart-{pending.pipe}"
                threading.Thread(target=self._work, args=(pending,), name=name, daemon=True).start()

    def _take_due(self) -> tuple[list[_Pending], float | None]:
        """The due restarts of inactive queries that fit in the free slots (marked active, a
        slot each), and how long to wait when there are none (condition held)."""
        settings = self.settings
        now, real = self._clock(), time.monotonic()
        taken: list[_Pending] = []
        wait: float | None = None
        for pipe, pending in list(self._pending.items()):
            if pipe in self._active:
                continue
            if pending.retry_at > real:
                wait = min(wait if wait is not None else RECHECK_SECONDS, pending.retry_at - real)
                continue
            due = pending.due(settings.debounce_seconds, settings.max_wait_seconds)
            if due > now:
                wait = min(wait if wait is not None else RECHECK_SECONDS, due - now)
                continue
            if self._slots >= settings.max_concurrent:
                break  # a worker releasing its slot notifies
            del self._pending[pipe]
            self._active.add(pipe)
            self._slots += 1
            pending.holds_slot = True
            taken.append(pending)
        if self._pending:
            wait = RECHECK_SECONDS if wait is None else min(wait, RECHECK_SECONDS)
        return taken, wait

    # ------------------------------------------------------------------ one restart

    def _work(self, pending: _Pending) -> None:
        try:
            check = self._host.restart_check(pending.pipe)
            if check.verdict is Verdict.DEFER:
                self._defer(pending)
                return
            if check.verdict is Verdict.SKIP:
                self._skipped(pending, check.why)
                return
            if self._is_closed():
                self._skipped(pending, "app.streams was closed")
                return
            self._run(pending)
        except Exception as exc:  # noqa: BLE001 - reported; the controller goes on
            self._host.report(exc, pending.pipe)
            self._failed(pending, "check" if pending.holds_slot else "health", f"{type(exc).__name__}: {exc}")
        finally:
            with self._cond:
                if pending.holds_slot:
                    pending.holds_slot = False
                    self._slots -= 1
                self._active.discard(pending.pipe)
                self._cond.notify_all()

    def _run(self, pending: _Pending) -> None:
        """Restart, confirm, cascade."""
        began = self._clock()
        waited = max(0.0, began - pending.first_at)
        self._emit(sig.RESTART_STARTED, sig.RestartStarted(**pending.fields(), waited=waited), True)
        reason = "; ".join(pending.reasons)
        attempt = self._host.restart_query(pending.pipe, reason)
        self._release_slot(pending)
        if attempt.failed:
            self._failed(pending, attempt.stage or "start", attempt.failed)
            return
        if attempt.run_id is None:
            self._skipped(pending, attempt.skipped or "the query was not restarted")
            return
        health = self._host.confirm_healthy(pending.pipe, attempt.run_id)
        if not health.healthy:
            if health.stopped:
                self._skipped(pending, health.why or "stopped before its new run proved healthy")
            else:
                self._failed(pending, "health", health.why or "the new run did not prove healthy")
            return
        seconds = max(0.0, self._clock() - began)
        payload = sig.RestartCompleted(
            **pending.fields(), run_id=attempt.run_id, seconds=seconds, batches=health.batches, healthy_by=health.healthy_by
        )
        self._emit(sig.RESTART_COMPLETED, payload, True)
        self._cascade(pending)

    def _release_slot(self, pending: _Pending) -> None:
        with self._cond:
            if pending.holds_slot:
                pending.holds_slot = False
                self._slots -= 1
                self._cond.notify_all()

    def _cascade(self, pending: _Pending) -> None:
        targets = self._host.cascade_targets(pending.pipe)
        depth = pending.depth + 1
        limit = self.settings.cascade_depth
        for target in targets:
            request = RestartRequest(target.pipe, target.reason, version=None, entity=target.entity, source="cascade", depth=depth)
            if depth > limit:
                self.skip(request, f"cascade depth {depth} is beyond tool.kindling.restarts.cascade-depth = {limit}", detached=True)
            else:
                self.request(request, detached=True)

    def _defer(self, pending: _Pending) -> None:
        """Give ``pending`` back: merged with requests that arrived meanwhile, looked at again
        after :data:`DEFER_SECONDS` (the worker's ``finally`` releases its slot)."""
        with self._cond:
            newer = self._pending.get(pending.pipe)
            if newer is not None:
                pending.merge(newer)
                pending.last_at = max(pending.last_at, newer.last_at)
            pending.retry_at = time.monotonic() + DEFER_SECONDS
            self._pending[pending.pipe] = pending
            self._cond.notify_all()

    def _skipped(self, pending: _Pending, why: str) -> None:
        self._emit(sig.RESTART_SKIPPED, sig.RestartSkipped(**pending.fields(), why=why), True)

    def _failed(self, pending: _Pending, stage: str, error: str) -> None:
        self._emit(sig.RESTART_FAILED, sig.RestartFailed(**pending.fields(), stage=stage, error=error), True)

    def _emit(self, spec: SignalSpec, payload: Any, detached: bool) -> None:
        try:
            self._host.emit(spec, payload)
        except ReceiverError:
            if not detached:
                raise

    # ------------------------------------------------------------------ closing

    def _is_closed(self) -> bool:
        with self._cond:
            return self._closed

    def close(self) -> None:
        """Take no more requests; drop the pending ones (``restarts.restart_skipped``), wait
        (at most ``close_wait`` seconds) until no restart is between its check and its start,
        and end the processor. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            dropped = list(self._pending.values())
            self._pending.clear()
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._slots == 0, self._close_wait)
            processor = self._processor
        for pending in dropped:
            self._skipped(pending, "app.streams was closed")
        if processor is not None and processor is not threading.current_thread():
            processor.join(5.0)
