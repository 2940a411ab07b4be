"""What the listener bridge and the watchdog report about streaming queries: frozen copies.

Spark's listener events (``pyspark.sql.streaming.listener``) are views over JVM or protobuf
objects that must not escape the callback that received them. The bridge copies the fields
kindling uses into these frozen, pyspark-free values and enqueues them; everything downstream
(the manager's per-query state, status snapshots, signals) works on these copies only.

Invariants:

* every value here is immutable and hashable, safe to hand across threads;
* ids are strings (Spark's UUIDs as text); timestamps are epoch seconds (``float``) taken
  from Spark's ISO-8601 strings where Spark gives one, else from ``time.time()`` on receipt;
* offsets are kept as Spark's JSON text (``None`` when Spark gave none): their shape depends
  on the source (Delta, Kafka, files) and kindling only displays and compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from kindling_core._convert import frozen_mapping

__all__ = [
    "SourceProgress",
    "StateOperatorProgress",
    "ProgressSnapshot",
    "QueryStarted",
    "QueryProgressed",
    "QueryIdle",
    "QueryTerminated",
    "StreamEvent",
    "parse_spark_timestamp",
]


def parse_spark_timestamp(text: str | None, default: float) -> float:
    """Epoch seconds of Spark's ``2026-12-01T04:08:35.123Z`` (``default`` when absent or bad)."""
    if not text:
        return default
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


@attrs.frozen
class SourceProgress:
    """One source of a micro-batch: its offsets and rates.

    ``latest_offset`` is the newest offset the source had available when the batch was planned;
    comparing it with ``end_offset`` shows whether the query is behind (its *lag*).
    """

    description: str
    start_offset: str | None = None
    end_offset: str | None = None
    latest_offset: str | None = None
    num_input_rows: int = 0
    input_rows_per_second: float = 0.0
    processed_rows_per_second: float = 0.0

    @property
    def caught_up(self) -> bool:
        """True when the batch read up to the latest available offset (or Spark did not say)."""
        return self.latest_offset is None or self.latest_offset == self.end_offset


@attrs.frozen
class StateOperatorProgress:
    """One stateful operator of a micro-batch: rows kept in state and memory they use."""

    operator: str
    rows_total: int = 0
    rows_updated: int = 0
    memory_used_bytes: int = 0


@attrs.frozen
class ProgressSnapshot:
    """One finished micro-batch of a query (``StreamingQueryProgress``), copied.

    ``duration_ms`` holds Spark's batch duration parts (``addBatch``, ``getBatch``,
    ``latestOffset``, ``queryPlanning``, ``triggerExecution``, ``walCommit``...);
    ``watermark`` is the event-time watermark as Spark prints it (``None`` without one);
    ``sink_rows`` is the sink's ``numOutputRows`` (``None`` or -1 when the sink does not say,
    as with ``foreachBatch``).
    """

    query_id: str
    run_id: str
    name: str | None
    timestamp: float
    batch_id: int
    num_input_rows: int = 0
    input_rows_per_second: float = 0.0
    processed_rows_per_second: float = 0.0
    batch_duration_ms: int = 0
    # A read-only mapping is not hashable: compared, but left out of the hash.
    duration_ms: Mapping[str, int] = attrs.field(factory=dict, converter=frozen_mapping, hash=False)
    watermark: str | None = None
    state_operators: tuple[StateOperatorProgress, ...] = ()
    sources: tuple[SourceProgress, ...] = ()
    sink_description: str = ""
    sink_rows: int | None = None

    @property
    def caught_up(self) -> bool:
        """True when every source read up to its latest available offset."""
        return all(source.caught_up for source in self.sources)

    @property
    def state_rows(self) -> int:
        return sum(op.rows_total for op in self.state_operators)

    @property
    def state_memory_bytes(self) -> int:
        return sum(op.memory_used_bytes for op in self.state_operators)


@attrs.frozen
class QueryStarted:
    """A query started (Spark calls ``onQueryStarted`` synchronously inside ``start()``)."""

    query_id: str
    run_id: str
    name: str | None
    timestamp: float


@attrs.frozen
class QueryProgressed:
    """A micro-batch finished (``onQueryProgress``)."""

    progress: ProgressSnapshot

    @property
    def query_id(self) -> str:
        return self.progress.query_id

    @property
    def run_id(self) -> str:
        return self.progress.run_id


@attrs.frozen
class QueryIdle:
    """The query's trigger fired and found no new data (``onQueryIdle``, Spark >= 3.5)."""

    query_id: str
    run_id: str
    timestamp: float


@attrs.frozen
class QueryTerminated:
    """A query stopped (``onQueryTerminated``): cleanly (``exception is None``) or failed.

    ``exception`` is Spark's text of the failure (message, error class token, ``Caused by:``
    lines and Python worker tracebacks); ``error_class`` Spark's error class when it gave one.
    ``source`` says who noticed: ``"listener"`` or ``"watchdog"`` (Spark's listener bus dropped
    the event, or the query died without one).
    """

    query_id: str
    run_id: str
    exception: str | None = None
    error_class: str | None = None
    source: str = "listener"
    timestamp: float = 0.0


#: Everything the bridge and the watchdog put on the manager's event queue.
StreamEvent = QueryStarted | QueryProgressed | QueryIdle | QueryTerminated


