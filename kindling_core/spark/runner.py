"""Execute one pipe attempt on Spark: read inputs, call the function, write the output.

Every Spark job of an attempt runs under the attempt's tag (a job group on classic Spark, a
job tag on Spark Connect; both thread-local), so :meth:`SparkPipeRunner.cancel` stops exactly
that attempt's jobs. Because a Delta write commits only after its jobs
finish, a cancelled attempt leaves its output table at the previous version.

Streaming pipes run bounded in a run: their non-dimension inputs are read as streams, their
dimensions as static tables, and the query runs with ``trigger(availableNow=True)`` until the
available data is processed (checkpoint: the pipe's ``checkpoint=``, else
``<checkpoint-base>/<pipe id>``, as for its long-running query; see
:func:`kindling_core.streaming.checkpoints.checkpoint_location`); cancelling stops the query.
Micro-batches are written exactly once (:func:`kindling_core.spark.sink.batch_writer`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kindling_core.errors import KindlingError
from kindling_core.execution.runner import AttemptContext
from kindling_core.model import Entity, Pipe
from kindling_core.spark.delta import EntityIO, NotADataFrameError, is_dataframe
from kindling_core.spark.session import is_connect_session
from kindling_core.spark.sink import CheckpointAppId, batch_writer
from kindling_core.streaming.checkpoints import checkpoint_location

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["SparkPipeRunner", "UndeclaredEntityError", "AttemptCancelled"]


class UndeclaredEntityError(KindlingError):
    """A pipe reads or writes an entity id that was never declared with ``app.entity``."""


class AttemptCancelled(KindlingError):
    """The executor cancelled the attempt (timeout or interrupt) before it wrote anything."""


class SparkPipeRunner:
    """A :class:`~kindling_core.execution.runner.PipeRunner` for Spark (no per-run state)."""

    def __init__(
        self,
        spark: SparkSession,
        entities: Mapping[str, Entity],
        *,
        root: Path,
        checkpoint_base: str = ".kindling/checkpoints",
    ) -> None:
        self.spark = spark
        self.io = EntityIO(spark, root=root)
        self._entities = entities
        self._root = root
        self._checkpoint_base = checkpoint_base

    def entity(self, entity_id: str, pipe: Pipe) -> Entity:
        try:
            return self._entities[entity_id]
        except KeyError:
            raise UndeclaredEntityError(
                f"pipe {pipe.id!r} uses entity {entity_id!r}, which is not declared",
                culprit=entity_id,
                remedy=f"declare it: app.entity({entity_id!r}, path=...) (or table=...)",
            ) from None

    @contextlib.contextmanager
    def _tagged(self, tag: str, description: str, pool: str) -> Iterator[None]:
        """Run the attempt's Spark jobs so that :meth:`cancel` can stop exactly them.

        Classic Spark: a job group (``setJobGroup(..., interruptOnCancel=True)``; measured:
        job tags set from a worker thread are not honoured by ``interruptTag`` in classic
        PySpark 4.2, job groups are), and this session made active on the worker thread so
        user code calling ``SparkSession.getActiveSession()`` finds it. Spark Connect: a job
        tag (``addTag`` / ``interruptTag``).
        """
        if not is_connect_session(self.spark):
            jvm: Any = self.spark._jvm  # a classic session always has its py4j gateway
            jvm.SparkSession.setActiveSession(self.spark._jsparkSession)
            context = self.spark.sparkContext
            context.setJobGroup(tag, description, interruptOnCancel=True)
            # Its own FAIR scheduler pool (ignored under the default FIFO scheduler), so
            # concurrent pipes share executors fairly when spark.scheduler.mode=FAIR.
            context.setLocalProperty("spark.scheduler.pool", pool)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
                    context.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
            return
        self.spark.addTag(tag)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.spark.removeTag(tag)

    def run_pipe(self, pipe: Pipe, context: AttemptContext) -> None:
        output = self.entity(pipe.output, pipe)
        inputs = [self.entity(entity_id, pipe) for entity_id in pipe.inputs]
        with self._tagged(context.tag, f"kindling pipe {pipe.id} (attempt {context.attempt})", pipe.id):
            if str(pipe.mode) == "streaming":
                self._run_streaming(pipe, inputs, output, context)
                return
            frames = [self.io.read(entity) for entity in inputs]
            result = pipe.func(*frames)
            if context.cancelled.is_set():
                raise AttemptCancelled(f"pipe {pipe.id!r} was cancelled before writing", culprit=pipe.id)
            self.io.write(output, result, str(pipe.write), pipe=pipe.id)

    def _run_streaming(self, pipe: Pipe, inputs: list[Entity], output: Entity, context: AttemptContext) -> None:
        from kindling_core.spark.streams import SparkStreamDriver

        # Streamed inputs get the pipe's read_options (and a file format's declared schema) as
        # app.streams reads them; dimensions, and a missing table (EntityMissingError), as before.
        streams = SparkStreamDriver(self.spark, root=self._root)
        frames = [
            streams._read_stream(entity, pipe.read_options)
            if entity.id not in pipe.dimensions and (entity.format != "delta" or self.io.exists(entity))
            else self.io.read(entity, streaming=entity.id not in pipe.dimensions)
            for entity in inputs
        ]
        result = pipe.func(*frames)
        if not is_dataframe(result):
            raise NotADataFrameError(
                f"pipe {pipe.id!r} returned {type(result).__name__}; expected a streaming DataFrame",
                entity=output.id,
            )
        # The same checkpoint as the pipe's long-running query (app.streams): one query, whichever starts it.
        checkpoint = checkpoint_location(pipe, self._checkpoint_base, self._root)
        if not self.io.exists(output):
            self.io.create(output, result.schema)
        # Each micro-batch is merged or appended (a streaming `overwrite` pipe appends), exactly
        # once: a batch replayed after a crash is skipped by Delta (kindling_core.spark.sink).
        write_batch = batch_writer(
            self.io,
            output,
            "merge" if str(pipe.write) == "merge" else "append",
            pipe=pipe.id,
            app_id=CheckpointAppId(pipe.id, checkpoint),
        )
        query = (
            result.writeStream.foreachBatch(write_batch)
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .queryName(f"kindling_{pipe.id}".replace(".", "_"))
            .start()
        )
        while not query.awaitTermination(0.5):
            if context.cancelled.is_set():
                query.stop()
                raise AttemptCancelled(f"streaming pipe {pipe.id!r} was cancelled", culprit=pipe.id)
        error = query.exception()
        if error is not None:  # pragma: no cover - awaitTermination raises first
            raise error  # Spark's StreamingQueryException, cause chain intact for the classifiers

    def cancel(self, context: AttemptContext) -> None:
        """Classic: cancel the attempt's job group *and its future jobs* (Spark >= 3.5's
        ``cancelJobGroupAndFutureJobs``; the group id is unique to the attempt, so nothing else
        is affected), so a cancel landing between two of the pipe's Spark actions still stops it.
        Connect: ``interruptTag`` (running operations only; the executor repeats the cancel
        until the attempt stops)."""
        if is_connect_session(self.spark):
            self.spark.interruptTag(context.tag)
            return
        from py4j.protocol import Py4JError

        spark_context = self.spark.sparkContext
        try:
            spark_context._jsc.sc().cancelJobGroupAndFutureJobs(context.tag)
        except Py4JError:  # Spark < 3.5 lacks it: cancel the running jobs only
            spark_context.cancelJobGroup(context.tag)
