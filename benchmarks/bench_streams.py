"""Stream manager benchmarks on a local Spark session (``local[2]``), each against a baseline
measured in the same run.

1. **Manager overhead**: from ``app.streams.start()`` to the query's first progress, against the
   same query started by hand (the same streaming read, the same exactly-once ``foreachBatch``
   writer, checkpoint and trigger; its first progress seen through the same listener bridge).
   The difference is what the manager adds: planning, preflight checks, the event queue, the
   consumer thread, signals. Rounds alternate (fresh checkpoint and output each time) after a
   warm-up of each. Target (issue 8): within 1.2x.
2. **Watchdog polling**: 20 registered queries (``rate`` source, ``noop`` sink, 10 s trigger);
   one watchdog round over all of them on this thread, repeated. Reported: the round's CPU time
   in this process (``time.thread_time``; the py4j client side) and its wall time (an upper
   bound of the CPU both processes spend on it: every call is a synchronous round trip), each
   as a share of one core at the default interval (30 s). Target: under 1 %.

Run: ``python benchmarks/bench_streams.py [--rounds N] [--queries N] [--polls N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEADLINE = 300.0


def session():
    from kindling_core.spark import SparkSettings, get_or_create_session

    return get_or_create_session(SparkSettings(master="local[2]", shuffle_partitions=2))


def seed(spark, path: Path) -> None:
    spark.range(0, 1000).selectExpr("id", "id * 3 AS amount").write.format("delta").save(str(path))


class FirstProgress:
    """A listener ``put`` that records when each query's first progress arrived."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._changed = threading.Condition()

    def put(self, event) -> None:
        from kindling_core.streaming.events import QueryProgressed

        if isinstance(event, QueryProgressed):
            with self._changed:
                self.seen.setdefault(event.query_id, time.perf_counter())
                self._changed.notify_all()

    def wait(self, query_id: str) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: query_id in self.seen, DEADLINE):
                raise SystemExit(f"no progress of {query_id} within {DEADLINE:.0f}s")
            return self.seen[query_id]


def by_hand(spark, source: Path, out: Path, checkpoint: Path, listener: FirstProgress) -> float:
    """Seconds from building the query to its first progress, no framework."""
    from kindling_core.model import Entity
    from kindling_core.spark.delta import EntityIO
    from kindling_core.spark.sink import CheckpointAppId, batch_writer

    io = EntityIO(spark, root=out.parent)
    entity = Entity("silver.copy", path=str(out))
    began = time.perf_counter()
    frame = spark.readStream.format("delta").load(str(source))
    if not io.exists(entity):
        io.create(entity, frame.schema)
    query = (
        frame.writeStream.foreachBatch(batch_writer(io, entity, "append", pipe="copy", app_id=CheckpointAppId("copy", str(checkpoint))))
        .option("checkpointLocation", str(checkpoint))
        .queryName("by_hand_copy")
        .trigger(processingTime="200 milliseconds")
        .start()
    )
    seconds = listener.wait(str(query.id)) - began
    query.stop()
    return seconds


def through_manager(spark, source: Path, root: Path) -> float:
    """Seconds from ``app.streams.start()`` to the first ``streaming.progress_made``."""
    from kindling_core.config import parse_config
    from kindling_core.streaming import signals as sig
    from kindling_core.testing import make_app

    app = make_app(config=parse_config({}, root=root)).use_spark(spark)
    app.entity("bronze.orders", path=str(source))
    app.entity("silver.copy", path="copy")
    app.pipe("copy", inputs=["bronze.orders"], output="silver.copy", mode="streaming", trigger="200 milliseconds", write="append")(
        lambda orders: orders
    )
    first = threading.Event()
    app.signals.connect(sig.PROGRESS_MADE, lambda sender, payload: first.set())
    began = time.perf_counter()
    app.streams.start()
    if not first.wait(DEADLINE):
        raise SystemExit(f"no progress through app.streams within {DEADLINE:.0f}s")
    seconds = time.perf_counter() - began
    app.close()
    return seconds


def bench_overhead(spark, rounds: int) -> None:
    from kindling_core.spark.listener import attach_listener

    listener = FirstProgress()
    detach = attach_listener(spark, listener.put)
    manager, hand = [], []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        seed(spark, base / "source")
        for index in range(rounds + 1):  # round 0 warms both paths up; then they take turns going first
            def hand_run(index: int = index) -> float:
                return by_hand(spark, base / "source", base / f"h{index}" / "copy", base / f"h{index}" / "cp", listener)

            if index % 2:
                h = hand_run()
                m = through_manager(spark, base / "source", base / f"m{index}")
            else:
                m = through_manager(spark, base / "source", base / f"m{index}")
                h = hand_run()
            if index:
                manager.append(m)
                hand.append(h)
    detach()
    m, h = statistics.median(manager), statistics.median(hand)
    print(f"start -> first progress, median of {rounds}: app.streams {m * 1000:.0f} ms, by hand {h * 1000:.0f} ms, "
          f"ratio {m / h:.2f}x (target <= 1.2x)")
    print(f"  app.streams rounds (ms): {', '.join(f'{x * 1000:.0f}' for x in manager)}")
    print(f"  by hand rounds (ms):     {', '.join(f'{x * 1000:.0f}' for x in hand)}")


def bench_watchdog(spark, queries: int, polls: int) -> None:
    from kindling_core.config import StreamingConfig, parse_config
    from kindling_core.streaming.watchdog import Watchdog
    from kindling_core.testing import make_app

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(config=parse_config({"streaming": {"watchdog-interval-seconds": 3600}}, root=Path(folder))).use_spark(spark)

        def builder(index: int):
            return lambda: (
                spark.readStream.format("rate").option("rowsPerSecond", 1).load().writeStream.format("noop")
                .option("checkpointLocation", f"{folder}/cp{index}").trigger(processingTime="10 seconds")
            )

        for index in range(queries):
            app.streams.register(f"rate_{index}", builder(index))
        app.streams.start()
        watchdog = Watchdog(app.streams, app.streams.driver, interval=3600, stale_after=600, no_progress_after_start=300)
        watched = len(app.streams.watch_targets())
        watchdog.poll()  # warm-up
        cpu, wall = [], []
        for _ in range(polls):
            c, w = time.thread_time(), time.perf_counter()
            watchdog.poll()
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - w)
        app.close()
    interval = StreamingConfig().watchdog_interval_seconds
    c, w = statistics.median(cpu), statistics.median(wall)
    print(f"watchdog round over {watched} queries, median of {polls}: CPU {c * 1000:.1f} ms (this process), wall {w * 1000:.1f} ms")
    print(f"  at the default interval ({interval:g} s): {100 * c / interval:.3f} % of a core (CPU), "
          f"<= {100 * w / interval:.3f} % (wall, both processes; target < 1 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
    spark = session()
    bench_overhead(spark, args.rounds)
    bench_watchdog(spark, args.queries, args.polls)
    spark.stop()


if __name__ == "__main__":
    main()
