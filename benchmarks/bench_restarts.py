"""Dimension restarts on a local Spark session (``local[2]``): the watcher's detection latency
against its bound, and the restart controller's restart gap against a bare Spark restart, each
measured in the same run.

**(a) Detection latency**: from a Delta commit of a dimension (the modification time of its
``_delta_log/<version>.json``, written just before Delta renames it into place) to the
watcher's change report (its ``on_change`` callback; the ``dimensions.changed`` signal is
emitted just before it, on the same thread). The watcher is the real one on the app's session
(``DimensionWatcher.from_app`` with ``DeltaChangeSource``'s probe and change reader, what
``kindling_core.spark.dimensions.dimension_watcher`` builds), polling every ``--interval``
seconds on its own thread; its probe is wrapped to time every call in the same run. Each round
waits a random fraction of the interval, so commits land at every phase of the poll cycle, then
overwrites the dimension. Bound (issue 10): one poll interval plus the probe. Reported: median,
90th percentile and maximum latency, the probe's median and maximum cost, and latency /
(interval + probe).

**(b) Restart gap**: from the start of a restart to the first progress of the restarted query
(its first micro-batch that read rows), both queries an orders stream (Delta) joined with a
customers dimension (Delta), written exactly once to a Delta sink through ``foreachBatch``:

* **controller**: ``app.streams.request_restart`` (``debounce-seconds = 0``); the gap runs from
  ``restarts.restart_started`` (the controller begins: the check is done) through the manager's
  stop, the start path's checks (checkpoint structure and plan fingerprint) and start;
* **bare** (baseline): the same query built by hand (same reads, join, writer, checkpoint
  layout, trigger); the gap runs from ``query.stop()`` to the first progress of the query built
  and started again right after.

Both run with a one-hour trigger: each round appends orders while the query waits for its next
trigger (so only the restarted run reads them) and restarts it; the restarted run's first
trigger fires at once and reads them. One listener stamps every first progress. The variants
take turns going first after one warm-up round each; the controller's phases are stamped from
its signals. Target (issue 10, "as in the recovery issue"): within 1.2x of bare.

Run: ``python benchmarks/bench_restarts.py [--rounds N] [--latency-rounds N] [--interval S]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_streams import DEADLINE, session  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

TRIGGER = "1 hour"  # the restarted run's first trigger fires at once; the old run never reads the round's orders
#: The controller's phases, in order: (signal, label of the time from the previous mark to it).
PHASES = (
    ("streaming.before_stop", "checks before the stop (incl. plan fingerprint)"),
    ("streaming.after_stop", "Spark stop()"),
    ("streaming.before_start", "-> the start path"),
    ("streaming.after_start", "build the query, Spark start()"),
    ("first_progress", "first micro-batch of the restarted run"),
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def overwrite_customers(spark: Any, path: Path, tier: str) -> None:
    spark.createDataFrame([(1, tier), (2, tier)], "customer long, tier string").coalesce(1).write.format("delta").mode("overwrite").save(
        str(path)
    )


# ----------------------------------------------------------------------------- (a) detection latency


def bench_detection(spark: Any, rounds: int, interval: float) -> None:
    from kindling_core.config import parse_config
    from kindling_core.dimensions import DimensionWatcher
    from kindling_core.spark.dimensions import DeltaChangeSource
    from kindling_core.testing import make_app

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        customers = root / "customers"
        overwrite_customers(spark, customers, "v0")
        app = make_app(config=parse_config({"change-detectors": {"interval-seconds": interval}}, root=root)).use_spark(spark)
        app.entity("bronze.orders", path="orders")
        app.entity("silver.customers", path=str(customers), kind="dimension")
        app.entity("silver.enriched", path="enriched")
        app.catalog.add_pipe(
            "enrich",
            func=lambda orders, customers: orders,
            inputs=["bronze.orders", "silver.customers"],
            output="silver.enriched",
            mode="streaming",
            dimensions=["silver.customers"],
        )
        source = DeltaChangeSource(spark, root=root)
        probes: list[float] = []

        def timed_probe(entities: Any, since: Any) -> Any:
            began = time.perf_counter()
            try:
                return source.probe(entities, since)
            finally:
                probes.append(time.perf_counter() - began)

        reported: dict[int, float] = {}  # to_version -> wall time of the report
        changed = threading.Condition()

        def on_change(report: Any) -> None:
            now = time.time()
            with changed:
                reported.setdefault(report.to_version, now)
                changed.notify_all()

        def seen(version: int) -> bool:
            return any(k >= version for k in reported)

        watcher = DimensionWatcher.from_app(app, probe=timed_probe, read_changes=source.read_changes, on_change=on_change)
        watcher.start()
        latencies: list[float] = []
        try:
            deadline = time.monotonic() + DEADLINE
            while watcher.polls < 2:  # the first poll recorded the baseline
                if time.monotonic() > deadline:
                    raise SystemExit("the watcher made no baseline poll")
                time.sleep(0.01)
            for version in range(1, rounds + 1):
                time.sleep(random.uniform(0, interval))  # land the commit anywhere in the poll cycle
                overwrite_customers(spark, customers, f"v{version}")
                commit = customers / "_delta_log" / f"{version:020d}.json"
                committed = os.stat(commit).st_mtime_ns / 1e9
                with changed:
                    if not changed.wait_for(functools.partial(seen, version), DEADLINE):
                        raise SystemExit(f"version {version} was not reported within {DEADLINE:.0f}s")
                    at = min(t for k, t in reported.items() if k >= version)
                latencies.append(at - committed)
        finally:
            watcher.stop()
    probe = statistics.median(probes)
    bound = interval + probe
    worst = max(latencies)
    print(
        f"detection latency (Delta commit -> the watcher's change report), {rounds} commits, "
        f"interval-seconds {interval:g}, {watcher.polls} polls:"
    )
    print(
        f"  latency median {statistics.median(latencies) * 1000:.0f} ms, p90 {percentile(latencies, 0.9) * 1000:.0f} ms, "
        f"max {worst * 1000:.0f} ms"
    )
    print(f"  probe (same run, {len(probes)} calls): median {probe * 1000:.1f} ms, max {max(probes) * 1000:.1f} ms")
    verdict = "within" if worst <= bound else "OVER"
    print(
        f"  bound: interval + probe = {bound * 1000:.0f} ms; max / bound {worst / bound:.2f}, "
        f"median / bound {statistics.median(latencies) / bound:.2f} ({verdict} the bound)"
    )


# ----------------------------------------------------------------------------- (b) restart gap


class FirstBatch:
    """A listener ``put`` stamping (``time.perf_counter``) each run's first progress that read rows."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}  # run id -> when its first batch with rows finished
        self._changed = threading.Condition()

    def put(self, event: Any) -> None:
        from kindling_core.streaming.events import QueryProgressed

        if isinstance(event, QueryProgressed) and event.progress.num_input_rows:
            with self._changed:
                self.first.setdefault(event.progress.run_id, time.perf_counter())
                self._changed.notify_all()

    def wait(self, run_id: str) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: run_id in self.first, DEADLINE):
                raise SystemExit(f"run {run_id}: no progress within {DEADLINE:.0f}s")
            return self.first[run_id]


