"""The stream manager (``app.streams``): one per app, the only thing that starts and stops the
app's long-running streaming queries.

It manages the app's streaming pipes (declared with ``mode="streaming"``), queries registered
with a builder (``register(name, builder)``, called again at every start) and queries started
elsewhere and adopted (``adopt(query)``). Each has a state machine
(:mod:`kindling_core.streaming.state`); every move is a compare-and-set, so of two threads
starting, restarting or stopping one query at once exactly one does it.

Threads (see ``docs/design/streaming.md``):

* the **callers** of ``start``/``stop``/``restart`` run the Spark calls (a stop on a helper
  thread, waited for at most the stop timeout);
* Spark's listener callbacks (one listener per manager, attached on first use through the
  driver) only copy the event and put it on an :class:`~kindling_core.streaming.queue.EventQueue`;
* one **consumer** thread (``kindling-streams-events``) takes events off the queue, updates
  the per-query records and emits the progress, idle and termination signals;
* the **watchdog** thread (:mod:`kindling_core.streaming.watchdog`) polls the running queries
  and reports into the same queue (lost terminations and progress) or through :meth:`stalled`;
* each failure nobody asked for gets a short-lived **recovery** thread
  (``kindling-recover-<key>``) that judges it (the classifier and recovery-strategy chains),
  waits out the backoff, starts the query again and confirms its health
  (:mod:`kindling_core.streaming.recovery`);
* the **restart controller** (:mod:`kindling_core.streaming.restarts`, ``kindling-restarts``
  and its short ``kindling-restart-<key>`` workers) turns restart requests
  (:meth:`StreamManager.request_restart`, dimension changes, cascades) into coalesced,
  debounced, throttled restarts through the normal restart path;
* the **dimension watcher** (``kindling-dimensions-watcher``), started with the first
  streaming pipe that declares dimensions, hands each change to the dimension's restart policy
  and the controller.

Locks: ``_lock`` guards the records' fields and the id maps, each cell has its own lock for
the compare-and-set; neither is ever held across a driver call (py4j, Spark Connect) or a
signal emit. ``_changed`` (a condition) wakes waiters on state moves and on progress of a run
being confirmed healthy; its waiters' predicates take ``_lock`` (the one nesting). Signal
receivers run on the thread that emits, never on Spark's listener thread,
and the signal bus isolates their failures.
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from kindling_core._names import did_you_mean
from kindling_core.config import StreamingConfig
from kindling_core.errors import ReceiverError
from kindling_core.items import FailureContext, RecoveryActionKind
from kindling_core.signals import SignalSpec
from kindling_core.streaming import signals as sig
from kindling_core.streaming.checkpoint_guard import (
    CheckpointVerdict,
    clean_start,
    clean_start_problem,
    store_fingerprint,
    verify_checkpoint,
)
from kindling_core.streaming.checkpoints import checkpoint_location
from kindling_core.streaming.driver import PipeStart, StreamDriver, call_with_timeout
from kindling_core.streaming.errors import (
    CleanStartRefusedError,
    CleanStartUnavailableError,
    DuplicateQueryNameError,
    ManagerClosedError,
    NotRestartableError,
    StopTimedOutError,
    StreamingError,
    StreamQueryFailedError,
    StreamStartError,
    UnknownStreamError,
)
from kindling_core.streaming.events import ProgressSnapshot, QueryIdle, QueryProgressed, QueryStarted, QueryTerminated, StreamEvent
from kindling_core.streaming.preflight import check_checkpoints, check_inputs, check_query_names, query_name_for
from kindling_core.streaming.queue import EventQueue
from kindling_core.streaming.recovery import PendingRecovery, QueryRecovery, judge_failure, new_budget
from kindling_core.streaming.restarts import (
    CascadeTarget,
    Health,
    RestartAttempt,
    RestartCheck,
    RestartController,
    RestartRequest,
    Verdict,
)
from kindling_core.streaming.resume import ResumeRefused
from kindling_core.streaming.state import STARTABLE, TERMINAL, QueryState, StateCell
from kindling_core.streaming.status import QueryStatus, progress_fields
from kindling_core.streaming.triggers import Trigger
from kindling_core.streaming.watchdog import START, Watchdog, WatchTarget

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App
    from kindling_core.items import ChangeReport
    from kindling_core.model import Pipe
    from kindling_core.recovery import RecoveryDecision
    from kindling_core.streaming.cascade import RestartPlan

__all__ = ["StreamManager"]

logger = logging.getLogger("kindling.streaming")

S = QueryState
#: How many terminations of not-yet-known runs are kept for a start that is still returning.
_ORPHANS = 64


class _Record:
    """One managed query. Fields other than ``cell`` are guarded by the manager's lock."""

    def __init__(
        self,
        key: str,
        name: str,
        kind: str,
        recovery: QueryRecovery,
        *,
        pipe: Pipe | None = None,
        builder: Callable[[], Any] | None = None,
    ) -> None:
        self.key = key  # pipe id, or the registered / adopted name
        self.name = name  # Spark query name
        self.kind = kind  # "pipe" | "registered" | "adopted"
        self.pipe = pipe
        self.builder = builder
        self.cell = StateCell()
        self.query: Any = None
        self.query_id: str | None = None
        self.run_id: str | None = None
        self.trigger = ""
        self.checkpoint: str | None = None
        self.starts = 0
        self.started_at: float | None = None
        self.stop_requested = False
        self.stop_timed_out = False
        self.last_error: str | None = None
        self.progress: ProgressSnapshot | None = None
        self.progress_at: float | None = None
        self.idle_since: float | None = None
        self.last_activity: float | None = None
        self.stalls: set[str] = set()
        self.ended_runs: set[str] = set()
        self.recovery = recovery

    @property
    def pipe_id(self) -> str | None:
        return self.pipe.id if self.pipe is not None else None

    def label(self) -> str:
        return f"streaming pipe {self.key!r}" if self.kind == "pipe" else f"query {self.key!r}"


