"""Execute one pipe attempt on Spark: read inputs, call the function, write the output.

Every Spark job of an attempt runs under the attempt's tag (a job group on classic Spark, a
job tag on Spark Connect; both thread-local), so :meth:`SparkPipeRunner.cancel` stops exactly
that attempt's jobs. Because a Delta write commits only after its jobs
finish, a cancelled attempt leaves its output table at the previous version.

Streaming pipes run bounded in a run: their non-dimension inputs are read as streams, their
dimensions as static tables, and the query runs with ``trigger(availableNow=True)`` until the
available data is processed (checkpoint: the pipe's ``options["checkpoint"]`` or
``<root>/.kindling/checkpoints/<pipe id>``); cancelling stops the query.
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

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["SparkPipeRunner", "UndeclaredEntityError", "AttemptCancelled"]


class UndeclaredEntityError(KindlingError):
    """A pipe reads or writes an entity id that was never declared with ``app.entity``."""


class AttemptCancelled(KindlingError):
    """The executor cancelled the attempt (timeout or interrupt) before it wrote anything."""


class SparkPipeRunner:
    """A :class:`~kindling_core.execution.runner.PipeRunner` for Spark (no per-run state)."""

    def __init__(self, spark: SparkSession, entities: Mapping[str, Entity], *, root: Path) -> None:
        self.spark = spark
        self.io = EntityIO(spark, root=root)
        self._entities = entities
        self._root = root

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
        frames = [self.io.read(entity, streaming=entity.id not in pipe.dimensions) for entity in inputs]
        result = pipe.func(*frames)
        if not is_dataframe(result):
            raise NotADataFrameError(
                f"pipe {pipe.id!r} returned {type(result).__name__}; expected a streaming DataFrame",
                entity=output.id,
            )
        checkpoint = str(pipe.options.get("checkpoint") or self._root / ".kindling" / "checkpoints" / pipe.id)
        if not self.io.exists(output):
            self.io.create(output, result.schema)
        io = self.io
        write_mode = str(pipe.write)

        def write_batch(batch: Any, _batch_id: int) -> None:
            io.write(output, batch, "merge" if write_mode == "merge" else "append", pipe=pipe.id)

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
