"""Benchmark: latest version of 50 Delta tables -- the log probe against ``history(1)``.

Run ``python benchmarks/bench_version_probe.py [--tables 50] [--commits 3] [--repeats 5]``.

Creates ``--tables`` tiny Delta tables (``--commits`` commits each) in a temporary folder on a
``local[2]`` session, then, in the same run, times:

* baseline: ``DeltaTable.forPath(spark, p).history(1).collect()`` for every table, one by one;
* ``probe_versions(spark, paths)`` (backend ``auto``: plain Python for local paths);
* ``probe_versions(spark, paths, backend="hadoop")`` (the session's Hadoop FileSystem via Py4J,
  what remote stores use);
* ``probe_versions(spark, paths, backend="hadoop")`` again with ``since`` for every table.

Every figure is the minimum over ``--repeats`` runs (the baseline over ``min(repeats, 3)``, after
one warm-up pass that loads Delta's log cache, which favours the baseline). The answers are
checked against the baseline's versions before anything is timed. Target: the probe at least
20x faster than the baseline.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kindling_core.spark import SparkSettings, get_or_create_session
from kindling_core.spark.probe import ProbeStatus, probe_versions

TARGET = 20.0


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Minimum wall time of ``fn`` over ``repeats`` runs, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--commits", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    spark = get_or_create_session(
        SparkSettings(
            master="local[2]",
            app_name="bench-version-probe",
            shuffle_partitions=2,
            extra_conf={
                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
                "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            },
        )
    )
    from delta.tables import DeltaTable

    root = Path(tempfile.mkdtemp(prefix="kindling-bench-probe-"))
    try:
        paths = [str(root / f"t{i:03d}") for i in range(args.tables)]
        start = time.perf_counter()
        for i, path in enumerate(paths):
            spark.range(i, i + 2).write.format("delta").save(path)
            for c in range(1, args.commits):
                spark.range(c, c + 1).write.format("delta").mode("append").save(path)
        setup_s = time.perf_counter() - start

        def baseline() -> dict[str, int]:
            return {p: DeltaTable.forPath(spark, p).history(1).collect()[0]["version"] for p in paths}

        expected = baseline()  # warm-up pass; also the oracle
        for backend in ("auto", "hadoop"):
            got = probe_versions(spark, paths, backend=backend)
            bad = {p: i for p, i in got.items() if i.status is not ProbeStatus.OK or i.version != expected[p]}
            if bad:
                raise SystemExit(f"probe ({backend}) disagrees with history(): {bad}")
        since = {p: 0 for p in paths}

        rows = [
            ("history(1) per table (baseline)", best_of(min(args.repeats, 3), baseline)),
            ("probe_versions (auto = local)", best_of(args.repeats, lambda: probe_versions(spark, paths))),
            ("probe_versions (hadoop FS)", best_of(args.repeats, lambda: probe_versions(spark, paths, backend="hadoop"))),
            (
                "probe_versions (hadoop FS, since=0)",
                best_of(args.repeats, lambda: probe_versions(spark, paths, since=since, backend="hadoop")),
            ),
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)

    import pyspark

    base = rows[0][1]
    print(
        f"version probe: {args.tables} tables x {args.commits} commits, local[2], "
        f"pyspark {pyspark.__version__}, Python {platform.python_version()}, setup {setup_s:.1f}s"
    )
    print(f"{'method':40} {'total ms':>10} {'ms/table':>10} {'speed-up':>10}")
    for name, ms in rows:
        print(f"{name:40} {ms:10.1f} {ms / args.tables:10.3f} {base / ms:9.1f}x")
    worst = min(base / ms for _, ms in rows[1:])
    verdict = "meets" if worst >= TARGET else "MISSES"
    print(f"slowest probe variant is {worst:.1f}x faster than the baseline: {verdict} the {TARGET:.0f}x target")
    spark.stop()
    return 0 if worst >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
