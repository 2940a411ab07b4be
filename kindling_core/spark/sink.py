"""Exactly-once Delta sinks for streaming pipes: the ``foreachBatch`` writer.

A micro-batch runs in three steps: Spark records the batch's offsets in the checkpoint
(``offsets/<id>``), the ``foreachBatch`` function writes the batch (one Delta commit), and Spark
records the batch as done (``commits/<id>``). A driver that dies between the Delta commit and
``commits/<id>`` replays the batch -- same id, same offsets, same rows -- on restart. The writer
from :func:`batch_writer` makes that replay harmless: every Delta commit it makes carries the
transaction ``(app id, batch id)`` (:class:`~kindling_core.spark.txn.DeltaTxn`), and Delta
skips a write whose version it has already committed for that app id. So the sink holds every
batch exactly once, for ``append`` and ``merge`` alike.

The app id must name *one query*, stable across its restarts, and change when the query starts
over from an empty checkpoint (its batch ids restart at 0, which Delta would take for old
batches and skip). :class:`CheckpointAppId` derives it from the pipe id and the query id Spark
keeps in the checkpoint (``<checkpoint>/metadata``, written when the query is first created and
read back on every restart): ``kindling:<pipe>:<query id>``. Two checkpoints of one pipe, or a
checkpoint deleted and recreated at the same path, give different ids; restarts from one
checkpoint give the same. ``docs/design/exactly-once.md`` explains the choice.

pyspark is imported only when a batch is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from kindling_core.errors import KindlingError
from kindling_core.model import Entity
from kindling_core.spark.delta import EntityIO
from kindling_core.spark.txn import DeltaTxn

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["CheckpointAppId", "StreamWriteModeError", "batch_writer", "STREAM_WRITE_MODES"]

#: How a streaming pipe's micro-batches reach its output (``overwrite`` is not one).
STREAM_WRITE_MODES = ("append", "merge")

#: Spark's local property naming the streaming query a micro-batch belongs to (classic Spark
#: sets it on the thread that runs the batch, which the foreachBatch callback runs on).
_QUERY_ID_PROPERTY = "sql.streaming.queryId"


class StreamWriteModeError(KindlingError, ValueError):
    """A streaming pipe's micro-batches cannot be written with the requested mode."""


@attrs.frozen
class CheckpointAppId:
    """The Delta transaction app id of the streaming query of ``pipe`` on ``checkpoint``:
    ``kindling:<pipe>:<query id>``, the query id being the one Spark keeps in the checkpoint.

    Resolved by the writer when a batch arrives (Spark has written the checkpoint's metadata by
    then): from the batch thread's ``sql.streaming.queryId`` on classic Spark, else from the
    ``<checkpoint>/metadata`` file.
    """

    pipe: str
    checkpoint: str

    def for_query(self, query_id: str) -> str:
        """The app id for a known query id."""
        return f"kindling:{self.pipe}:{query_id}"

    def resolve(self, spark: SparkSession) -> str:
        """The app id of the query whose batch runs on ``spark`` (the batch's session)."""
        query_id = None
        if getattr(spark, "_jsparkSession", None) is not None:  # classic
            query_id = spark.sparkContext.getLocalProperty(_QUERY_ID_PROPERTY)
        if not query_id:
            query_id = self._query_id_from_checkpoint(spark)
        return self.for_query(query_id)

    def _query_id_from_checkpoint(self, spark: SparkSession) -> str:
        location = f"{self.checkpoint.rstrip('/')}/metadata"
        try:
            if "://" not in location or location.startswith("file:"):
                text = Path(location.removeprefix("file:")).read_text(encoding="utf-8")
            else:
                text = "\n".join(row[0] for row in spark.read.text(location).collect())
            query_id = json.loads(text.splitlines()[0])["id"]
        except Exception as exc:
            raise KindlingError(
                f"streaming pipe {self.pipe!r}: cannot read the query id from {location} "
                f"({type(exc).__name__}: {exc})",
                culprit=self.pipe,
                remedy="pass the checkpoint location the query was started with (checkpointLocation)",
            ) from exc
        return str(query_id)


def batch_writer(
    io: EntityIO, entity: Entity, mode: str, *, pipe: str, app_id: str | CheckpointAppId
) -> Callable[[DataFrame, int], None]:
    """The ``foreachBatch`` function writing a streaming pipe's micro-batches to ``entity``.

    ``mode`` is ``append`` (each batch appended) or ``merge`` (each batch upserted on the
    entity's ``merge_keys``); anything else raises :class:`StreamWriteModeError` naming the pipe.
    Each batch is written through :meth:`EntityIO.write` (so tables are created and schemas
    checked as for batch pipes) on the batch's own session, with the Delta transaction
    ``(app_id, batch_id)``: a batch whose id the table already holds for ``app_id`` is skipped.
    ``app_id`` is a fixed string, or a :class:`CheckpointAppId` resolved per query (use that
    for pipes: see the module doc). Make one writer per query start.

    The returned function keeps only picklable state (no session), so it also works on Spark
    Connect, where the function runs in a server-side worker.
    """
    mode = str(mode)
    if mode not in STREAM_WRITE_MODES:
        raise StreamWriteModeError(
            f"streaming pipe {pipe!r} writes its micro-batches with {mode!r}; a stream writes with "
            f"{' or '.join(map(repr, STREAM_WRITE_MODES))} only",
            culprit=pipe,
            remedy=f"declare @app.pipe({pipe!r}, ..., write='append') or write='merge' with merge_keys on the output",
        )
    root = io.root
    resolved: list[str] = []  # the app id once known; one writer serves one query run

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        session = batch.sparkSession
        if isinstance(app_id, str):
            txn_app_id = app_id
        elif getattr(session, "_jsparkSession", None) is not None:
            txn_app_id = app_id.resolve(session)  # classic: a py4j call, exact for every batch
        else:
            if not resolved:
                resolved.append(app_id.resolve(session))
            txn_app_id = resolved[0]
        EntityIO(session, root=root).write(entity, batch, mode, pipe=pipe, txn=DeltaTxn(txn_app_id, int(batch_id)))

    return write_batch
