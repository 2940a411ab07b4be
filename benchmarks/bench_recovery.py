"""Restart gap of a failed streaming query on a local Spark session (``local[2]``): recovered by
``app.streams`` against a bare Spark restart of the same query, measured in the same run.

**Restart gap**: from the failure noticed (Spark's ``QueryTerminatedEvent`` with the exception
reaching a listener) to the first progress of the restarted query (its replayed micro-batch
finished). Both ends are stamped by one instrument listener attached to the session, the same
for both variants.

* ``app.streams``: a streaming pipe (Delta source -> exactly-once Delta sink, through a Python
  UDF) recovered by the manager with ``[tool.kindling.recovery] backoff-seconds = 0``,
  ``healthy-batches = 1``: the termination goes through the event queue and consumer,
  classification, the recovery-strategy chain, the budget, the recovery thread, then the normal
  start path (planning, preflight checks, the driver's start).
* **bare** (baseline): the same query (same read, UDF, ``foreachBatch`` writer, checkpoint
  layout, trigger) started by hand; when the instrument sees it fail, a waiting thread calls
  ``stop()`` and builds and starts it again, nothing else.

The UDF fails the first micro-batch after a marker file appears, and removes the marker as it
fails, so the replay succeeds. Each round uses a fresh source, checkpoint and sink; the variants
take turns going first after one warm-up round each. Reported: medians, the ratio, and where the
manager's gap goes (from its signals' timestamps). Target (issue 9): within 1.2x of bare, plus
the configured backoff (0 here).

Run: ``python benchmarks/bench_recovery.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_streams import DEADLINE, session  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

TRIGGER = "200 milliseconds"
#: The manager's phases, in order: (signal, label of the time from the previous mark to it).
PHASES = (
    ("streaming.query_failed", "listener -> consumer (event queue)"),
    ("streaming.recovery_scheduled", "classify + decide"),
    ("streaming.recovery_started", "recovery thread wakes (backoff 0)"),
    ("streaming.before_start", "before the start"),
    ("streaming.after_start", "plan, checks, Spark start()"),
    ("first_progress", "first micro-batch of the restarted run"),
)


def fail_once(marker: Path) -> Any:
    """A UDF returning its argument; the first task that sees ``marker`` removes it and raises
    ``ConnectionError`` (a transient failure), so the replayed micro-batch succeeds."""
    from pyspark.sql.functions import udf

    path = str(marker)

    def check(value):  # no type hints: pyspark would try to infer a pandas UDF from them
        import os

        if os.path.exists(path):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            raise ConnectionError("ledger unreachable (injected)")
        return value

    return udf(check, "long")


class Instrument:
    """A listener ``put`` stamping (``time.perf_counter``) each run's failure and first progress."""

    def __init__(self) -> None:
        self.failed: dict[str, float] = {}  # run id -> when its failure arrived
        self.first_progress: dict[str, float] = {}  # run id -> its first progress
        self.on_failure: Callable[[str], None] | None = None
        self._changed = threading.Condition()

    def put(self, event: Any) -> None:
        from kindling_core.streaming.events import QueryProgressed, QueryTerminated

        now = time.perf_counter()
        with self._changed:
            if isinstance(event, QueryProgressed) and event.progress.num_input_rows:
                self.first_progress.setdefault(event.progress.run_id, now)
            elif isinstance(event, QueryTerminated) and event.exception:
                self.failed.setdefault(event.run_id, now)
                if self.on_failure is not None:
                    self.on_failure(event.query_id)
            self._changed.notify_all()

    def wait(self, what: str, predicate: Callable[[], Any]) -> Any:
        with self._changed:
            found = self._changed.wait_for(predicate, DEADLINE)
        if not found:
            raise SystemExit(f"{what}: not within {DEADLINE:.0f}s")
        return found

    def gap(self, failed_run: str, other_than: set[str]) -> float:
        """Seconds from ``failed_run``'s failure to the first progress of a later run."""
        failed_at = self.failed.get(failed_run, float("inf"))
        later = self.wait(
            "first progress after the failure",
            lambda: [t for run, t in self.first_progress.items() if run not in other_than and t > failed_at],
        )
        return min(later) - self.failed[failed_run]


class Lake:
    """One round's folder: a Delta source of 100 rows, the marker, the sink and checkpoint."""

    def __init__(self, spark: Any, folder: Path) -> None:
        self.spark = spark
        self.folder = folder
        self.source = folder / "source"
        self.marker = folder / "fail.marker"
        self.append(0)

    def append(self, first: int) -> None:
        frame = self.spark.range(first, first + 100).selectExpr("id", "id * 3 AS amount")
        frame.coalesce(1).write.format("delta").mode("append").save(str(self.source))

    def break_next_batch(self) -> None:
        self.marker.touch()
        self.append(100)


def transform(marker: Path) -> Callable[[Any], Any]:
    checked = fail_once(marker)
    return lambda rows: rows.withColumn("id", checked("id"))