class Lake:
    """One variant's tables: an orders source, the customers dimension, the sink and checkpoint."""

    def __init__(self, spark: Any, folder: Path) -> None:
        self.spark = spark
        self.folder = folder
        self.orders = folder / "orders"
        self.customers = folder / "customers"
        self.sink = folder / "enriched"
        self.next_id = 0
        overwrite_customers(spark, self.customers, "gold")
        self.add_orders()

    def add_orders(self, count: int = 10) -> None:
        first, self.next_id = self.next_id, self.next_id + count
        frame = self.spark.range(first, first + count).selectExpr("id", "id % 2 + 1 AS customer")
        frame.coalesce(1).write.format("delta").mode("append").save(str(self.orders))


def enrich(orders: Any, customers: Any) -> Any:
    return orders.join(customers, "customer")


class ThroughController:
    """The query as a streaming pipe of ``app.streams``, restarted by ``request_restart``."""

    def __init__(self, spark: Any, lake: Lake, instrument: FirstBatch) -> None:
        from kindling_core.config import parse_config
        from kindling_core.testing import make_app

        config = {
            "streaming": {"watchdog-interval-seconds": 3600},
            "restarts": {"debounce-seconds": 0, "cascade-depth": 0},
            "recovery": {"healthy-batches": 1},
            "change-detectors": {"interval-seconds": 3600},  # the watcher makes its baseline poll only
        }
        self.lake, self.instrument = lake, instrument
        self.app = app = make_app(config=parse_config(config, root=lake.folder)).use_spark(spark)
        app.entity("bronze.orders", path=str(lake.orders))
        app.entity("silver.customers", path=str(lake.customers), kind="dimension")
        app.entity("silver.enriched", path=str(lake.sink))
        app.pipe(
            "enrich",
            inputs=["bronze.orders", "silver.customers"],
            output="silver.enriched",
            mode="streaming",
            dimensions=["silver.customers"],
            trigger=TRIGGER,
            write="append",
        )(enrich)
        self.marks: dict[str, float] = {}
        self.completed = threading.Event()
        for name in ("restarts.restart_started", *(name for name, _ in PHASES[:-1])):
            app.signals.connect(name, lambda sender, payload, name=name: self.marks.setdefault(name, time.perf_counter()))
        app.signals.connect("restarts.restart_completed", lambda sender, payload: self.completed.set())
        app.streams.start()
        instrument.wait(str(app.streams.query_status("enrich").run_id))

    def restart(self) -> tuple[float, dict[str, float]]:
        """The gap of one restart, and the time of each phase."""
        before = self.app.streams.query_status("enrich").run_id
        self.lake.add_orders()
        self.marks.clear()
        self.completed.clear()
        self.app.streams.request_restart("enrich", "benchmark round")
        if not self.completed.wait(DEADLINE):
            raise SystemExit(f"the restart did not complete within {DEADLINE:.0f}s")
        run = str(self.app.streams.query_status("enrich").run_id)
        assert run != before
        began = self.marks["restarts.restart_started"]
        self.marks["first_progress"] = self.instrument.wait(run)
        phases, previous = {}, began
        for name, label in PHASES:
            phases[label] = self.marks[name] - previous
            previous = self.marks[name]
        return self.marks["first_progress"] - began, phases

    def close(self) -> None:
        self.app.close()


