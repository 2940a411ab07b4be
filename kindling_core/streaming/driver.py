"""The seam between the stream manager and Spark: :class:`StreamDriver`.

The manager (:mod:`kindling_core.streaming.manager`) never touches pyspark. Everything it asks
of Spark goes through a driver: :class:`kindling_core.spark.streams.SparkStreamDriver` on a
real session (classic or Spark Connect), :class:`kindling_core.testing.streams.FakeStreamDriver`
in tests of the manager's logic. ``query`` below is whatever the driver's ``start_*`` returned
(a ``StreamingQuery`` for Spark); the manager only hands it back.

Contract every driver keeps:

* ``start_pipe`` / ``start_builder`` return only once Spark's ``start()`` returned (Spark calls
  the listener's ``onQueryStarted`` inside it); they raise whatever the pipe function, the
  reader or Spark raised;
* ``stop`` blocks until the query stopped; it raises :class:`~kindling_core.streaming.errors.StopTimedOutError`
  when Spark's own ``spark.sql.streaming.stopTimeout`` fired. The manager runs it on a helper
  thread and stops waiting after its own timeout (:func:`call_with_timeout`);
* ``status``, ``last_progress``, ``is_active``, ``exception`` and ``active`` read state without
  running a Spark job; the watchdog calls them every few seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core.model import Entity, Pipe
from kindling_core.streaming.events import ProgressSnapshot, StreamEvent
from kindling_core.streaming.fingerprint import PlanFingerprint
from kindling_core.streaming.triggers import Trigger

__all__ = ["QueryIdentity", "RuntimeStatus", "PipeStart", "ResumeFacts", "StreamDriver", "CallOutcome", "call_with_timeout"]


@attrs.frozen
class QueryIdentity:
    """Who a query is: Spark's query id (stable per checkpoint), run id (new per start), name."""

    query_id: str
    run_id: str
    name: str | None


@attrs.frozen
class RuntimeStatus:
    """A query's ``status``: Spark's message and whether data is waiting / a trigger is running."""

    message: str = ""
    data_available: bool = False
    trigger_active: bool = False


@attrs.frozen
class PipeStart:
    """Everything a driver needs to start one streaming pipe.

    ``entities`` holds the pipe's inputs and output; ``upstream`` the starts of the managed
    streaming pipes producing its streamed inputs (a driver uses them to create an input table
    that does not exist yet, so consumers can start before their producers); ``app_id`` and
    ``pipe.id`` identify the query's writes to the exactly-once sink. ``starting_versions``
    (entity id → Delta version) is set for a clean start only: those streamed inputs are read
    from that version on (``startingVersion``), whatever ``read_options`` say.
    """

    pipe: Pipe
    entities: Mapping[str, Entity] = attrs.field(converter=frozen_mapping)
    query_name: str
    checkpoint: str
    trigger: Trigger | None
    app_id: str
    upstream: Mapping[str, PipeStart] = attrs.field(factory=dict, converter=frozen_mapping)
    starting_versions: Mapping[str, int] = attrs.field(factory=dict, converter=frozen_mapping)


@attrs.frozen
class ResumeFacts:
    """What a clean start needs to know from Spark about the old query of a pipe:
    ``sink_batch``, the highest batch id of that query its output holds (``None``: none), and
    whether the output could tell (``sink_known``); ``source_ids``, the Delta table id of each
    input the pipe streams (table id → entity id)."""

    sink_batch: int | None = None
    sink_known: bool = True
    source_ids: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_mapping)


class StreamDriver(Protocol):
    """What the stream manager asks of Spark (see the module docstring for the contract)."""

    def check_session(self) -> None:
        """Raise :class:`~kindling_core.streaming.errors.SessionStoppedError` when the session is stopped."""

    def attach_listener(self, put: Callable[[StreamEvent], None]) -> Callable[[], None]:
        """Register one listener that calls ``put`` with copied events; return its detach."""

    def start_pipe(self, start: PipeStart) -> Any:
        """Build and start the pipe's query; return it."""

    def fingerprint(self, start: PipeStart) -> PlanFingerprint:
        """The plan fingerprint of the pipe's query, built as :meth:`start_pipe` builds it,
        without starting it (no Spark job)."""

    def resume_facts(self, start: PipeStart, query_id: str) -> ResumeFacts:
        """What the pipe's output and streamed inputs say about the old query ``query_id``
        (for a clean start; it may run small Spark jobs)."""

    def start_builder(self, name: str, builder: Callable[[], Any]) -> Any:
        """Call ``builder``; start what it returned (a ``DataStreamWriter``, under ``name``) or
        take the query it started; return the query."""

    def check_adoptable(self, query: Any) -> None:
        """Raise :class:`~kindling_core.streaming.errors.ForeignQueryError` for a query of another session."""

    def identity(self, query: Any) -> QueryIdentity: ...

    def stop(self, query: Any) -> None: ...

    def is_active(self, query: Any) -> bool: ...

    def exception(self, query: Any) -> tuple[str, str | None] | None:
        """``(text, error class)`` of the exception that ended the query, or ``None``."""

    def status(self, query: Any) -> RuntimeStatus: ...

    def last_progress(self, query: Any) -> ProgressSnapshot | None: ...

    def process_all_available(self, query: Any) -> None: ...

    def active(self) -> list[QueryIdentity]:
        """The session's active queries (``spark.streams.active``)."""

    def active_names(self) -> set[str]:
        """Names of the session's active queries."""


@attrs.frozen
class CallOutcome:
    """What :func:`call_with_timeout` saw: ``finished`` in time, and the ``error`` it raised."""

    finished: bool
    error: BaseException | None = None


def call_with_timeout(function: Callable[[], object], timeout: float | None, *, name: str) -> CallOutcome:
    """Run ``function`` on a daemon helper thread and wait at most ``timeout`` seconds
    (``None``: as long as it takes). When the time runs out the call keeps running on its
    thread (a Spark call cannot be interrupted from Python) and ``finished`` is false."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return CallOutcome(False)
    return CallOutcome(True, errors[0] if errors else None)
