"""A fake :class:`~kindling_core.streaming.driver.StreamDriver` for testing stream logic without Spark.

``FakeStreamDriver`` behaves like a Spark session's streaming side as the manager sees it:
starting a pipe creates a :class:`FakeQuery` whose query id is stable per checkpoint (a new run
id at every start) and reports ``QueryStarted`` to the attached listener *inside* the start, as
Spark does; stopping reports ``QueryTerminated``. Tests drive the rest::

    driver = FakeStreamDriver()
    streams = StreamManager(app, driver=driver)
    streams.start()
    driver.progress("kindling_silver_orders", rows=10)   # a finished micro-batch
    driver.fail("kindling_silver_orders", "boom")        # the query dies with an exception (Spark's text)
    driver.kill("kindling_silver_orders")                # dies and the listener never hears of it

``start_gate`` / ``stop_gate`` (``threading.Event``) hold starts / stops until set, to test
races and timeouts; ``start_errors`` maps a query name to the exception its start raises;
``overlapping_starts`` counts starts of a name whose previous run was still active.
``plan`` maps a pipe id to the :class:`~kindling_core.streaming.fingerprint.PlanFingerprint` its
``fingerprint`` returns (default: one built from the pipe's inputs and write mode);
``resume`` maps a pipe id to the :class:`~kindling_core.streaming.driver.ResumeFacts` a clean
start reads; ``pipe_starts`` keeps every :class:`PipeStart` given to ``start_pipe``.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from kindling_core.streaming.driver import PipeStart, QueryIdentity, ResumeFacts, RuntimeStatus
from kindling_core.streaming.errors import ForeignQueryError, SessionStoppedError
from kindling_core.streaming.events import ProgressSnapshot, QueryIdle, QueryProgressed, QueryStarted, QueryTerminated, StreamEvent
from kindling_core.streaming.fingerprint import PlanFingerprint, PlanSource

__all__ = ["FakeQuery", "FakeStreamDriver"]


class FakeQuery:
    """One run of a fake streaming query."""

    def __init__(self, driver: FakeStreamDriver, query_id: str, name: str) -> None:
        self.driver = driver
        self.id = query_id
        self.runId = str(uuid.uuid4())
        self.name = name
        self.isActive = True
        self.failure: str | None = None
        self.error_class: str | None = None
        self.trigger_active = False
        self.progress: ProgressSnapshot | None = None
        self.batches = itertools.count()


class FakeStreamDriver:
    """See the module docstring. ``starts`` counts starts per query name; ``stopped_session``
    makes every start fail as on a stopped Spark session."""

    def __init__(self) -> None:
        self.put: Callable[[StreamEvent], None] | None = None
        self.queries: dict[str, FakeQuery] = {}
        self.starts: Counter[str] = Counter()
        self.start_gate: threading.Event | None = None
        self.stop_gate: threading.Event | None = None
        self.start_errors: dict[str, BaseException] = {}
        self.stopped_session = False
        self.detached = 0
        #: Starts of a query name while a run under that name was still active (should stay 0).
        self.overlapping_starts = 0
        self.plan: dict[str, PlanFingerprint] = {}
        self.resume: dict[str, ResumeFacts] = {}
        self.pipe_starts: list[PipeStart] = []
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ StreamDriver

    def check_session(self) -> None:
        if self.stopped_session:
            raise SessionStoppedError("the fake session is stopped", remedy="use a live session")

    def attach_listener(self, put: Callable[[StreamEvent], None]) -> Callable[[], None]:
        self.put = put

        def detach() -> None:
            self.put = None
            self.detached += 1

        return detach

    def start_pipe(self, start: PipeStart) -> FakeQuery:
        self.pipe_starts.append(start)
        return self._start(start.query_name, start.checkpoint)

    def fingerprint(self, start: PipeStart) -> PlanFingerprint:
        pipe = start.pipe
        if pipe.id in self.plan:
            return self.plan[pipe.id]
        streamed = [e for e in pipe.inputs if e not in pipe.dimensions]
        sources = [PlanSource(e, start.entities[e].format, str(start.entities[e].location)) for e in streamed if e in start.entities]
        return PlanFingerprint(schema="struct<fake>", sources=sources, write="merge" if str(pipe.write) == "merge" else "append")

    def resume_facts(self, start: PipeStart, query_id: str) -> ResumeFacts:
        return self.resume.get(start.pipe.id, ResumeFacts())

    def start_builder(self, name: str, builder: Callable[[], Any]) -> Any:
        built = builder()
        if isinstance(built, FakeQuery):
            return built
        return self._start(name, f"builder:{name}")

    def _start(self, name: str, checkpoint: str) -> FakeQuery:
        self.check_session()
        if self.start_gate is not None:
            self.start_gate.wait(30)
        with self._lock:
            self.starts[name] += 1
            error = self.start_errors.get(name)
            running = self.queries.get(name)
            if running is not None and running.isActive:
                self.overlapping_starts += 1
        if error is not None:
            raise error
        query_id = self._ids.setdefault(checkpoint, str(uuid.uuid4()))
        query = FakeQuery(self, query_id, name)
        self.queries[name] = query
        self._report(QueryStarted(query.id, query.runId, name, time.time()))
        return query

    def check_adoptable(self, query: Any) -> None:
        if getattr(query, "driver", None) is not self:
            raise ForeignQueryError("the query belongs to another fake session", remedy="adopt queries of this session")

    def identity(self, query: Any) -> QueryIdentity:
        return QueryIdentity(query.id, query.runId, query.name)

    def stop(self, query: Any) -> None:
        if self.stop_gate is not None:
            query.isActive = False
            self.stop_gate.wait(30)
        self._end(query, None, report=True)

    def is_active(self, query: Any) -> bool:
        return bool(query.isActive)

    def exception(self, query: Any) -> tuple[str, str | None] | None:
        return (query.failure, query.error_class) if query.failure else None

    def status(self, query: Any) -> RuntimeStatus:
        return RuntimeStatus("Processing new data" if query.trigger_active else "Waiting for data to arrive", False, query.trigger_active)

    def last_progress(self, query: Any) -> ProgressSnapshot | None:
        return query.progress

    def process_all_available(self, query: Any) -> None:
        if query.failure:
            raise RuntimeError(query.failure)

    def active(self) -> list[QueryIdentity]:
        return [self.identity(q) for q in self.queries.values() if q.isActive]

    def active_names(self) -> set[str]:
        return {q.name for q in self.queries.values() if q.isActive}

    # ------------------------------------------------------------------ test controls

    def adoptable(self, name: str) -> FakeQuery:
        """A query started outside the manager on this fake session."""
        return self._start(name, f"outside:{name}")

    def progress(self, name: str, *, rows: int = 1, report: bool = True) -> ProgressSnapshot:
        """The query finishes a micro-batch (reported to the listener unless ``report=False``)."""
        query = self.queries[name]
        snapshot = ProgressSnapshot(
            query_id=query.id,
            run_id=query.runId,
            name=name,
            timestamp=time.time(),
            batch_id=next(query.batches),
            num_input_rows=rows,
            input_rows_per_second=float(rows),
            processed_rows_per_second=float(rows),
            batch_duration_ms=5,
            duration_ms={"triggerExecution": 5},
        )
        query.progress = snapshot
        if report:
            self._report(QueryProgressed(snapshot))
        return snapshot

    def idle(self, name: str) -> None:
        query = self.queries[name]
        self._report(QueryIdle(query.id, query.runId, time.time()))

    def fail(self, name: str, message: str, *, report: bool = True, error_class: str | None = None) -> None:
        """The query dies with ``message``, Spark's text of the failure, and ``error_class``
        (the listener hears of it unless ``report=False``)."""
        self._end(self.queries[name], message, report=report, error_class=error_class)

    def kill(self, name: str) -> None:
        """The query ends cleanly and the listener never hears of it (a dropped event)."""
        self._end(self.queries[name], None, report=False)

    def _end(self, query: FakeQuery, failure: str | None, *, report: bool, error_class: str | None = None) -> None:
        was_active = query.isActive or self.stop_gate is not None
        query.isActive = False
        query.failure, query.error_class = failure, error_class
        if report and was_active:
            event = QueryTerminated(query.id, query.runId, exception=failure, error_class=error_class, timestamp=time.time())
            self._report(event)

    def _report(self, event: StreamEvent) -> None:
        put = self.put
        if put is not None:
            put(event)