def through_manager(spark: Any, lake: Lake, instrument: Instrument) -> tuple[float, dict[str, float]]:
    """The restart gap through ``app.streams``, and the time of each manager phase."""
    from kindling_core.config import parse_config
    from kindling_core.testing import make_app

    config = {
        "streaming": {"watchdog-interval-seconds": 3600},
        "recovery": {"backoff-seconds": 0, "backoff-max-seconds": 0, "healthy-batches": 1},
    }
    app = make_app(config=parse_config(config, root=lake.folder)).use_spark(spark)
    app.entity("bronze.orders", path=str(lake.source))
    app.entity("silver.orders", path="sink")
    app.pipe("copy", inputs=["bronze.orders"], output="silver.orders", mode="streaming", trigger=TRIGGER, write="append")(
        transform(lake.marker)
    )
    marks: dict[str, float] = {}
    armed = threading.Event()  # set when the failure is injected: the first start's signals do not count

    def mark(name: str) -> None:
        if armed.is_set():
            marks.setdefault(name, time.perf_counter())

    for name, _ in PHASES[:-1]:
        app.signals.connect(name, lambda sender, payload, name=name: mark(name))
    app.streams.start()
    first_run = app.streams.query_status("copy").run_id
    instrument.wait("the first progress", lambda: first_run in instrument.first_progress)
    armed.set()
    lake.break_next_batch()
    instrument.wait("the failure", lambda: first_run in instrument.failed)
    gap = instrument.gap(first_run, {first_run})
    marks["first_progress"] = instrument.failed[first_run] + gap
    app.close()
    return gap, {"failure": instrument.failed[first_run], **marks}


def bare(spark: Any, lake: Lake, instrument: Instrument) -> float:
    """The restart gap of the same query restarted by hand, at once, when it fails."""
    from kindling_core.model import Entity
    from kindling_core.spark.delta import EntityIO
    from kindling_core.spark.sink import CheckpointAppId, batch_writer

    io = EntityIO(spark, root=lake.folder)
    entity = Entity("silver.orders", path=str(lake.folder / "sink"))
    checkpoint = str(lake.folder / "checkpoint")
    pipe = transform(lake.marker)

    def start() -> Any:
        frame = pipe(spark.readStream.format("delta").load(str(lake.source)))
        if not io.exists(entity):
            io.create(entity, frame.schema)
        writer = batch_writer(io, entity, "append", pipe="copy", app_id=CheckpointAppId("copy", checkpoint))
        return (
            frame.writeStream.foreachBatch(writer)
            .option("checkpointLocation", checkpoint)
            .queryName("bare_copy")
            .trigger(processingTime=TRIGGER)
            .start()
        )

    failed = threading.Event()
    instrument.on_failure = lambda query_id: failed.set()  # on Spark's listener thread: only wake the restarter
    query = start()
    first_run = str(query.runId)
    instrument.wait("the first progress", lambda: first_run in instrument.first_progress)
    lake.break_next_batch()
    if not failed.wait(DEADLINE):
        raise SystemExit("the bare query did not fail")
    query.stop()
    query = start()
    gap = instrument.gap(first_run, {first_run})
    instrument.on_failure = None
    query.stop()
    return gap


def bench_restart_gap(spark: Any, rounds: int) -> None:
    from kindling_core.spark.listener import attach_listener

    instrument = Instrument()
    detach = attach_listener(spark, instrument.put)
    manager: list[float] = []
    by_hand: list[float] = []
    phases: dict[str, list[float]] = {label: [] for _, label in PHASES}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        for index in range(rounds + 1):  # round 0 warms both paths up; then they take turns going first
            order = ("manager", "bare") if index % 2 == 0 else ("bare", "manager")
            for variant in order:
                lake = Lake(spark, base / f"{variant}{index}")
                if variant == "bare":
                    seconds = bare(spark, lake, instrument)
                    if index:
                        by_hand.append(seconds)
                    continue
                seconds, marks = through_manager(spark, lake, instrument)
                if index:
                    manager.append(seconds)
                    previous = marks["failure"]
                    for name, label in PHASES:
                        phases[label].append(marks[name] - previous)
                        previous = marks[name]
    detach()
    m, b = statistics.median(manager), statistics.median(by_hand)
    print(
        f"restart gap (failure noticed -> first progress of the restarted query), median of {rounds}: "
        f"app.streams {m * 1000:.0f} ms, bare Spark stop + start {b * 1000:.0f} ms, ratio {m / b:.2f}x "
        "(target <= 1.2x, plus the configured backoff: 0 s here)"
    )
    print(f"  app.streams rounds (ms): {', '.join(f'{x * 1000:.0f}' for x in manager)}")
    print(f"  bare rounds (ms):        {', '.join(f'{x * 1000:.0f}' for x in by_hand)}")
    print("  where app.streams' gap goes (median of each phase, ms):")
    for _, label in PHASES:
        print(f"    {label:<42} {statistics.median(phases[label]) * 1000:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spark = session()
    bench_restart_gap(spark, args.rounds)
    spark.stop()


if __name__ == "__main__":
    main()
