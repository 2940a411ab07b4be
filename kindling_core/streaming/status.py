""":class:`QueryStatus`: a frozen snapshot of one managed streaming query.

``app.streams.status()`` returns one per query. A snapshot is built from what the listener
bridge and the watchdog reported (the last :class:`~kindling_core.streaming.events.ProgressSnapshot`,
idle and termination events) plus the query's own ``status`` (``message``,
``isDataAvailable``, ``isTriggerActive``), read without running a Spark job. Values are as of
``taken_at``; nothing in a snapshot changes afterwards.

The recovery fields (``failures`` ... ``next_attempt_at``) describe the last failure, how it was
classified and what the recovery decided (see :mod:`kindling_core.streaming.recovery`); they
keep describing it after a recovery, until the next failure.

Rates and batch figures describe the *last finished micro-batch*; they are ``0`` / ``None``
before the first one. ``sources`` carries each source's start, end and latest available offsets
(Spark's JSON text): a source whose ``end_offset`` differs from its ``latest_offset`` is behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core.streaming.events import ProgressSnapshot, SourceProgress, StateOperatorProgress
from kindling_core.streaming.state import QueryState

__all__ = ["QueryStatus", "progress_fields"]


@attrs.frozen
class QueryStatus:
    """One managed query as of ``taken_at`` (epoch seconds)."""

    name: str
    """The Spark query name (``kindling_<pipe id>`` for pipes, the registered or adopted name)."""
    pipe: str | None
    """The pipe id for a streaming pipe; ``None`` for registered and adopted queries."""
    state: QueryState
    """Where the query is in its life cycle (see :mod:`kindling_core.streaming.state`)."""
    taken_at: float
    """When this snapshot was taken."""
    query_id: str | None = None
    """Spark's query id (stable across restarts from one checkpoint); ``None`` before a start."""
    run_id: str | None = None
    """Spark's run id (new at every start)."""
    trigger: str = ""
    """The trigger as text (``10 seconds``, ``availableNow``; ``""``: Spark's default)."""
    checkpoint: str | None = None
    """The checkpoint location (``None`` when kindling did not choose it)."""
    started_at: float | None = None
    """When the current (or last) run started."""
    batch_id: int | None = None
    """The last finished micro-batch's id."""
    input_rows_per_second: float = 0.0
    processed_rows_per_second: float = 0.0
    rows_last_batch: int = 0
    """Rows read by the last finished micro-batch (all sources)."""
    batch_duration_ms: int = 0
    """The last micro-batch's wall time."""
    duration_ms: Mapping[str, int] = attrs.field(factory=dict, converter=frozen_mapping)
    """Spark's duration parts of the last batch (``addBatch``, ``getBatch``, ``latestOffset``,
    ``queryPlanning``, ``triggerExecution``, ``walCommit``...)."""
    state_rows: int = 0
    """Rows held by stateful operators (aggregations, joins, deduplication)."""
    state_memory_bytes: int = 0
    """Memory those rows use."""
    state_operators: tuple[StateOperatorProgress, ...] = ()
    watermark: str | None = None
    """The event-time watermark (``None`` without one)."""
    sources: tuple[SourceProgress, ...] = ()
    """Each source's offsets (start, end, latest available) and rates in the last batch."""
    sink_rows: int | None = None
    """Rows the sink reported writing (``None`` when it does not say, as with ``foreachBatch``)."""
    last_progress_at: float | None = None
    """When the last micro-batch finished."""
    idle_since: float | None = None
    """Since when the query has found no new data (``None`` when it last had some)."""
    message: str = ""
    """Spark's status message (``Waiting for data to arrive``, ``Processing new data``...)."""
    trigger_active: bool = False
    """A micro-batch is being planned or run right now."""
    data_available: bool = False
    restarts: int = 0
    """How many times the manager started this query again after its first start."""
    last_error: str | None = None
    """The last failure (start, termination with an exception, a stop that timed out)."""
    stop_timed_out: bool = False
    """The last stop gave up waiting: ``isActive`` is false, but Spark's execution thread may
    still be running (it finishes its current batch, or is stuck in it)."""
    failures: int = 0
    """How many times the query failed (ended with an exception, or a start raised)."""
    recoveries: int = 0
    """How many recoveries succeeded (a restarted run proved healthy)."""
    recovery_attempts: int = 0
    """Recovery restarts made within ``tool.kindling.recovery.window-seconds``, in the budget pool
    of the last failure's kind (``unknown`` failures have a pool of their own)."""
    recovery_limit: int = 0
    """The budget of that pool (``max-attempts``, or ``unknown-max-attempts`` for ``unknown``)."""
    classification: str | None = None
    """The last failure's kind (``transient``, ``permanent``, ``checkpoint``, ``conflict``,
    ``unknown``); ``None`` before any failure."""
    classifier: str | None = None
    """The failure classifier that decided it."""
    classification_reason: str | None = None
    """Why the classifier decided so."""
    recovery_action: str | None = None
    """What the recovery decided about the last failure (``restart``, ``clean-start``,
    ``alert-only``, ``give-up``)."""
    recovery_strategy: str | None = None
    """The recovery strategy that decided (empty: the core's own rule)."""
    recovery_reason: str | None = None
    """Why (the strategy's reason, or the core's: permanent, budget spent, adopted query...)."""
    next_attempt_at: float | None = None
    """When the pending recovery restarts the query (epoch seconds; ``None`` unless ``recovering``)."""

    @property
    def active(self) -> bool:
        """The query is starting or running."""
        return self.state in (QueryState.STARTING, QueryState.RUNNING)

    @property
    def caught_up(self) -> bool:
        """Every source read up to its latest available offset in the last batch."""
        return all(source.caught_up for source in self.sources)


def progress_fields(progress: ProgressSnapshot | None) -> dict[str, Any]:
    """The :class:`QueryStatus` fields taken from one finished micro-batch (none for ``None``)."""
    if progress is None:
        return {}
    return {
        "batch_id": progress.batch_id,
        "input_rows_per_second": progress.input_rows_per_second,
        "processed_rows_per_second": progress.processed_rows_per_second,
        "rows_last_batch": progress.num_input_rows,
        "batch_duration_ms": progress.batch_duration_ms,
        "duration_ms": progress.duration_ms,
        "state_rows": progress.state_rows,
        "state_memory_bytes": progress.state_memory_bytes,
        "state_operators": progress.state_operators,
        "watermark": progress.watermark,
        "sources": progress.sources,
        "sink_rows": progress.sink_rows,
        "last_progress_at": progress.timestamp,
    }
