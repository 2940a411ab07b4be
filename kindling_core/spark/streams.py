"""The Spark side of ``app.streams``: :class:`SparkStreamDriver`.

It implements :class:`kindling_core.streaming.driver.StreamDriver` on one SparkSession, classic
or Spark Connect. Starting a streaming pipe:

* every input that is not a dimension is read as a stream (``spark.readStream``) with the pipe's
  ``read_options`` (and, for file formats, the entity's declared schema and options);
  dimensions are read as static tables (a stream-static join reads a Delta dimension's current
  version at every micro-batch);
* a streamed Delta input that does not exist yet, produced by another managed streaming pipe,
  is created first from that pipe's output schema (its function is evaluated, which runs no
  Spark job), so consumers can start before their producers ever wrote;
* the pipe's function is called with one DataFrame per input; the output table is created if
  missing; micro-batches are written exactly once through
  :func:`kindling_core.spark.sink.batch_writer` (``merge`` for merge pipes, else ``append``);
* the query runs under the pipe's query name, checkpoint and trigger;
* a clean start (``PipeStart.starting_versions``) reads those Delta inputs from the given
  version (``startingVersion``). A version one past the table's latest (the old query had read
  everything) must be allowed: Delta refuses a ``startingVersion`` beyond the latest (measured:
  ``DELTA_VERSION_NOT_FOUND``) unless ``spark.databricks.delta.changeDataFeed.timestampOutOfRange.enabled``
  is set on the session that read the stream. Delta reads it when the source first plans a
  batch, on the query's thread after ``start()`` returned, so the setting is set for that one
  start until the query planned its first trigger (or ended, or :data:`SOURCE_INIT_SECONDS`
  passed), then restored. Meanwhile it also lets other reads on the session start out of range.

:meth:`SparkStreamDriver.fingerprint` builds the same DataFrame without starting it and reads
its stateful operators from the physical plan Spark's ``explain`` shows for a streaming
DataFrame (``StateStoreSave``, ``StreamingDeduplicate``, ``StreamingSymmetricHashJoin``...);
``start_pipe`` of that same ``PipeStart`` (the manager fingerprints right before it starts)
reuses the DataFrame instead of calling the pipe function again.

Everything else reads driver-side state (``status``, ``lastProgress``, ``isActive``,
``exception()``, ``spark.streams.active``) and runs no Spark job. pyspark is imported lazily.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kindling_core.model import Entity
from kindling_core.spark.delta import EntityIO, EntityMissingError, NotADataFrameError, is_dataframe
from kindling_core.spark.session import is_connect_session
from kindling_core.streaming.driver import PipeStart, QueryIdentity, ResumeFacts, RuntimeStatus
from kindling_core.streaming.errors import ForeignQueryError, SessionStoppedError, StopTimedOutError, StreamingError
from kindling_core.streaming.events import ProgressSnapshot, StreamEvent
from kindling_core.streaming.fingerprint import PlanFingerprint, PlanSource

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkStreamDriver", "session_stopped"]


def session_stopped(spark: Any) -> bool:
    """True when ``spark`` (classic or Spark Connect) has been stopped."""
    if is_connect_session(spark):
        return bool(getattr(spark, "is_stopped", False))
    context = getattr(spark, "_sc", None)
    return context is None or getattr(context, "_jsc", None) is None


#: Physical operators of a streaming plan that keep state in the checkpoint → the name kindling
#: reports (the saving operator of a pair: StateStoreRestore/StateStoreSave are one aggregate).
STATEFUL_OPERATORS = {
    "StateStoreSave": "aggregate",
    "SessionWindowStateStoreSave": "session window aggregate",
    "StreamingDeduplicate": "deduplicate",
    "StreamingDeduplicateWithinWatermark": "deduplicateWithinWatermark",
    "StreamingSymmetricHashJoin": "stream-stream join",
    "FlatMapGroupsWithState": "flatMapGroupsWithState",
    "FlatMapGroupsInPandasWithState": "applyInPandasWithState",
    "TransformWithState": "transformWithState",
    "TransformWithStateInPandas": "transformWithStateInPandas",
    "StreamingGlobalLimit": "limit",
}
_OPERATOR = re.compile(r"^[\s:|+-]*(?:\*\(\d+\)\s*)?([A-Za-z]+)")
#: Delta's setting that lets a streaming source start beyond the table's latest version.
OUT_OF_RANGE_SETTING = "spark.databricks.delta.changeDataFeed.timestampOutOfRange.enabled"
#: How long a clean start keeps :data:`OUT_OF_RANGE_SETTING` waiting for its sources to start.
SOURCE_INIT_SECONDS = 60.0
#: Status messages of a query whose first trigger asked its sources for offsets.
_PAST_FIRST_TRIGGER = frozenset({"Waiting for data to arrive", "Processing new data", "Waiting for next trigger"})


def stateful_operators(plan_text: str) -> tuple[str, ...]:
    """The stateful operators in an ``explain`` text of a streaming DataFrame, top down."""
    found = []
    for line in plan_text.splitlines():
        match = _OPERATOR.match(line)
        if match is not None and match.group(1) in STATEFUL_OPERATORS:
            found.append(STATEFUL_OPERATORS[match.group(1)])
    return tuple(found)


def _explain(frame: Any) -> str:
    if hasattr(frame, "_explain_string"):  # Spark Connect
        return str(frame._explain_string(mode="simple"))
    return str(frame._sc._jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), "simple"))


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SparkStreamDriver:
    """Starts, stops and reads streaming queries on ``spark`` (see the module docstring).
    ``root`` is the project root relative entity paths resolve against."""

    def __init__(self, spark: SparkSession, *, root: Path) -> None:
        self.spark = spark
        self.io = EntityIO(spark, root=root)
        #: pipe id -> (the start fingerprinted, its DataFrame): start_pipe of that very start reuses it
        self._built: dict[str, tuple[PipeStart, Any]] = {}

    # ------------------------------------------------------------------ session and listener

    def check_session(self) -> None:
        if session_stopped(self.spark):
            raise SessionStoppedError(
                "the Spark session app.streams runs on has been stopped (spark.stop()); no streaming query can start on it",
                culprit="the app's Spark session",
                remedy="give the app a live session (app.use_spark(SparkSession.builder.getOrCreate())) or create a new App",
            )

    def attach_listener(self, put: Callable[[StreamEvent], None]) -> Callable[[], None]:
        from kindling_core.spark.listener import attach_listener

        return attach_listener(self.spark, put)

    # ------------------------------------------------------------------ starting

    def start_pipe(self, start: PipeStart) -> Any:
        from kindling_core.spark.sink import CheckpointAppId, batch_writer

        pipe = start.pipe
        built = self._built.pop(pipe.id, None)
        result = built[1] if built is not None and built[0] is start else self._frame(start, ())
        output = start.entities[pipe.output]
        if not self.io.exists(output):
            self.io.create(output, result.schema)
        write_batch = batch_writer(
            self.io,
            output,
            "merge" if str(pipe.write) == "merge" else "append",
            pipe=pipe.id,
            app_id=CheckpointAppId(pipe.id, start.checkpoint),
        )
        writer = result.writeStream.foreachBatch(write_batch).option("checkpointLocation", start.checkpoint).queryName(start.query_name)
        if start.trigger is not None:
            writer = writer.trigger(**start.trigger.writer_arguments())  # type: ignore[call-overload]
        if not start.starting_versions:
            return writer.start()
        with self._beyond_latest():
            query = writer.start()
            self._await_sources(query)
        return query

    @contextlib.contextmanager
    def _beyond_latest(self) -> Iterator[None]:
        """Allow a ``startingVersion`` one past a table's latest version (see the module docstring)."""
        previous = self.spark.conf.get(OUT_OF_RANGE_SETTING, None)
        self.spark.conf.set(OUT_OF_RANGE_SETTING, "true")
        try:
            yield
        finally:
            if previous is None:
                self.spark.conf.unset(OUT_OF_RANGE_SETTING)
            else:
                self.spark.conf.set(OUT_OF_RANGE_SETTING, previous)

    def _await_sources(self, query: Any) -> None:
        """Wait (at most :data:`SOURCE_INIT_SECONDS`) until ``query`` planned its first trigger
        (its sources read their starting version) or ended."""
        deadline = time.monotonic() + SOURCE_INIT_SECONDS
        while time.monotonic() < deadline:
            if not query.isActive or query.lastProgress is not None or query.status.get("message") in _PAST_FIRST_TRIGGER:
                return
            time.sleep(0.05)

    def fingerprint(self, start: PipeStart) -> PlanFingerprint:
        pipe = start.pipe
        frame = self._frame(start, ())
        self._built[pipe.id] = (start, frame)  # the start that follows need not build it again
        sources = []
        for entity_id in pipe.inputs:
            if entity_id not in pipe.dimensions:
                entity = start.entities[entity_id]
                sources.append(PlanSource(entity_id, entity.format, self.io.location(entity)))
        write = "merge" if str(pipe.write) == "merge" else "append"
        return PlanFingerprint(frame.schema.simpleString(), stateful_operators(_explain(frame)), sources, write)

    def resume_facts(self, start: PipeStart, query_id: str) -> ResumeFacts:
        from kindling_core.spark.sink import CheckpointAppId

        pipe = start.pipe
        source_ids = {}
        for entity_id in pipe.inputs:
            entity = start.entities[entity_id]
            if entity_id not in pipe.dimensions and entity.format == "delta" and self.io.exists(entity):
                source_ids[self._table_id(entity)] = entity_id
        output = start.entities[pipe.output]
        if output.format != "delta":
            return ResumeFacts(None, False, source_ids)
        app_id = CheckpointAppId(pipe.id, start.checkpoint).for_query(query_id)
        return ResumeFacts(self._txn_version(output, app_id), True, source_ids)

    def _table_id(self, entity: Entity) -> str:
        target = entity.table or f"delta.`{self.io.location(entity)}`"
        row = self.spark.sql(f"DESCRIBE DETAIL {target}").select("id").first()
        assert row is not None
        return str(row[0])

    def _txn_version(self, entity: Entity, app_id: str) -> int | None:
        """The highest transaction version Delta holds for ``app_id`` in ``entity``'s log (its
        JSON commits and checkpoints; ``None``: none or no table)."""
        if not self.io.exists(entity):
            return None
        from pyspark.sql import functions as F

        if entity.table is not None:
            row = self.spark.sql(f"DESCRIBE DETAIL {entity.table}").select("location").first()
            assert row is not None
            location = str(row[0])
        else:
            location = self.io.location(entity)
        log = location.rstrip("/") + "/_delta_log"
        best: int | None = None
        for reader, pattern in ((self.spark.read.json, "*.json"), (self.spark.read.parquet, "*.checkpoint*.parquet")):
            try:
                frame = reader(f"{log}/{pattern}")
            except Exception as exc:  # no file of that kind (a young table has no checkpoint)
                if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                    continue
                raise
            if "txn" not in frame.columns:
                continue
            row = frame.where(F.col("txn.appId") == app_id).agg(F.max("txn.version")).first()
            if row is not None and row[0] is not None:
                best = max(best if best is not None else -1, int(row[0]))
        return best

    def _frame(self, start: PipeStart, trail: tuple[str, ...]) -> DataFrame:
        """The pipe's streaming DataFrame: its function over its inputs (no Spark job)."""
        pipe = start.pipe
        frames = [self._input(start, entity_id, (*trail, pipe.id)) for entity_id in pipe.inputs]
        result = pipe.func(*frames)
        if not is_dataframe(result) or not result.isStreaming:
            what = "a batch DataFrame" if is_dataframe(result) else type(result).__name__
            raise NotADataFrameError(
                f"streaming pipe {pipe.id!r} returned {what}; expected a streaming DataFrame built from its streamed inputs",
                entity=pipe.output,
                culprit=pipe.id,
                remedy="return a transformation of the input DataFrames (a streaming pipe must read at least one input as a stream)",
            )
        return result

    def _input(self, start: PipeStart, entity_id: str, trail: tuple[str, ...]) -> DataFrame:
        pipe = start.pipe
        entity = start.entities[entity_id]
        if entity_id in pipe.dimensions:
            return self.io.read(entity)
        if entity.format == "delta" and not self.io.exists(entity):
            producer = start.upstream.get(entity_id)
            if producer is None or producer.pipe.id in trail:
                raise EntityMissingError(
                    f"streaming pipe {pipe.id!r} reads entity {entity_id!r}, which has no table at {self.io.location(entity)}",
                    entity=entity_id,
                    location=self.io.location(entity),
                    remedy="run the pipe that produces it first (kindling run), or create the table",
                )
            output = producer.entities[producer.pipe.output]
            self.io.create(output, self._frame(producer, trail).schema)
        return self._read_stream(entity, pipe.read_options, start.starting_versions)

    def _read_stream(self, entity: Entity, read_options: Any, starting: Any = None) -> DataFrame:
        starting = starting or {}
        reader: Any = self.spark.readStream.format(entity.format)
        options: dict[str, str] = {}
        if entity.format != "delta":
            if entity.schema is not None:
                reader = reader.schema(entity.schema)
            options.update({k: _option_text(v) for k, v in entity.options.items() if not k.startswith("write.")})
        options.update({k: _option_text(v) for k, v in read_options.items()})
        if entity.id in starting:
            options = {k: v for k, v in options.items() if k not in ("startingVersion", "startingTimestamp")}
            options["startingVersion"] = str(starting[entity.id])
        if options:
            reader = reader.options(**options)
        if entity.table is not None:
            return reader.table(entity.table)
        return reader.load(self.io.location(entity))

    def start_builder(self, name: str, builder: Callable[[], Any]) -> Any:
        built = builder()
        if hasattr(built, "foreachBatch") and hasattr(built, "queryName"):  # a DataStreamWriter
            return built.queryName(name).start()
        if hasattr(built, "runId") and hasattr(built, "isActive"):  # a started StreamingQuery
            return built
        raise StreamingError(
            f"the builder of query {name!r} returned {type(built).__name__}; expected a DataStreamWriter "
            "(df.writeStream...) or a started StreamingQuery",
            query=name,
            remedy="return df.writeStream.format(...).option('checkpointLocation', ...) (kindling starts it) or the started query",
        )

    def check_adoptable(self, query: Any) -> None:
        if is_connect_session(self.spark):
            session = getattr(query, "_session", None)
            ours = session is self.spark or getattr(session, "session_id", None) == getattr(self.spark, "session_id", "")
        else:
            jsq = getattr(query, "_jsq", None)
            ours = jsq is not None and bool(self.spark._jsparkSession.equals(jsq.sparkSession()))
        if not ours:
            raise ForeignQueryError(
                f"query {query.name or query.id!r} runs on another Spark session than the app's; app.streams "
                "manages the queries of its own session (each session has its own streams and listeners)",
                query=str(query.name or query.id),
                remedy="start the query on app.spark, or app.use_spark(<that session>) before using app.streams",
            )

    # ------------------------------------------------------------------ queries

    def identity(self, query: Any) -> QueryIdentity:
        return QueryIdentity(str(query.id), str(query.runId), query.name)

    def stop(self, query: Any) -> None:
        try:
            query.stop()
        except Exception as exc:
            text = str(exc)
            if "stopTimeout" in text or "failed to stop within" in text:
                raise StopTimedOutError(
                    f"Spark did not stop query {query.name or query.id!r} within spark.sql.streaming.stopTimeout: "
                    f"{text.strip().splitlines()[0] if text.strip() else type(exc).__name__}",
                    query=query.name,
                    remedy="the query is no longer active; its execution thread ends when its current batch does",
                ) from exc
            raise

    def is_active(self, query: Any) -> bool:
        return bool(query.isActive)

    def exception(self, query: Any) -> tuple[str, str | None] | None:
        error = query.exception()
        if error is None:
            return None
        method = getattr(error, "getCondition", None) or getattr(error, "getErrorClass", None)  # pyspark >= 4 / 3.x
        try:
            error_class = method() if method is not None else None
        except Exception:  # noqa: BLE001 - the text is what matters
            error_class = None
        return str(error), error_class

    def status(self, query: Any) -> RuntimeStatus:
        status = query.status
        return RuntimeStatus(
            message=str(status.get("message", "")),
            data_available=bool(status.get("isDataAvailable", False)),
            trigger_active=bool(status.get("isTriggerActive", False)),
        )

    def last_progress(self, query: Any) -> ProgressSnapshot | None:
        from kindling_core.spark.listener import progress_snapshot

        progress = query.lastProgress  # a dict-like StreamingQueryProgress, or None
        return None if progress is None else progress_snapshot(progress)

    def process_all_available(self, query: Any) -> None:
        query.processAllAvailable()

    def active(self) -> list[QueryIdentity]:
        return [self.identity(query) for query in self.spark.streams.active]

    def active_names(self) -> set[str]:
        return {query.name for query in self.spark.streams.active if query.name}
