"""Fixtures for the Spark/Delta tests: one local Delta-enabled SparkSession per test run.

pyspark is imported unconditionally on purpose: CI installs it (scripts/setup-spark.sh), so a
missing pyspark must fail loudly rather than skip.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyspark  # noqa: F401  (fail fast when the Spark toolchain is not installed)
import pytest
from pyspark.sql import SparkSession

from kindling_core.spark import SparkSettings, get_or_create_session


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """A ``local[2]`` SparkSession with Delta Lake, its warehouse in a temporary folder."""
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = get_or_create_session(
        SparkSettings(
            master="local[2]",
            app_name="kindling-tests",
            shuffle_partitions=2,
            warehouse_dir=warehouse,
            # C1-only JIT: roughly halves JVM start-up and first-query time for short test runs; a larger
            # code cache, or a long suite fills it ("CodeCache is full. Compiler has been disabled").
            extra_conf={"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"},
        )
    )
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def no_spark_jobs_left_running() -> Iterator[None]:
    """Fail the test that leaves Spark jobs running (and cancel them), instead of letting them
    hold the two local cores and confuse the tests that follow (a leaked 60 s job once made a
    later test wait on it)."""
    yield
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return
    tracker = context.statusTracker()
    deadline = time.monotonic() + 15
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = tracker.getActiveJobsIds()
    if leftover:
        context.cancelAllJobs()
        pytest.fail(f"the test left Spark jobs {sorted(leftover)} running (cancelled now)")
