"""The driver process tests/spark/test_exactly_once.py kills: two streaming queries over one
Delta source, one appending to a sink, one merging into another, through
:func:`kindling_core.spark.sink.batch_writer`.

Usage: ``python exactly_once_driver.py ROOT run|drain``

``run``
    micro-batches every 200 ms until the process is killed; after each batch's Delta commit the
    query pauses ``EXACTLY_ONCE_PAUSE`` seconds (default 0.5) before returning to Spark, which
    only then records the batch in its checkpoint: the window in which a crash makes Spark
    replay a batch the sink already holds. Prints ``<seconds since start>s committed <sink>
    <batch id>`` after each commit.
``drain``
    processes what is available (``availableNow``), prints ``drained`` and exits 0.

``EXACTLY_ONCE_IDEMPOTENT=0`` writes the batches without the Delta transaction, to show the test
fails then (duplicates after a replay). Each commit's ``userMetadata`` is ``<sink>:<batch id>``,
so the test can tell a batch committed twice.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kindling_core.model import Entity
from kindling_core.spark import SparkSettings, get_or_create_session
from kindling_core.spark.delta import EntityIO
from kindling_core.spark.sink import CheckpointAppId, batch_writer

SINKS = {"sink_append": "append", "sink_merge": "merge"}


def main(root: Path, phase: str) -> None:
    began = time.monotonic()

    def say(text: str) -> None:
        print(f"{time.monotonic() - began:6.1f}s {text}", flush=True)

    pause = float(os.environ.get("EXACTLY_ONCE_PAUSE", "0.5"))
    idempotent = os.environ.get("EXACTLY_ONCE_IDEMPOTENT", "1") != "0"
    spark = get_or_create_session(
        SparkSettings(
            master="local[1]",
            app_name="kindling-exactly-once-driver",
            shuffle_partitions=1,
            warehouse_dir=root / "warehouse",
            extra_conf={"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"},
        )
    )
    io = EntityIO(spark, root=root)
    source = Entity("source", path=str(root / "source"))
    queries = []
    for name, mode in SINKS.items():
        entity = Entity(name, path=str(root / name), merge_keys=["id"] if mode == "merge" else ())
        checkpoint = str(root / f"checkpoint_{name}")
        if idempotent:
            write = batch_writer(io, entity, mode, pipe=name, app_id=CheckpointAppId(name, checkpoint))
        else:

            def write(batch, batch_id, entity=entity, mode=mode, name=name):
                EntityIO(batch.sparkSession, root=root).write(entity, batch, mode, pipe=name)

        def each_batch(batch, batch_id, write=write, name=name):
            batch.sparkSession.conf.set("spark.databricks.delta.commitInfo.userMetadata", f"{name}:{batch_id}")
            write(batch, batch_id)
            say(f"committed {name} {batch_id}")
            if phase == "run":
                time.sleep(pause)  # Spark writes commits/<batch id> only after this returns

        writer = io.read(source, streaming=True).writeStream.foreachBatch(each_batch)
        writer = writer.option("checkpointLocation", checkpoint).queryName(name)
        writer = writer.trigger(processingTime="200 milliseconds") if phase == "run" else writer.trigger(availableNow=True)
        queries.append(writer.start())
    say("started")
    if phase == "run":
        spark.streams.awaitAnyTermination()  # until killed; a failed query ends the process
        raise SystemExit(f"a query stopped: {[str(q.exception()) for q in queries]}")
    for query in queries:
        query.awaitTermination()
    say("drained")
    spark.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