class StreamManager:
    """Starts, stops, restarts and observes an app's streaming queries (see the module docstring).

    ``driver`` (or ``driver_factory``, called on first use) talks to Spark; ``app.streams``
    passes a factory of :class:`kindling_core.spark.streams.SparkStreamDriver` on the app's
    session. ``watcher_factory(app, on_change=...)`` builds the dimension watcher (not started;
    ``app.streams`` passes :func:`kindling_core.spark.dimensions.dimension_watcher`; without
    one, dimensions are not watched). ``clock`` gives epoch seconds (tests; the restart
    controller's debounce uses it too).
    """

    def __init__(
        self,
        app: App,
        *,
        driver: StreamDriver | None = None,
        driver_factory: Callable[[], StreamDriver] | None = None,
        watcher_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app = app
        self._driver_instance = driver
        self._driver_factory = driver_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._by_query_id: dict[str, _Record] = {}
        self._orphans: OrderedDict[str, QueryTerminated] = OrderedDict()
        self._catalog_fingerprint: str | None = None
        self._queue = EventQueue()
        self._consumer: threading.Thread | None = None
        self._watchdog: Watchdog | None = None
        self._detach: Callable[[], None] | None = None
        self._machinery = threading.Event()  # set once the listener, consumer and watchdog run
        self._machinery_claimed = False
        self._closed = False
        self._thread_roles = threading.local()  # .detached: the consumer or a recovery thread (nobody to raise to)
        self._verdicts: dict[str, CheckpointVerdict] = {}  # pipe id -> the checkpoint check of its prepared start
        self._clean_requests: dict[str, str] = {}  # pipe id -> why its next start is a clean start
        self._watcher_factory = watcher_factory
        self._watcher: Any = None  # the dimension watcher, once a pipe with dimensions started
        self._watcher_lock = threading.Lock()
        self._restarts: RestartController | None = None

    # ------------------------------------------------------------------ configuration

    @property
    def settings(self) -> StreamingConfig:
        """``[tool.kindling.streaming]`` of the app."""
        return self._app.config.streaming

    @property
    def driver(self) -> StreamDriver:
        """The driver (created on first use)."""
        if self._driver_instance is None:
            if self._driver_factory is None:
                raise StreamingError(
                    "this StreamManager has no driver",
                    remedy="use app.streams, or pass driver= / driver_factory= to StreamManager",
                )
            self._driver_instance = self._driver_factory()
        return self._driver_instance

    @property
    def events(self) -> EventQueue:
        """The queue between the listener (and watchdog) and the consumer thread (for its ``stats()``)."""
        return self._queue

    @property
    def names(self) -> tuple[str, ...]:
        """Every managed query's key (streaming pipe ids, registered and adopted names), in order."""
        self._sync_pipes()
        with self._lock:
            return tuple(self._records)

    # ------------------------------------------------------------------ declaring queries

    def register(self, name: str, builder: Callable[[], Any]) -> None:
        """Manage a query built by ``builder()``: it returns a started ``StreamingQuery`` or a
        ``DataStreamWriter`` (started here under the Spark query name ``name``). The builder is
        called again at every start and restart. ``start()`` starts registered queries after
        the streaming pipes."""
        if not isinstance(name, str) or not name.strip():
            raise StreamingError(
                f"register() needs a non-empty query name, got {name!r}", remedy="app.streams.register('orders_feed', build)"
            )
        if not callable(builder):
            raise StreamingError(
                f"register({name!r}, ...) needs a callable builder, got {type(builder).__name__}",
                query=name,
                remedy="pass a function returning spark.readStream...writeStream (a DataStreamWriter) or a started query",
            )
        self._add(_Record(name, name, "registered", self._new_recovery(), builder=builder))

    def adopt(self, query: Any, *, name: str | None = None) -> str:
        """Manage ``query``, started elsewhere on the app's session: it is observed, shown by
        ``status()`` and stopped by ``stop()``, but never restarted (kindling cannot build it).
        Returns its key: ``name``, else the query's name, else ``query-<id prefix>``."""
        self._check_open()
        driver = self.driver
        driver.check_adoptable(query)
        identity = driver.identity(query)
        active = driver.is_active(query)
        key = name or identity.name or f"query-{identity.query_id[:8]}"
        with self._lock:
            existing = self._by_query_id.get(identity.query_id)
            if existing is not None and existing.run_id == identity.run_id:
                return existing.key
        record = _Record(key, identity.name or key, "adopted", self._new_recovery())
        record.cell = StateCell(S.RUNNING if active else S.STOPPED)
        record.query, record.query_id, record.run_id = query, identity.query_id, identity.run_id
        record.started_at, record.starts = self._clock(), 1
        self._add(record)
        with self._lock:
            self._by_query_id[identity.query_id] = record
        self._ensure_machinery()
        return key

    def _new_recovery(self) -> QueryRecovery:
        return QueryRecovery(new_budget(self._app.config.recovery, self._clock))

    def _add(self, record: _Record) -> None:
        self._sync_pipes()
        with self._lock:
            names = [(r.key, r.name) for r in self._records.values()]
            if record.key in self._records:
                raise DuplicateQueryNameError(
                    f"{record.key!r} is already managed by app.streams ({self._records[record.key].kind})",
                    query=record.key,
                    remedy="give the query another name",
                )
            check_query_names([*names, (record.key, record.name)])
            self._records[record.key] = record

    def _sync_pipes(self) -> None:
        """Records for the catalog's streaming pipes (new ones appended, consumers first)."""
        catalog = self._app.catalog
        fingerprint = catalog.fingerprint
        if fingerprint == self._catalog_fingerprint:
            return
        order = self._plan_order(None)
        pipes = catalog.pipes
        with self._lock:
            for pipe_id in order:
                record = self._records.get(pipe_id)
                if record is None:
                    self._records[pipe_id] = _Record(pipe_id, query_name_for(pipe_id), "pipe", self._new_recovery(), pipe=pipes[pipe_id])
                elif record.kind == "pipe":
                    record.pipe = pipes[pipe_id]  # redeclared in a new catalog state
            self._catalog_fingerprint = fingerprint

    def _plan_order(self, requested: Sequence[str] | None) -> list[str]:
        """Streaming pipe ids in the streaming strategy's order (consumers first), restricted to
        ``requested`` and the streaming pipes they read from."""
        pipes = self._app.catalog.pipes
        streaming = sorted(p for p, pipe in pipes.items() if pipe.is_streaming)
        if not streaming:
            return []
        plan = self._app.plan(strategy="streaming", pipes=list(requested) if requested is not None else streaming)
        return [p for generation in plan.generations for p in generation if pipes[p].is_streaming]

    # ------------------------------------------------------------------ selection

    def _select(self, names: Sequence[str] | str | None, where: str, *, startable: bool, closure: bool = True) -> list[_Record]:
        """The records named (all when ``names`` is None). ``startable``: adopted queries are
        refused (named) or left out (all), and named pipes come with the streaming pipes they
        read from (``closure``), in start order."""
        if names is None and not startable:  # stop(): what is known; planning must not stand in its way
            with self._lock:
                return list(self._records.values())
        self._sync_pipes()
        if names is None:
            with self._lock:
                records = list(self._records.values())
            return [r for r in records if r.kind != "adopted"] if startable else records
        wanted = [names] if isinstance(names, str) else list(dict.fromkeys(names))
        pipes = self._app.catalog.pipes
        with self._lock:
            known = dict(self._records)
        for name in wanted:
            record = known.get(name)
            if record is None and name in pipes:
                raise UnknownStreamError(
                    name,
                    known,
                    where=where,
                    problem=f"pipe {name!r} is a batch pipe; app.streams runs streaming pipes only",
                    remedy="run batch pipes with app.run() / kindling run, or declare the pipe with mode='streaming'",
                )
            if record is None:
                raise UnknownStreamError(name, known, where=where)
            if startable and record.kind == "adopted":
                raise NotRestartableError(
                    f"{where}: query {name!r} was adopted; kindling cannot start it again",
                    query=name,
                    remedy="register(name, builder) instead of adopt() to let app.streams start it",
                )
        if not startable or not closure:
            return [known[n] for n in wanted]
        selected_pipes = [n for n in wanted if known[n].kind == "pipe"]
        order = self._plan_order(selected_pipes) if selected_pipes else []
        return [known[p] for p in order] + [known[n] for n in wanted if known[n].kind == "registered"]

    # ------------------------------------------------------------------ starting

    def start(self, pipes: Sequence[str] | str | None = None) -> tuple[QueryStatus, ...]:
        """Start the selected queries that are not running: every streaming pipe (consumers
        first, in the streaming strategy's order) then every registered query; or only
        ``pipes`` (streaming pipe ids or registered names) and the streaming pipes they read
        from. Everything is checked before anything starts (inputs, checkpoints, query names,
        the session). A query already starting or running is left alone, and so is one waiting
        out a recovery's backoff (``recovering``). Starting a failed or exhausted query resets
        its recovery budget. Returns the selected queries' status. Raises
        :class:`StreamStartError` at the first query that fails to start (the ones started
        before it keep running)."""
        self._check_open()
        records = self._select(pipes, "app.streams.start(pipes=...)", startable=True)
        starts = self._prepare(records, verify_running=False)
        self._ensure_machinery()
        self._watch_dimensions(records)
        for record in records:
            self._start(record, starts.get(record.key), "start")
        return tuple(self._status_of(record) for record in records)

    def restart(self, pipe: str, *, reason: str = "requested", timeout: float | None = None) -> QueryStatus:
        """Stop ``pipe`` (a streaming pipe id or registered name) if it runs, then start it
        again (a registered query's builder is called again). Of concurrent restarts (and
        starts) of one query only one stops and starts it; the others return its status. A
        query waiting out a recovery's backoff starts now (the pending recovery is dropped); an
        exhausted one starts afresh. Either way its recovery budget is reset."""
        self._check_open()
        (record,) = self._select([pipe], "app.streams.restart()", startable=True, closure=False)
        starts = self._prepare([record])
        self._ensure_machinery()
        self._watch_dimensions([record])
        self._cancel_recovery(record, halt=False)
        if record.cell.state in (S.RUNNING, S.STOPPING, S.STARTING):
            if not self._stop(record, self._timeout(timeout), f"restart: {reason}"):
                return self._status_of(record)
        self._start(record, starts.get(record.key), reason, expected=(*STARTABLE, S.RECOVERING))
        return self._status_of(record)

    def _prepare(self, records: Sequence[_Record], *, verify_running: bool = True) -> dict[str, PipeStart]:
        """Check the selected pipes and build their starts (nothing is started here), their
        checkpoints included (:meth:`_verify_checkpoints`; ``verify_running``: also those of
        queries running now, which are about to be restarted)."""
        catalog = self._app.catalog
        entities, pipes = catalog.entities, catalog.pipes
        settings, root = self.settings, self._app.config.root
        streaming = [pipe for pipe in pipes.values() if pipe.is_streaming]
        chosen = [r for r in records if r.kind == "pipe"]
        for record in chosen:
            assert record.pipe is not None
            check_inputs(record.pipe, entities)
        locations = {pipe.id: checkpoint_location(pipe, settings.checkpoint_base, root) for pipe in streaming}
        check_checkpoints(locations.items(), [r.key for r in chosen])
        self.driver.check_session()
        with self._lock:
            ours = {r.name for r in self._records.values() if r.cell.state not in TERMINAL}
        foreign = self.driver.active_names() - ours
        for record in records:
            if record.name in foreign and record.cell.state in TERMINAL:
                raise DuplicateQueryNameError(
                    f"a query named {record.name!r} is already active on this Spark session, started outside app.streams; "
                    f"{record.label()} would run under the same name",
                    query=record.key,
                    culprit=f"query name {record.name!r}",
                    remedy="stop that query (spark.streams.get(<its id>).stop()) before starting, or rename the pipe or registered query",
                )
        producers = {pipe.output: pipe for pipe in streaming}
        memo: dict[str, PipeStart] = {}

        def build(pipe: Pipe, trail: tuple[str, ...]) -> PipeStart:
            if pipe.id in memo:
                return memo[pipe.id]
            upstream = {}
            for entity_id in pipe.inputs:
                producer = producers.get(entity_id)
                if entity_id not in pipe.dimensions and producer is not None and producer.id not in trail:
                    upstream[entity_id] = build(producer, (*trail, pipe.id))
            text = pipe.trigger or settings.default_trigger
            memo[pipe.id] = PipeStart(
                pipe=pipe,
                entities={e: entities[e] for e in (*pipe.inputs, pipe.output) if e in entities},
                query_name=query_name_for(pipe.id),
                checkpoint=locations[pipe.id],
                trigger=Trigger.parse(text) if text else None,
                app_id=self._app.name,
                upstream=upstream,
            )
            return memo[pipe.id]

        starts = {r.key: build(r.pipe, ()) for r in chosen if r.pipe is not None}
        with self._lock:
            for record in chosen:
                start = starts[record.key]
                record.checkpoint = start.checkpoint
                record.trigger = str(start.trigger) if start.trigger is not None else ""
        self._verify_checkpoints(chosen, starts, verify_running)
        return starts

    # ------------------------------------------------------------------ checkpoints

    def _verify_checkpoints(self, records: Sequence[_Record], starts: Mapping[str, PipeStart], verify_running: bool) -> None:
        """Check each pipe's checkpoint before it starts (structure and plan fingerprint, see
        :mod:`kindling_core.streaming.checkpoint_guard`); a due clean start that cannot be exact
        is refused here, before anything stops or starts. The verdicts wait for :meth:`_launch`."""
        driver = self.driver
        for record in records:
            if not verify_running and record.cell.state in (S.STARTING, S.RUNNING, S.STOPPING):
                continue  # start() leaves it alone
            start = starts[record.key]
            with self._lock:
                forced = self._clean_requests.get(record.key)
                timed_out = record.stop_timed_out
            verdict = verify_checkpoint(driver, start, forced=forced)
            if verdict.clean_start is not None:
                stopped = record.cell.state not in (S.STARTING, S.RUNNING, S.STOPPING)
                why = clean_start_problem(driver, start, stopped=stopped, stop_timed_out=timed_out)
                if why is not None:
                    why = f"{why} (clean start because {verdict.clean_start})"
                    raise CleanStartRefusedError(record.key, start.checkpoint, why, label=record.label())
            with self._lock:
                self._verdicts[record.key] = verdict

    def _checkpoint_ready(self, record: _Record, start: PipeStart) -> PipeStart:
        """Right before the driver starts ``record`` (stopped by now): make the clean start
        its verdict asks for, and return the start to use."""
        with self._lock:
            verdict = self._verdicts.get(record.key)
        if verdict is None or verdict.start is not start:
            return start
        if verdict.clean_start is None:
            return attrs.evolve(start, starting_versions=verdict.starting_versions) if verdict.starting_versions else start
        try:
            fresh, done = clean_start(self.driver, start, verdict.clean_start, datetime.datetime.now(datetime.timezone.utc))
        except ResumeRefused as exc:
            raise CleanStartRefusedError(record.key, start.checkpoint, str(exc), label=record.label()) from None
        with self._lock:
            self._clean_requests.pop(record.key, None)
            resume = fresh.starting_versions
            self._verdicts[record.key] = CheckpointVerdict(fresh, verdict.fingerprint, store=True, starting_versions=resume)
            record.last_error = None
        logger.info("%s: old checkpoint moved to %s", record.label(), done.moved_to)
        return fresh

    def _checkpoint_started(self, record: _Record) -> None:
        """``record`` started: store its plan fingerprint beside the checkpoint when due."""
        with self._lock:
            verdict = self._verdicts.pop(record.key, None)
        if verdict is not None:
            try:
                store_fingerprint(verdict)
            except OSError as exc:
                self._app.errors.report(exc, source="streaming", subject=record.key)

    def clean_start(self, pipe: str, *, reason: str, timeout: float | None = None) -> QueryStatus:
        """Start the streaming pipe ``pipe`` over on a fresh checkpoint: stop it if it runs,
        move its checkpoint aside (renamed to ``<name>.moved-<UTC time>``, never deleted) and
        start it with each Delta source at the first version the old checkpoint had not
        processed, so the output gets every source row once (see
        ``docs/design/checkpoints.md``). Raises :class:`CleanStartRefusedError` (nothing stopped
        or moved) when that cannot be exact, or for a registered query."""
        self._check_open()
        (record,) = self._select([pipe], "app.streams.clean_start()", startable=True, closure=False)
        if record.kind != "pipe":
            why = "it is a registered query; kindling did not choose its checkpoint"
            raise CleanStartRefusedError(record.key, None, why, label=record.label())
        with self._lock:
            self._clean_requests[record.key] = reason
        try:
            return self.restart(pipe, reason=f"clean start: {reason}", timeout=timeout)
        finally:
            with self._lock:
                self._clean_requests.pop(record.key, None)

    def _start(self, record: _Record, start: PipeStart | None, reason: str, *, expected: Iterable[QueryState] = STARTABLE) -> bool:
        """Start ``record`` (an explicit start or restart) if this thread wins the move to
        ``starting``; ``False`` otherwise. The win resets the query's recovery: budget, crash
        loop, a stop's halt."""
        previous = record.cell.move(expected, S.STARTING)
        if previous is None:
            return False
        with self._lock:
            recovery = record.recovery
            recovery.halted = False
            recovery.end_loop()
            pending = recovery.take_pending()
        if pending is not None:
            pending.cancel()
        recovery.budget.reset()
        try:
            return self._launch(record, previous, start, reason)
        except StreamStartError:
            with self._lock:
                recovery.failures += 1
            raise

    def _launch(self, record: _Record, previous: QueryState, start: PipeStart | None, reason: str) -> bool:
        """Start ``record``, which this thread moved from ``previous`` to ``starting``."""
        with self._lock:
            restarts = record.starts
            record.starts += 1
            record.run_id = None
            record.query = None
            record.stop_requested = record.stop_timed_out = False
            record.progress = record.progress_at = record.idle_since = record.last_activity = None
            record.stalls.clear()
            record.started_at = self._clock()
        self._emit(sig.BEFORE_START, sig.StreamStarting(record.name, record.pipe_id, record.trigger, record.checkpoint, restarts, reason))
        self._state_changed(record, previous, S.STARTING, reason)
        began = time.perf_counter()
        driver = self.driver
        try:
            if start is not None:
                start = self._checkpoint_ready(record, start)
                query = driver.start_pipe(start)
            else:
                assert record.builder is not None
                query = driver.start_builder(record.name, record.builder)
            identity = driver.identity(query)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            with self._lock:
                record.last_error = text
            self._move(record, S.STARTING, S.FAILED, "start failed")
            self._emit(sig.START_FAILED, sig.StreamStartFailed(record.name, record.pipe_id, exc, text))
            raise StreamStartError(
                f"{record.label()} did not start: {text}",
                query=record.key,
                remedy="fix the cause above; app.streams.status() shows the query as failed until it starts",
            ) from exc
        with self._lock:
            record.query, record.query_id, record.run_id = query, identity.query_id, identity.run_id
            self._by_query_id[identity.query_id] = record
            orphan = self._orphans.pop(identity.run_id, None)
        took = time.perf_counter() - began
        self._checkpoint_started(record)
        self._emit(sig.AFTER_START, sig.StreamStarted(record.name, record.pipe_id, identity.query_id, identity.run_id, took))
        self._move(record, S.STARTING, S.RUNNING, reason)
        if orphan is not None:
            self._on_terminated(orphan)
        return True

    # ------------------------------------------------------------------ stopping

    def stop(self, pipes: Sequence[str] | str | None = None, *, timeout: float | None = None) -> tuple[QueryStatus, ...]:
        """Stop the running queries (all, or ``pipes``), all at once, each waited for at most
        ``timeout`` seconds (default ``tool.kindling.streaming.stop-timeout-seconds``). A stop
        that gives up is reported (``streaming.stop_timeout_reached``, ``stop_timed_out`` and
        ``last_error`` in the status): the query is no longer active, but Spark's execution
        thread may still be finishing its batch. Never blocks much longer than ``timeout``.

        A query waiting out a recovery's backoff is stopped at once (``recovering`` →
        ``stopped``; the restart never happens); one whose recovery is restarting it is stopped
        once that start returned. No recovery begins for a stopped query until it is started
        again."""
        records = self._select(pipes, "app.streams.stop(pipes=...)", startable=False)
        wait = self._timeout(timeout)
        if pipes is None:
            self._stop_watcher()
        for record in records:
            self._cancel_recovery(record, halt=True)
        running = [r for r in reversed(records) if r.cell.state in (S.STARTING, S.RUNNING)]
        threads = [
            threading.Thread(target=self._stop_quietly, args=(r, wait, "stop"), name=f"kindling-stop-{r.key}", daemon=True) for r in running
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + wait * 2 + 1.0  # a start in flight, then its stop
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return tuple(self._status_of(r) for r in records)

    def _cancel_recovery(self, record: _Record, *, halt: bool) -> None:
        """Drop ``record``'s pending recovery (a stop or restart wins over it); ``halt``: also
        keep any recovery from beginning until an explicit start, and end a backoff in
        ``stopped``."""
        with self._lock:
            if halt:
                record.recovery.halted = True
            pending = record.recovery.take_pending()
        if pending is not None:
            pending.cancel()
        if halt:
            self._move(record, S.RECOVERING, S.STOPPED, "stopped during a recovery's backoff")

    def _stop_quietly(self, record: _Record, timeout: float, reason: str) -> None:
        try:
            self._stop(record, timeout, reason)
        except Exception as exc:  # noqa: BLE001 - reported; the other stops go on
            self._app.errors.report(exc, source="streaming", subject=record.key)

    def _stop(self, record: _Record, timeout: float, reason: str) -> bool:
        """Stop ``record`` if this thread wins the move to ``stopping``; ``False`` otherwise."""
        previous = record.cell.move(S.RUNNING, S.STOPPING)
        if previous is None and record.cell.state is S.STARTING:
            record.cell.wait_for({S.RUNNING, S.STOPPED, S.FAILED}, timeout)
            previous = record.cell.move(S.RUNNING, S.STOPPING)
        if previous is None:
            return False
        with self._lock:
            record.stop_requested = True
            query = record.query
        self._state_changed(record, previous, S.STOPPING, reason)
        self._emit(sig.BEFORE_STOP, sig.StreamStopping(record.name, record.pipe_id, timeout, reason))
        began = time.perf_counter()
        driver = self.driver
        outcome = call_with_timeout(lambda: driver.stop(query), timeout, name=f"kindling-stop-{record.key}-spark")
        duration = time.perf_counter() - began
        timed_out = not outcome.finished or isinstance(outcome.error, StopTimedOutError)
        if timed_out:
            cause = "gave up waiting" if not outcome.finished else "Spark's spark.sql.streaming.stopTimeout fired"
            message = (
                f"stopping {record.label()} timed out after {timeout:g}s ({cause}): the query is no longer active "
                "(isActive is false), but Spark's execution thread may still be running its last micro-batch"
            )
            with self._lock:
                record.stop_timed_out = True
                record.last_error = message
            self._emit(sig.STOP_TIMEOUT_REACHED, sig.StreamStopTimedOut(record.name, record.pipe_id, timeout, message))
        elif outcome.error is not None:
            with self._lock:
                record.last_error = f"{type(outcome.error).__name__}: {outcome.error}"
        self._move(record, S.STOPPING, S.STOPPED, reason)
        self._emit(sig.AFTER_STOP, sig.StreamStopped(record.name, record.pipe_id, duration, timed_out))
        return True

    def _timeout(self, timeout: float | None) -> float:
        return self.settings.stop_timeout_seconds if timeout is None else float(timeout)

    # ------------------------------------------------------------------ waiting

    def process_all_available(self, timeout: float | None = None) -> bool:
        """Wait until every running query has processed all input available now (producers
        first, so a consumer sees what its producer just wrote). ``True`` when all did within
        ``timeout`` seconds (``None``: no limit); ``False`` when the time ran out or a query
        failed (``status()`` says which)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            records = [r for r in reversed(self._records.values()) if r.cell.state is S.RUNNING]
        caught_up = True
        for record in records:
            drain = functools.partial(self.driver.process_all_available, record.query)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            outcome = call_with_timeout(drain, remaining, name=f"kindling-drain-{record.key}")
            if not outcome.finished:
                return False
            caught_up = caught_up and outcome.error is None
        return caught_up

    def await_termination(self, timeout: float | None = None) -> bool:
        """Block until no managed query is starting, running, stopping or recovering (or
        ``timeout`` seconds pass); ``True`` when none is."""
        with self._changed:
            return self._changed.wait_for(self._all_terminal, timeout)

    def _all_terminal(self) -> bool:
        with self._lock:
            return all(r.cell.state in TERMINAL and not r.recovery.deciding for r in self._records.values())

    # ------------------------------------------------------------------ status

    def status(self) -> Mapping[str, QueryStatus]:
        """A frozen snapshot of every managed query, keyed by pipe id / registered name
        (streaming pipes in start order, then registered and adopted queries). Reads Spark's
        ``status`` (and ``lastProgress`` before the listener reported one) of running queries;
        runs no Spark job."""
        self._sync_pipes()
        with self._lock:
            records = list(self._records.values())
        return {record.key: self._status_of(record) for record in records}

    def query_status(self, name: str) -> QueryStatus:
        """The snapshot of one managed query (see :meth:`status`)."""
        (record,) = self._select([name], "app.streams.query_status()", startable=False)
        return self._status_of(record)

    def _status_of(self, record: _Record) -> QueryStatus:
        state = record.cell.state
        runtime = None
        fallback: ProgressSnapshot | None = None
        query = record.query
        if query is not None and state is S.RUNNING:
            driver = self.driver
            try:
                runtime = driver.status(query)
                if record.progress is None:
                    fallback = driver.last_progress(query)
            except Exception:
                logger.debug("status of %s unavailable", record.key, exc_info=True)
        with self._lock:
            progress = record.progress
            if progress is None and fallback is not None and fallback.run_id == record.run_id:
                progress = fallback
            fields = progress_fields(progress)
            if record.progress_at is not None:
                fields["last_progress_at"] = record.progress_at
            recovery = record.recovery
            classification, decision = recovery.classification, recovery.decision
            kind = recovery.kind()
            return QueryStatus(
                name=record.name,
                pipe=record.pipe_id,
                state=state,
                taken_at=self._clock(),
                query_id=record.query_id,
                run_id=record.run_id,
                trigger=record.trigger,
                checkpoint=record.checkpoint,
                started_at=record.started_at,
                idle_since=record.idle_since,
                message=runtime.message if runtime is not None else "",
                trigger_active=runtime.trigger_active if runtime is not None else False,
                data_available=runtime.data_available if runtime is not None else False,
                restarts=max(record.starts - 1, 0),
                last_error=record.last_error,
                stop_timed_out=record.stop_timed_out,
                failures=recovery.failures,
                recoveries=recovery.recoveries,
                recovery_attempts=recovery.budget.attempts(kind),
                recovery_limit=recovery.budget.limit(kind),
                classification=classification.kind.value if classification is not None else None,
                classifier=classification.classifier if classification is not None else None,
                classification_reason=classification.reason if classification is not None else None,
                recovery_action=decision.action.kind.value if decision is not None else None,
                recovery_strategy=decision.action.strategy if decision is not None else None,
                recovery_reason=decision.action.reason if decision is not None else None,
                next_attempt_at=recovery.next_attempt_at,
                **fields,
            )

    # ------------------------------------------------------------------ events

    def _ensure_machinery(self) -> None:
        """Attach the listener and start the consumer and the watchdog, once."""
        if self._machinery.is_set():
            return
        with self._lock:
            claimed = not self._machinery_claimed
            self._machinery_claimed = True
        if not claimed:
            self._machinery.wait(30)
            return
        try:
            driver = self.driver
            driver.check_session()
            self._consumer = threading.Thread(target=self._consume, name="kindling-streams-events", daemon=True)
            self._consumer.start()
            self._detach = driver.attach_listener(self._queue.put)
            settings = self.settings
            self._watchdog = Watchdog(
                self,
                driver,
                interval=settings.watchdog_interval_seconds,
                stale_after=settings.stale_after_seconds,
                no_progress_after_start=settings.no_progress_after_start_seconds,
                clock=self._clock,
            )
            self._watchdog.start()
        except BaseException:
            with self._lock:
                self._machinery_claimed = False
            raise
        self._machinery.set()

    def put(self, event: StreamEvent) -> None:
        """Report an event (the watchdog's channel; the listener puts on the queue directly)."""
        self._queue.put(event)

    def _consume(self) -> None:
        self._thread_roles.detached = True
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._handle(event)
            except Exception as exc:  # noqa: BLE001 - the consumer must outlive a bad event
                self._app.errors.report(exc, source="streaming", subject=getattr(event, "query_id", ""))

    def _handle(self, event: StreamEvent) -> None:
        if isinstance(event, QueryProgressed):
            self._on_progress(event.progress)
        elif isinstance(event, QueryIdle):
            self._on_idle(event)
        elif isinstance(event, QueryTerminated):
            self._on_terminated(event)
        elif isinstance(event, QueryStarted):
            self._on_started(event)

    def _on_started(self, event: QueryStarted) -> None:
        with self._lock:
            record = self._by_query_id.get(event.query_id)
            if record is None and event.name is not None:
                candidate = self._records.get(event.name) or next((r for r in self._records.values() if r.name == event.name), None)
                record = candidate if candidate is not None and candidate.kind != "adopted" else None
            if record is not None and record.cell.state is S.STARTING and record.run_id is None:
                record.query_id, record.run_id = event.query_id, event.run_id
                self._by_query_id[event.query_id] = record

    def _current(self, query_id: str, run_id: str) -> _Record | None:
        record = self._by_query_id.get(query_id)
        if record is None or record.run_id != run_id:
            return None
        return record

    def _on_progress(self, progress: ProgressSnapshot) -> None:
        now = self._clock()
        with self._lock:
            record = self._current(progress.query_id, progress.run_id)
            if record is None or (record.progress is not None and progress.batch_id <= record.progress.batch_id):
                return
            record.progress, record.progress_at = progress, now
            record.idle_since = None
            record.last_activity = now
            record.stalls.clear()
            on_probation = record.recovery.probation_run == progress.run_id
            if on_probation:
                record.recovery.probation_batches += 1
        if on_probation:
            with self._changed:
                self._changed.notify_all()
        self._emit(sig.PROGRESS_MADE, sig.StreamProgress(record.name, record.pipe_id, progress))

    def _on_idle(self, event: QueryIdle) -> None:
        now = self._clock()
        with self._lock:
            record = self._current(event.query_id, event.run_id)
            if record is None:
                return
            record.last_activity = now
            record.stalls.discard(START)
            entered = record.idle_since is None
            if entered:
                record.idle_since = event.timestamp or now
            since = record.idle_since or now
        if entered:
            self._emit(sig.QUERY_IDLED, sig.StreamIdle(record.name, record.pipe_id, event.query_id, event.run_id, since))

    def _on_terminated(self, event: QueryTerminated) -> None:
        with self._lock:
            record = self._by_query_id.get(event.query_id)
            if record is None or record.run_id is None:
                self._orphans[event.run_id] = event
                while len(self._orphans) > _ORPHANS:
                    self._orphans.popitem(last=False)
                return
            if record.run_id != event.run_id or event.run_id in record.ended_runs:
                return  # an earlier run's end, or already reported (listener and watchdog)
            record.ended_runs.add(event.run_id)
            requested = record.stop_requested
            if event.exception:
                record.last_error = event.exception
                record.recovery.deciding = not requested
        payload = sig.StreamTerminated(
            record.name, record.pipe_id, event.query_id, event.run_id, event.exception, event.error_class, event.source, requested
        )
        self._emit(sig.QUERY_TERMINATED, payload)
        if event.exception:
            self._emit(sig.QUERY_FAILED, payload)
        if not requested:
            if event.exception:
                failed = self._move(record, (S.STARTING, S.RUNNING), S.FAILED, f"query failed ({event.source})")
                error = StreamQueryFailedError(
                    record.key, event.exception, pipe=record.pipe_id, error_class=event.error_class, label=record.label()
                )
                if failed:
                    self._spawn_recovery(record, error)
                else:
                    self._decided(record)
            else:
                self._move(record, (S.STARTING, S.RUNNING), S.STOPPED, f"query ended ({event.source})")

    # ------------------------------------------------------------------ recovery

    def _spawn_recovery(self, record: _Record, error: StreamQueryFailedError) -> None:
        """Recover ``record`` from ``error`` on a thread of its own (``kindling-recover-<key>``)."""
        name = f"kindling-recover-{record.key}"
        threading.Thread(target=self._recover, args=(record, error), name=name, daemon=True).start()

    def _recover(self, record: _Record, error: StreamQueryFailedError) -> None:
        """The recovery of one failure, on its own thread: judge it, wait out the backoff,
        restart, confirm the new run's health; a restart that raises is judged in turn (the
        same crash loop), until the query runs, recovery is exhausted or declined, or a stop or
        restart wins. A failure of the restarted run, noticed later, gets a thread of its own."""
        failure: StreamQueryFailedError | None = error
        self._thread_roles.detached = True
        try:
            while failure is not None:
                pending = self._judge(record, failure)
                if pending is None or not pending.wait():
                    return
                failure = self._restart(record, pending)
        except Exception as exc:  # noqa: BLE001 - reported; the manager goes on
            self._app.errors.report(exc, source="streaming", subject=record.key)
        finally:
            self._decided(record)

    def _judge(self, record: _Record, error: StreamQueryFailedError) -> PendingRecovery | None:
        """``record`` failed without being asked to stop (it is ``failed``): classify the
        failure, decide, and schedule a restart (the pending backoff is returned), exhaust or
        decline (see :mod:`kindling_core.streaming.recovery`)."""
        recovery = record.recovery
        with self._lock:
            recovery.deciding = True
            recovery.failures += 1
            recovery.probation_run = None
            if recovery.loop_began is None:
                recovery.loop_began = time.monotonic()
            attempt = recovery.loop_attempts + 1
        try:
            context = FailureContext.of(error, source="stream", subject=record.key, attempt=attempt)
            decision = judge_failure(self._app, recovery.budget, context, adopted=record.key if record.kind == "adopted" else "")
            with self._lock:
                recovery.classification, recovery.decision = decision.classification, decision
            if decision.retry:
                return self._schedule(record, decision, error)
            if decision.action.kind is RecoveryActionKind.CLEAN_START:
                return self._recover_clean(record, decision, error)
            if decision.exhausted and decision.action.kind is RecoveryActionKind.RESTART:
                self._exhaust(record, decision, error)
            else:
                self._decline(record, decision, error)
            return None
        finally:
            self._decided(record)

    def _decided(self, record: _Record) -> None:
        with self._lock:
            record.recovery.deciding = False
        with self._changed:
            self._changed.notify_all()

    def _schedule(self, record: _Record, decision: RecoveryDecision, error: StreamQueryFailedError) -> PendingRecovery | None:
        recovery = record.recovery
        action = decision.action
        if not self._move(record, S.FAILED, S.RECOVERING, f"recovery scheduled: {action.reason}"):
            return None  # started or stopped meanwhile: that request wins
        delay = action.delay_seconds
        with self._lock:
            halted = recovery.halted or self._closed
            if not halted:
                recovery.budget.spend(decision.classification.kind)
                recovery.loop_attempts += 1
                pending = recovery.pending = PendingRecovery(delay)
                at = recovery.next_attempt_at = self._clock() + delay
        if halted:
            self._move(record, S.RECOVERING, S.STOPPED, "stopped before its recovery began")
            return None
        payload = sig.StreamRecoveryScheduled(
            record.name, record.pipe_id, decision.attempt, decision.max_attempts, delay, at, decision, error.exception_text
        )
        self._emit(sig.RECOVERY_SCHEDULED, payload)
        return pending

    def _restart(self, record: _Record, pending: PendingRecovery) -> StreamQueryFailedError | None:
        """The backoff ended: start ``record`` again, unless a stop or restart came first, then
        confirm the new run's health. Returns the failure when the restart raised."""
        recovery = record.recovery
        with self._lock:
            if recovery.pending is not pending:
                return None  # a stop or restart took it
            recovery.take_pending()
            attempt = recovery.loop_attempts
            limit = recovery.budget.limit(recovery.kind())
        previous = record.cell.move(S.RECOVERING, S.STARTING)
        if previous is None:
            return None  # a stop or restart won
        with self._lock:
            recovery.deciding = True  # a restart that raises is judged before anyone sees the query settled
        self._emit(sig.RECOVERY_STARTED, sig.StreamRecovering(record.name, record.pipe_id, attempt, limit))
        reason = f"recovery attempt {attempt} of {limit}"
        try:
            start = self._prepare([record]).get(record.key)
        except Exception as exc:  # noqa: BLE001 - a failed restart is a failure of the same crash loop
            text = f"{type(exc).__name__}: {exc}"
            with self._lock:
                record.last_error = text
            self._state_changed(record, previous, S.STARTING, reason)
            self._move(record, S.STARTING, S.FAILED, "restart failed")
            self._emit(sig.START_FAILED, sig.StreamStartFailed(record.name, record.pipe_id, exc, text))
            return self._restart_failure(record, exc)
        try:
            self._launch(record, previous, start, reason)
        except StreamStartError as exc:
            return self._restart_failure(record, exc.__cause__ or exc)
        self._decided(record)
        self._confirm_health(record)
        return None

    def _restart_failure(self, record: _Record, cause: BaseException) -> StreamQueryFailedError:
        error = StreamQueryFailedError(record.key, f"{type(cause).__name__}: {cause}", pipe=record.pipe_id, label=record.label())
        error.__cause__ = cause
        return error

    def _confirm_health(self, record: _Record) -> None:
        """Wait (on the recovery's thread) until the restarted run made ``healthy-batches``
        micro-batches or ran ``healthy-seconds`` without failing, then report it recovered. A
        run that fails, stops or is replaced first is not recovered (its failure is judged as
        part of the same crash loop)."""
        with self._lock:
            run = record.run_id
        healthy = self._await_healthy(record, run)
        if healthy is None:
            return
        batches, healthy_by, attempts, began = healthy
        with self._lock:
            record.recovery.recoveries += 1
        seconds = time.monotonic() - began if began is not None else 0.0
        payload = sig.StreamRecovered(record.name, record.pipe_id, record.query_id, run, attempts, seconds, batches, healthy_by)
        self._emit(sig.RECOVERED, payload)

    def _await_healthy(self, record: _Record, run: str | None) -> tuple[int, str, int, float | None] | None:
        """The health rule, on the caller's thread: wait until ``record``'s run ``run`` made
        ``healthy-batches`` micro-batches or ran ``healthy-seconds`` without failing. Returns
        ``(batches, healthy_by, loop attempts, loop began)`` (the crash loop is ended), or
        ``None`` when the run failed, stopped or was replaced first."""
        config = self._app.config.recovery
        recovery = record.recovery
        with self._lock:
            if run is None or record.run_id != run or record.cell.state is not S.RUNNING:
                return None
            recovery.probation_run, recovery.probation_batches = run, 0

        def settled() -> bool:
            with self._lock:
                on_probation = recovery.probation_run == run and record.run_id == run
                return not on_probation or record.cell.state is not S.RUNNING or recovery.probation_batches >= config.healthy_batches

        with self._changed:
            self._changed.wait_for(settled, config.healthy_seconds)
        with self._lock:
            if recovery.probation_run != run or record.run_id != run or record.cell.state is not S.RUNNING:
                return None
            batches = recovery.probation_batches
            attempts, began = recovery.end_loop()
        return batches, "batches" if batches >= config.healthy_batches else "seconds", attempts, began

    def _exhaust(self, record: _Record, decision: RecoveryDecision, error: StreamQueryFailedError) -> None:
        if not self._move(record, S.FAILED, S.EXHAUSTED, f"recovery budget spent: {decision.action.reason}"):
            return  # started or stopped meanwhile
        with self._lock:
            attempts, _ = record.recovery.end_loop()
        used = decision.attempt - 1
        payload = sig.StreamRecoveryExhausted(record.name, record.pipe_id, used, decision.max_attempts, decision, error.exception_text)
        self._emit(sig.RECOVERY_EXHAUSTED, payload)
        self._report(record, error, decision, used)

    def _recover_clean(self, record: _Record, decision: RecoveryDecision, error: StreamQueryFailedError) -> PendingRecovery | None:
        """A strategy asked for a clean start: schedule it like a restart (the start then
        moves the checkpoint aside, see :meth:`clean_start`) when it can be exact, else decline
        with the reason."""
        why = self._clean_start_refusal(record, decision)
        if why is not None:
            self._decline(record, decision, error, why=why)
            return None
        return self._schedule(record, decision, error)

    def _clean_start_refusal(self, record: _Record, decision: RecoveryDecision) -> str | None:
        """Why the failed ``record`` cannot be clean-started (``None``: it can; its next start
        is then a clean start)."""
        if decision.exhausted:
            return f"its recovery budget is spent ({decision.attempt - 1} of {decision.max_attempts} attempts)"
        if record.kind != "pipe" or record.pipe is None:
            return "it is a registered query; kindling did not choose its checkpoint"
        with self._lock:
            self._clean_requests[record.key] = f"recovery strategy {decision.action.strategy!r}: {decision.action.reason}"
        why: str | None = None
        try:
            self._prepare([record], verify_running=False)
        except CleanStartRefusedError as exc:
            why = exc.why
        except Exception as exc:  # noqa: BLE001 - the refusal names it
            why = f"its start cannot be prepared ({type(exc).__name__}: {exc})"
        with self._lock:
            self._verdicts.pop(record.key, None)
            if why is not None:
                self._clean_requests.pop(record.key, None)
        return why

    def _decline(self, record: _Record, decision: RecoveryDecision, error: StreamQueryFailedError, *, why: str = "") -> None:
        with self._lock:
            record.recovery.end_loop()
            checkpoint = record.checkpoint
        self._emit(sig.RECOVERY_DECLINED, sig.StreamRecoveryDeclined(record.name, record.pipe_id, decision, error.exception_text))
        action = decision.action
        reported: BaseException = error
        if action.kind is RecoveryActionKind.CLEAN_START:
            reported = CleanStartUnavailableError(
                record.key,
                checkpoint,
                strategy=action.strategy,
                reason=action.reason,
                why=why or "it was not attempted",
                label=record.label(),
            )
            reported.__cause__ = error
        self._report(record, reported, decision, decision.attempt - 1)

    def _report(self, record: _Record, error: BaseException, decision: RecoveryDecision, attempts: int) -> None:
        """The one error-handler call for a failure that is not recovered."""
        classification, action = decision.classification, decision.action
        self._app.errors.report(
            error,
            source="stream",
            subject=record.key,
            query=record.name,
            pipe=record.pipe_id,
            classification=classification.kind.value,
            classifier=classification.classifier,
            classification_reason=classification.reason,
            action=action.kind.value,
            strategy=action.strategy,
            reason=action.reason,
            attempts=attempts,
            max_attempts=decision.max_attempts,
        )

    # ------------------------------------------------------------------ restarts (the controller)

    @property
    def restarts(self) -> RestartController:
        """The restart controller (created on first use; see :mod:`kindling_core.streaming.restarts`)."""
        with self._lock:
            if self._restarts is None:
                close_wait = self.settings.stop_timeout_seconds * 2 + 5.0
                self._restarts = RestartController(_RestartHost(self), self._app.config.restarts, clock=self._clock, close_wait=close_wait)
            return self._restarts

    def request_restart(self, pipe: str, reason: str, *, version: int | None = None, entity: str | None = None) -> bool:
        """Ask for a restart of ``pipe`` (a streaming pipe id or registered name) because of
        ``reason``; ``version`` is the (dimension) version that asks for it, ``entity`` the
        entity that changed. Returns at once: the restart controller coalesces the requests of
        one query (the newest version wins), waits ``tool.kindling.restarts.debounce-seconds``
        for a burst to settle (at most ``max-wait-seconds``), restarts at most
        ``max-concurrent`` queries at once and never one query twice at once; a query that is
        not running when its turn comes, or is recovering, is skipped
        (``restarts.restart_skipped``). Returns whether this request began a new pending
        restart (``False``: a pending one absorbed it)."""
        self._check_open()
        where = "app.streams.request_restart()"
        (record,) = self._select([pipe], where, startable=True, closure=False)
        if not isinstance(reason, str) or not reason.strip():
            raise StreamingError(
                f"{where}: the reason for restarting {record.label()} must be a non-empty string, got {reason!r}",
                query=record.key,
                culprit="reason",
                remedy=f"say why, e.g. app.streams.request_restart({record.key!r}, 'customers schema changed')",
            )
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise StreamingError(
                f"{where}: version must be a table version (an int >= 0) or None, got {version!r} for {record.label()}",
                query=record.key,
                culprit="version",
                remedy="pass the Delta version of the change (ChangeReport.to_version), or leave it out",
            )
        if entity is not None:
            entities = self._app.catalog.entities
            if entity not in entities:
                raise StreamingError(
                    f"{where}: entity {entity!r} is not declared.{did_you_mean(str(entity), entities)} "
                    f"Entities: {', '.join(sorted(entities)) or '(none)'}.",
                    query=record.key,
                    culprit=f"entity {entity!r}",
                    remedy="name a declared entity (the dimension that changed), or leave entity out",
                )
        return self.restarts.request(RestartRequest(record.key, reason.strip(), version=version, entity=entity, source="api"))

    def _restart_check(self, key: str) -> RestartCheck:
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return RestartCheck(Verdict.SKIP, f"{key!r} is no longer managed by app.streams")
            state = record.cell.state
            recovery = record.recovery
            probation = recovery.probation_run is not None and recovery.probation_run == record.run_id
            deciding = recovery.deciding
        if state is S.RUNNING and not probation and not deciding:
            return RestartCheck(Verdict.READY)
        if state is S.RUNNING:
            return RestartCheck(Verdict.DEFER, "its recovery is confirming the restarted run's health")
        if state in (S.STARTING, S.STOPPING):
            return RestartCheck(Verdict.DEFER, f"it is {state}")
        if state is S.RECOVERING or (state is S.FAILED and deciding):
            return RestartCheck(Verdict.SKIP, f"{record.label()} is being recovered; its recovery restarts it over fresh reads")
        if state in (S.FAILED, S.EXHAUSTED):
            return RestartCheck(Verdict.SKIP, f"{record.label()} is {state}: recovery owns a failed query; start it to run it again")
        return RestartCheck(Verdict.SKIP, f"{record.label()} is not running ({state})")

    def _restart_query(self, key: str, reason: str) -> RestartAttempt:
        """The controller's restart: stop, then start through the normal restart path (its
        checks and checkpoint validation). A start that fails leaves the query ``failed`` and
        hands it to recovery."""
        with self._lock:
            record = self._records[key]
            before = record.run_id
        try:
            self.restart(key, reason=f"restart requested: {reason}")
        except StreamStartError as exc:
            if record.cell.state is S.FAILED:  # nobody to raise to: recovery judges the failed start
                with self._lock:
                    record.recovery.failures -= 1  # the start counted it; the judgement counts it again
                    record.recovery.deciding = True
                self._spawn_recovery(record, self._restart_failure(record, exc.__cause__ or exc))
            return RestartAttempt(failed=str(exc), stage="start")
        except ManagerClosedError:
            return RestartAttempt(skipped="app.streams was closed")
        except Exception as exc:  # noqa: BLE001 - the checks before the stop: the query keeps running
            return RestartAttempt(failed=f"{type(exc).__name__}: {exc}", stage="check")
        with self._lock:
            run, state = record.run_id, record.cell.state
        if run is None or run == before or state is not S.RUNNING:
            return RestartAttempt(skipped=f"{record.label()} was stopped or started by someone else meanwhile ({state})")
        return RestartAttempt(run_id=run)

    def _confirm_restart(self, key: str, run: str) -> Health:
        with self._lock:
            record = self._records[key]
        healthy = self._await_healthy(record, run)
        if healthy is not None:
            batches, healthy_by, _, _ = healthy
            return Health(True, batches, healthy_by)
        state = record.cell.state
        if state in (S.STOPPING, S.STOPPED):
            return Health(False, why=f"{record.label()} was stopped before its new run proved healthy", stopped=True)
        if record.run_id != run and state in (S.STARTING, S.RUNNING):
            return Health(False, why=f"{record.label()} was restarted by someone else before its new run proved healthy", stopped=True)
        return Health(False, why=f"the new run of {record.label()} failed before it proved healthy ({state}); its recovery takes over")

    def preview_restarts(
        self,
        *,
        entity: str | None = None,
        pipes: Sequence[str] | str = (),
        max_depth: int | None = None,
        where: str = "app.streams.preview_restarts(pipes=...)",
    ) -> RestartPlan:
        """Which streaming pipes would restart when ``entity`` changes (those declaring it a
        dimension) and/or ``pipes`` restart, with their cascades, in execution order and why
        (:func:`kindling_core.streaming.cascade.restart_plan`). Touches nothing: no Spark, no
        query, no request. ``max_depth`` defaults to ``tool.kindling.restarts.cascade-depth``; a
        dimension's detector defaults to the selected change detector; ``where`` names ``pipes``
        in the error for a batch pipe."""
        from kindling_core.streaming.cascade import restart_plan

        detectors = self._app.registry.family("change-detectors")
        return restart_plan(
            self._app.catalog,
            entity=entity,
            pipes=pipes,
            max_depth=self._app.config.restarts.cascade_depth if max_depth is None else max_depth,
            default_detector=detectors.selected or detectors.family.default or self._app.config.change_detectors.default,
            where=where,
        )

    def _cascade_targets(self, key: str) -> tuple[CascadeTarget, ...]:
        from kindling_core.streaming.cascade import RestartCause, restart_plan

        with self._lock:
            record = self._records.get(key)
        if record is None or record.pipe is None:
            return ()
        plan = restart_plan(self._app.catalog, pipes=[record.key], max_depth=1)
        return tuple(CascadeTarget(s.pipe, s.reason, s.entity) for s in plan.steps if s.cause is RestartCause.CASCADE)

    # ------------------------------------------------------------------ dimension watching

    def _watch_dimensions(self, records: Sequence[_Record]) -> None:
        """Start the dimension watcher (once) when a selected streaming pipe declares
        dimensions; building it checks the dimensions' options (raises before anything starts)."""
        if self._watcher_factory is None or not any(r.pipe is not None and r.pipe.dimensions for r in records):
            return
        with self._watcher_lock:
            if self._watcher is not None or self._closed:
                return
            watcher = self._watcher_factory(self._app, on_change=self._on_dimension_change)
            watcher.start()
            self._watcher = watcher

    @property
    def dimension_watcher(self) -> Any:
        """The running :class:`~kindling_core.dimensions.DimensionWatcher` (``polls``,
        ``dimensions``), or ``None`` before a streaming pipe with dimensions started and after
        ``stop()`` of every query or ``close()``."""
        with self._watcher_lock:
            return self._watcher

    def _stop_watcher(self) -> None:
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def _on_dimension_change(self, report: ChangeReport) -> None:
        """The watcher's ``on_change``: the dimension's restart policy decides; a restart is
        requested for each running streaming pipe declaring the dimension (``source="dimension"``,
        the report's ``to_version``), or each is told ``restarts.restart_skipped`` with the reason."""
        from kindling_core.dimensions.policy import restart_need

        entity = self._app.catalog.entities.get(report.entity)
        if entity is None or self._closed:
            return
        with self._lock:
            users = [
                r.key
                for r in self._records.values()
                if r.pipe is not None and report.entity in r.pipe.dimensions and r.cell.state in (S.STARTING, S.RUNNING)
            ]
        if not users:
            return
        need = restart_need(report, entity)
        controller = self.restarts
        reason = f"dimension {report.entity!r} changed ({report.reason})"
        for key in users:
            request = RestartRequest(key, reason, version=report.to_version, entity=report.entity, source="dimension")
            if need.needed:
                controller.request(request, detached=True)
            else:
                controller.skip(request, f"no restart needed: {need.reason}", detached=True)

    # ------------------------------------------------------------------ watchdog host

    def watch_targets(self) -> list[WatchTarget]:
        """The running queries with what the manager knows of them (for the watchdog)."""
        with self._lock:
            return [
                WatchTarget(
                    key=r.key,
                    query=r.query,
                    query_id=r.query_id,
                    run_id=r.run_id,
                    started_at=r.started_at or 0.0,
                    last_activity=r.last_activity,
                    batch_id=r.progress.batch_id if r.progress is not None else None,
                )
                for r in self._records.values()
                if r.cell.state is S.RUNNING and r.query is not None and r.query_id and r.run_id
            ]

    def stalled(self, target: WatchTarget, kind: str, seconds: float, threshold: float, message: str) -> None:
        """The watchdog saw ``target`` stall (once per run and kind until progress resets it)."""
        with self._lock:
            record = self._records.get(target.key)
            if record is None or record.run_id != target.run_id or kind in record.stalls:
                return
            record.stalls.add(kind)
        spec = sig.START_STALLED if kind == START else sig.QUERY_STALLED
        self._emit(spec, sig.StreamStalled(record.name, record.pipe_id, target.query_id, target.run_id, seconds, threshold, message))

    def watchdog_failed(self, target: WatchTarget, error: Exception) -> None:
        self._app.errors.report(error, source="streaming-watchdog", subject=target.key)

    # ------------------------------------------------------------------ signals and states

    def _emit(self, spec: SignalSpec, payload: Any) -> None:
        """Emit; a receiver's failure the bus propagates (``propagate-receiver-errors``, already
        reported by the bus) reaches the caller of ``start``/``stop``/``restart``, never the
        event consumer or a recovery's thread, which have nobody to raise to and must finish
        their moves."""
        try:
            self._app.signals.emit(spec, payload)
        except ReceiverError:
            if not getattr(self._thread_roles, "detached", False):
                raise

    def _move(self, record: _Record, expected: Iterable[QueryState] | QueryState, new: QueryState, reason: str) -> bool:
        previous = record.cell.move(expected, new)
        if previous is None:
            return False
        self._state_changed(record, previous, new, reason)
        return True

    def _state_changed(self, record: _Record, previous: QueryState, new: QueryState, reason: str) -> None:
        with self._changed:
            self._changed.notify_all()
        self._emit(sig.STATE_CHANGED, sig.StreamStateChanged(record.name, record.pipe_id, previous, new, reason))

    # ------------------------------------------------------------------ lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise ManagerClosedError(
                "app.streams was closed (app.close()); it starts nothing any more",
                remedy="use a new App, or start queries before closing the app",
            )

    def close(self, timeout: float | None = None) -> None:
        """Stop every query (see :meth:`stop`), the watchdog and the consumer, and detach the
        listener. Idempotent; a closed manager starts nothing."""
        if self._closed:
            return
        self._closed = True
        if self._restarts is not None:
            self._restarts.close()
        self._stop_watcher()
        if self._machinery.is_set():
            self.stop(timeout=timeout)
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._detach is not None:
            try:
                self._detach()
            except Exception as exc:  # noqa: BLE001 - reported; closing goes on
                self._app.errors.report(exc, source="streaming", subject="listener")
        self._queue.close()
        if self._consumer is not None:
            self._consumer.join(5.0)

    def __enter__(self) -> StreamManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        with self._lock:
            states = ", ".join(f"{k}={r.cell.state}" for k, r in self._records.items())
        return f"<StreamManager {states}>"


class _RestartHost:
    """The manager as the restart controller's :class:`~kindling_core.streaming.restarts.RestartHost`."""

    def __init__(self, manager: StreamManager) -> None:
        self._manager = manager

    def restart_check(self, pipe: str) -> RestartCheck:
        return self._manager._restart_check(pipe)

    def restart_query(self, pipe: str, reason: str) -> RestartAttempt:
        self._manager._thread_roles.detached = True
        return self._manager._restart_query(pipe, reason)

    def confirm_healthy(self, pipe: str, run_id: str) -> Health:
        return self._manager._confirm_restart(pipe, run_id)

    def cascade_targets(self, pipe: str) -> tuple[CascadeTarget, ...]:
        return self._manager._cascade_targets(pipe)

    def emit(self, spec: SignalSpec, payload: Any) -> None:
        self._manager._app.signals.emit(spec, payload)

    def report(self, error: BaseException, subject: str) -> None:
        self._manager._app.errors.report(error, source="streaming-restarts", subject=subject)