class Bare:
    """The same query built and restarted by hand."""

    def __init__(self, spark: Any, lake: Lake, instrument: FirstBatch) -> None:
        from kindling_core.model import Entity
        from kindling_core.spark.delta import EntityIO

        self.spark, self.lake, self.instrument = spark, lake, instrument
        self.io = EntityIO(spark, root=lake.folder)
        self.entity = Entity("silver.enriched", path=str(lake.sink))
        self.checkpoint = str(lake.folder / "checkpoint")
        self.query = self.start()
        instrument.wait(str(self.query.runId))

    def start(self) -> Any:
        from kindling_core.spark.sink import CheckpointAppId, batch_writer

        spark = self.spark
        frame = enrich(
            spark.readStream.format("delta").load(str(self.lake.orders)), spark.read.format("delta").load(str(self.lake.customers))
        )
        if not self.io.exists(self.entity):
            self.io.create(self.entity, frame.schema)
        writer = batch_writer(self.io, self.entity, "append", pipe="enrich", app_id=CheckpointAppId("enrich", self.checkpoint))
        return (
            frame.writeStream.foreachBatch(writer)
            .option("checkpointLocation", self.checkpoint)
            .queryName("bare_enrich")
            .trigger(processingTime=TRIGGER)
            .start()
        )

    def restart(self) -> tuple[float, dict[str, float]]:
        self.lake.add_orders()
        began = time.perf_counter()
        self.query.stop()
        stopped = time.perf_counter()
        self.query = self.start()
        started = time.perf_counter()
        first = self.instrument.wait(str(self.query.runId))
        return first - began, {
            "Spark stop()": stopped - began,
            "build + Spark start()": started - stopped,
            "first micro-batch": first - started,
        }

    def close(self) -> None:
        self.query.stop()


def bench_restart_gap(spark: Any, rounds: int) -> None:
    from kindling_core.spark.listener import attach_listener

    instrument = FirstBatch()
    detach = attach_listener(spark, instrument.put)
    gaps: dict[str, list[float]] = {"controller": [], "bare": []}
    phases: dict[str, dict[str, list[float]]] = {"controller": {}, "bare": {}}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        variants: dict[str, Any] = {
            "controller": ThroughController(spark, Lake(spark, base / "controller"), instrument),
            "bare": Bare(spark, Lake(spark, base / "bare"), instrument),
        }
        try:
            for index in range(rounds + 1):  # round 0 warms both up; then they take turns going first
                order = ("controller", "bare") if index % 2 == 0 else ("bare", "controller")
                for name in order:
                    seconds, parts = variants[name].restart()
                    if index:
                        gaps[name].append(seconds)
                        for label, value in parts.items():
                            phases[name].setdefault(label, []).append(value)
        finally:
            for variant in variants.values():
                variant.close()
    detach()
    c, b = statistics.median(gaps["controller"]), statistics.median(gaps["bare"])
    verdict = "meets" if c / b <= 1.2 else "MISSES"
    print(
        f"restart gap (restart start -> first progress of the restarted query), median of {rounds}: "
        f"controller {c * 1000:.0f} ms, bare Spark stop + start {b * 1000:.0f} ms, ratio {c / b:.2f}x ({verdict} the 1.2x target)"
    )
    for name in ("controller", "bare"):
        print(f"  {name} rounds (ms): {', '.join(f'{x * 1000:.0f}' for x in gaps[name])}")
    for name in ("controller", "bare"):
        print(f"  where the {name}'s gap goes (median of each phase, ms):")
        for label, values in phases[name].items():
            print(f"    {label:<52} {statistics.median(values) * 1000:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="restart-gap rounds per variant")
    parser.add_argument("--latency-rounds", type=int, default=20, help="dimension commits for the detection latency")
    parser.add_argument("--interval", type=float, default=1.0, help="the watcher's interval-seconds")
    args = parser.parse_args()
    spark = session()
    bench_detection(spark, args.latency_rounds, args.interval)
    bench_restart_gap(spark, args.rounds)
    spark.stop()


if __name__ == "__main__":
    main()
