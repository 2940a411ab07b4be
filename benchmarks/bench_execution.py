"""Execution benchmarks on a local Spark session (``local[2]``), each against a baseline
measured in the same run.

1. **Framework overhead** on the retail demo: ``app.run()`` against the same transforms called
   directly in a loop (plan order; the same reads and writes through ``EntityIO``). The
   difference is what kindling adds per pipe: planning, worker threads, job groups, signals,
   bookkeeping. Target (issue 4): under 5 %.
2. **Concurrent generations** (opt-in): 8 independent small pipes (aggregate a 20,000-row Delta
   table, overwrite a Delta table each), ``concurrency=4`` against sequential.

Rounds alternate between the variants so machine noise hits both. Run:
``python benchmarks/bench_execution.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def session():
    from kindling_core.spark import SparkSettings, get_or_create_session

    return get_or_create_session(SparkSettings(master="local[2]", shuffle_partitions=2))


def demo_app(spark, root: Path):
    from examples.retail import pipeline as demo
    from kindling_core.testing import builtin_entry_points, make_config

    app = demo.build_app(root, config=make_config({}), entry_points=builtin_entry_points())
    return app.use_spark(spark)


def direct_loop(app) -> None:
    """The baseline: the same transforms, reads and writes, no framework."""
    from kindling_core.spark.delta import EntityIO

    io = EntityIO(app.spark, root=app.config.root)
    entities = app.catalog.entities
    pipes = app.catalog.pipes
    order = [p for generation in app.plan().generations for p in generation]
    for pipe_id in order:
        pipe = pipes[pipe_id]
        frames = [io.read(entities[e]) for e in pipe.inputs]
        io.write(entities[pipe.output], pipe.func(*frames), str(pipe.write), pipe=pipe.id)


class TimedRunner:
    """Wraps the Spark runner and sums the time spent inside it (the pipes' own Spark work)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.inside = 0.0

    def run_pipe(self, pipe, context) -> None:
        started = time.perf_counter()
        try:
            self.inner.run_pipe(pipe, context)
        finally:
            self.inside += time.perf_counter() - started

    def cancel(self, context) -> None:
        self.inner.cancel(context)


def bench_overhead(spark, rounds: int):
    from kindling_core.spark.runner import SparkPipeRunner

    framework, direct, bookkeeping = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        app = demo_app(spark, Path(folder) / "lake")
        assert app.run().succeeded  # warm-up: creates every table, JIT-compiles
        direct_loop(app)

        def framework_run() -> None:
            runner = TimedRunner(SparkPipeRunner(spark, app.catalog.entities, root=app.config.root))
            started = time.perf_counter()
            _check(app.run(runner=runner))
            bookkeeping.append(time.perf_counter() - started - runner.inside)

        variants = [(framework, framework_run), (direct, lambda: direct_loop(app))]
        for round_ in range(rounds):
            for samples, call in variants if round_ % 2 == 0 else reversed(variants):  # ABBA order
                started = time.perf_counter()
                call()
                samples.append(time.perf_counter() - started)
    return statistics.median(framework), statistics.median(direct), min(framework), min(direct), statistics.median(bookkeeping)


def _check(result) -> None:
    assert result.succeeded, result.summary_table()


def wide_app(spark, root: Path, width: int = 8):
    from pyspark.sql import functions as F

    from kindling_core.testing import make_app

    app = make_app(config={})
    app.use_spark(spark)
    source = root / "source"
    spark.range(0, 20_000).withColumn("g", F.col("id") % 10).write.format("delta").mode("overwrite").save(str(source))
    app.entity("raw.source", path=str(source))
    for i in range(width):
        app.entity(f"out.t{i}", path=str(root / f"t{i}"))

        def aggregate(frame, column=f"s{i}"):
            return frame.groupBy("g").agg(F.sum("id").alias(column))

        app.pipe(f"wide.p{i}", inputs=["raw.source"], output=f"out.t{i}")(aggregate)
    return app


def bench_concurrency(spark, rounds: int, workers: int = 4) -> tuple[float, float]:
    sequential, concurrent = [], []
    with tempfile.TemporaryDirectory() as folder:
        app = wide_app(spark, Path(folder))
        assert app.run().succeeded and app.run(concurrency=workers).succeeded  # warm-up
        for _ in range(rounds):
            started = time.perf_counter()
            assert app.run().succeeded
            sequential.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert app.run(concurrency=workers).succeeded
            concurrent.append(time.perf_counter() - started)
    return statistics.median(sequential), statistics.median(concurrent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    spark = session()
    framework, direct, framework_min, direct_min, bookkeeping = bench_overhead(spark, args.rounds)
    pipes = 11
    print(f"demo ({pipes} pipes), {args.rounds} rounds in ABBA order: median (min)")
    print(f"  direct loop (baseline)   {direct:8.2f} s ({direct_min:.2f} s)")
    print(
        f"  app.run()                {framework:8.2f} s ({framework_min:.2f} s)   overhead "
        f"{100 * (framework - direct) / direct:+.1f} % median, {100 * (framework_min - direct_min) / direct_min:+.1f} % min"
        f"  ({1000 * (framework - direct) / pipes:+.0f} ms/pipe)"
    )
    print(
        f"  kindling bookkeeping in app.run() (planning, threads, policy, signals: all outside the pipe runner) "
        f"{1000 * bookkeeping:.1f} ms = {100 * bookkeeping / framework:.2f} % ({1000 * bookkeeping / pipes:.2f} ms/pipe)"
    )
    sequential, concurrent = bench_concurrency(spark, args.rounds)
    print(f"8 independent pipes, median of {args.rounds} rounds")
    print(f"  sequential (baseline)    {sequential:8.2f} s")
    print(f"  concurrency=4            {concurrent:8.2f} s   speed-up {sequential / concurrent:.2f}x")


if __name__ == "__main__":
    main()
