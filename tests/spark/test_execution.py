"""Running pipes on a real local Spark session with real Delta tables."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from kindling_core.execution import PipeStatus, RunInterrupted
from kindling_core.execution import signals as sig
from kindling_core.execution.runner import job_tag
from kindling_core.spark.runner import SparkPipeRunner
from kindling_core.testing import RecordingErrorHandler, make_app

pytestmark = pytest.mark.spark


@pytest.fixture
def new_app(spark, tmp_path: Path):
    def factory(plugins=None, **overrides):
        app = make_app(plugins, config={"execution": {"retry-backoff-seconds": 0.05}}, **overrides)
        app.use_spark(spark)
        return app

    return factory


def seed(spark, path: Path, rows: list[tuple], schema: str) -> None:
    spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite").save(str(path))


def version(spark, path: Path) -> int:
    return DeltaTable.forPath(spark, str(path)).history(1).collect()[0]["version"]


def test_failing_pipe_is_named_dependents_skipped_other_outputs_intact(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1, "a"), (2, "b")], "id long, name string")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.good", path=str(tmp_path / "good"))
    app.entity("silver.bad", path=str(tmp_path / "bad"))
    app.entity("gold.after_bad", path=str(tmp_path / "after_bad"))

    @app.pipe("good", inputs=["raw.items"], output="silver.good")
    def good(items):
        return items.withColumn("ok", F.lit(True))

    @app.pipe("bad", inputs=["raw.items"], output="silver.bad")
    def bad(items):
        raise ValueError("column 'price' is not in raw.items")

    @app.pipe("after_bad", inputs=["silver.bad"], output="gold.after_bad")
    def after_bad(rows):
        return rows

    result = app.run(on_failure="skip_dependents")
    assert result.outcome("bad").status is PipeStatus.FAILED
    assert "column 'price' is not in raw.items" in result.outcome("bad").error_message
    assert result.outcome("after_bad").status is PipeStatus.SKIPPED
    assert "'bad' failed" in result.outcome("after_bad").reason
    assert result.outcome("good").status is PipeStatus.SUCCEEDED
    assert spark.read.format("delta").load(str(tmp_path / "good")).count() == 2
    assert not (tmp_path / "bad").exists() and not (tmp_path / "after_bad").exists()


def test_pipe_returning_something_else_than_a_dataframe(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1,)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))

    @app.pipe("listy", inputs=["raw.items"], output="silver.items")
    def listy(items):
        return items.collect()

    outcome = app.run().outcome("listy")
    assert outcome.status is PipeStatus.FAILED
    assert "pipe 'listy' returned list for entity 'silver.items'; expected a Spark DataFrame" in outcome.error_message


def test_schema_conflict_names_the_columns_and_writes_nothing(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1, "x")], "id long, name string")
    seed(spark, tmp_path / "out", [(1, 10)], "id long, amount int")
    before = version(spark, tmp_path / "out")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))

    @app.pipe("conflicting", inputs=["raw.items"], output="silver.items", write="append")
    def conflicting(items):
        return items.select("id", F.col("name").alias("amount"), F.lit(1.5).alias("ratio"))

    outcome = app.run().outcome("conflicting")
    assert outcome.status is PipeStatus.FAILED and outcome.classification.kind == "permanent"
    message = outcome.error_message
    assert "SchemaConflictError" in message and "silver.items" in message
    assert "column amount is int in the table but string in the output" in message
    assert "new column ratio double" in message
    assert outcome.error.columns == ("amount", "ratio")
    assert version(spark, tmp_path / "out") == before


def test_merge_without_merge_keys(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1,)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))

    @app.pipe("merger", inputs=["raw.items"], output="silver.items", write="merge")
    def merger(items):
        return items

    outcome = app.run().outcome("merger")
    assert outcome.status is PipeStatus.FAILED
    assert "merges into entity 'silver.items', which declares no merge_keys" in outcome.error_message
    assert "merge_keys=['id']" in str(outcome.error)


def test_merge_upserts_on_merge_keys(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1, "new-a"), (3, "c")], "id long, name string")
    seed(spark, tmp_path / "out", [(1, "old-a"), (2, "b")], "id long, name string")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"), merge_keys=["id"])

    @app.pipe("upsert", inputs=["raw.items"], output="silver.items", write="merge")
    def upsert(items):
        return items

    assert app.run().succeeded
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(str(tmp_path / "out")).collect())
    assert rows == [(1, "new-a"), (2, "b"), (3, "c")]


def test_location_not_writable(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1,)], "id long")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(blocker / "items"))

    @app.pipe("blocked", inputs=["raw.items"], output="silver.items")
    def blocked(items):
        return items

    outcome = app.run().outcome("blocked")
    assert outcome.status is PipeStatus.FAILED
    assert "cannot write entity 'silver.items'" in outcome.error_message
    assert "is a file, not a folder" in outcome.error_message


def test_transient_failure_is_retried_on_spark(spark, new_app, tmp_path: Path) -> None:
    recorder = RecordingErrorHandler()
    app = new_app({"rec": recorder})
    seed(spark, tmp_path / "raw", [(1,), (2,)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))
    calls = []

    @app.pipe("flaky", inputs=["raw.items"], output="silver.items")
    def flaky(items):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("Connection reset by peer while reading the source")
        return items

    result = app.run()
    outcome = result.outcome("flaky")
    assert outcome.status is PipeStatus.SUCCEEDED and outcome.attempts == 2
    assert [e.context["will_retry"] for e in recorder.events] == [True]
    assert spark.read.format("delta").load(str(tmp_path / "out")).count() == 2


def slow_pipe_app(new_app, spark, tmp_path: Path, seconds: float):
    app = new_app()
    seed(spark, tmp_path / "raw", [(i,) for i in range(4)], "id long")
    seed(spark, tmp_path / "out", [(100,)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))

    @F.udf("long")
    def slow(value):
        import time as _time

        _time.sleep(seconds)
        return value

    @app.pipe("slow", inputs=["raw.items"], output="silver.items", write="append")
    def slow_pipe(items):
        return items.select(slow("id").alias("id"))

    return app


def running_jobs_of(spark, tag: str) -> list[int]:
    tracker = spark.sparkContext.statusTracker()
    return sorted(set(tracker.getJobIdsForGroup(tag)) & set(tracker.getActiveJobsIds()))


def attempt_tags(app) -> list[str]:
    """The job tags of the attempts ``app`` starts (filled as ``pipe.before`` fires)."""
    tags: list[str] = []
    app.signals.connect(sig.PIPE_BEFORE, lambda sender, payload: tags.append(job_tag(payload.run_id, payload.pipe_id, payload.attempt)))
    return tags


def test_timeout_cancels_spark_jobs_and_commits_nothing(spark, new_app, tmp_path: Path) -> None:
    # 4 rows x 60 s on 2 cores: uncancelled, the job would outlive the 60 s cancel grace period.
    app = slow_pipe_app(new_app, spark, tmp_path, seconds=60)
    tags = attempt_tags(app)
    before = version(spark, tmp_path / "out")
    result = app.run(timeout_seconds=3)
    outcome = result.outcome("slow")
    assert outcome.status is PipeStatus.TIMED_OUT
    assert "timed out after 3s; its Spark jobs were cancelled" in outcome.error_message
    assert outcome.attempts == 1 and running_jobs_of(spark, tags[0]) == []
    assert version(spark, tmp_path / "out") == before
    assert [r.id for r in spark.read.format("delta").load(str(tmp_path / "out")).collect()] == [100]


def test_a_job_submitted_after_the_cancel_is_cancelled_too(spark, new_app, tmp_path: Path) -> None:
    """The timeout fires while the pipe is in driver-side Python (no Spark job yet); the slow
    job it submits after the cancel must still be stopped, not waited out."""
    app = new_app()
    seed(spark, tmp_path / "raw", [(i,) for i in range(4)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))
    tags = attempt_tags(app)
    cancel_sent = threading.Event()

    class CancelObservingRunner(SparkPipeRunner):
        def cancel(self, context) -> None:
            super().cancel(context)
            cancel_sent.set()

    @F.udf("long")
    def slow(value):
        import time as _time

        _time.sleep(60)
        return value

    @app.pipe("late", inputs=["raw.items"], output="silver.items")
    def late(items):
        assert cancel_sent.wait(60), "the timeout never cancelled"
        items.select(slow("id").alias("id")).collect()  # submitted after the cancel
        return items

    runner = CancelObservingRunner(spark, app.catalog.entities, root=tmp_path)
    result = app.run(timeout_seconds=2, runner=runner)
    outcome = result.outcome("late")
    assert outcome.status is PipeStatus.TIMED_OUT
    assert "its Spark jobs were cancelled" in outcome.error_message, outcome.error_message
    assert running_jobs_of(spark, tags[0]) == []
    assert not (tmp_path / "out").exists()


def slow_job_running(spark, tags: list[str]) -> bool:
    return bool(tags) and bool(running_jobs_of(spark, tags[-1]))


def test_keyboard_interrupt_mid_run_leaves_no_half_written_table(spark, new_app, tmp_path: Path, stray_sigints) -> None:
    app = slow_pipe_app(new_app, spark, tmp_path, seconds=60)
    tags = attempt_tags(app)
    before = version(spark, tmp_path / "out")
    pressed = threading.Event()

    def press_ctrl_c_once_the_pipe_runs() -> None:
        deadline = time.monotonic() + 60
        while not slow_job_running(spark, tags) and time.monotonic() < deadline:
            time.sleep(0.1)
        if slow_job_running(spark, tags):
            pressed.set()
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c_once_the_pipe_runs, daemon=True).start()
    with pytest.raises(RunInterrupted) as info:
        app.run()
    assert pressed.is_set() and stray_sigints == []
    assert info.value.result.outcome("slow").status is PipeStatus.CANCELLED
    assert running_jobs_of(spark, tags[0]) == []
    assert version(spark, tmp_path / "out") == before
    assert [r.id for r in spark.read.format("delta").load(str(tmp_path / "out")).collect()] == [100]


def test_concurrent_generation_isolates_pipes_in_job_groups_and_pools(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(i, i % 3) for i in range(30)], "id long, g long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    seen: dict[str, tuple[str, str]] = {}
    for i in range(4):
        app.entity(f"out.t{i}", path=str(tmp_path / f"t{i}"))

        def aggregate(items, i=i):
            context = spark.sparkContext
            seen[f"wide.p{i}"] = (context.getLocalProperty("spark.jobGroup.id"), context.getLocalProperty("spark.scheduler.pool"))
            return items.groupBy("g").agg(F.sum("id").alias("total")).withColumn("pipe", F.lit(i))

        app.pipe(f"wide.p{i}", inputs=["raw.items"], output=f"out.t{i}")(aggregate)

    result = app.run(concurrency=4)
    assert result.succeeded, result.summary_table()
    groups = {pipe: group for pipe, (group, _) in seen.items()}
    assert len(set(groups.values())) == 4 and all(pipe in group for pipe, group in groups.items())
    assert {pipe: pool for pipe, (_, pool) in seen.items()} == {f"wide.p{i}": f"wide.p{i}" for i in range(4)}
    for i in range(4):
        rows = sorted(tuple(r) for r in spark.read.format("delta").load(str(tmp_path / f"t{i}")).collect())
        assert rows == [(0, 135, i), (1, 145, i), (2, 155, i)]


def test_missing_table_is_created_with_declared_schema_partitioning_and_cdf(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "raw", [(1, "2026-01-01", 9.5)], "id long, day string, amount double")
    app.entity("raw.sales", path=str(tmp_path / "raw"))
    app.entity(
        "silver.sales",
        path=str(tmp_path / "sales"),
        schema="id BIGINT, day STRING, amount DOUBLE",
        partition_by=["day"],
        change_data_feed=True,
    )

    @app.pipe("sales", inputs=["raw.sales"], output="silver.sales", write="append")
    def sales(raw):
        return raw

    assert app.run().succeeded
    detail = DeltaTable.forPath(spark, str(tmp_path / "sales")).detail().first()
    assert list(detail["partitionColumns"]) == ["day"]
    assert detail["properties"].get("delta.enableChangeDataFeed") == "true"
    changes = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(str(tmp_path / "sales"))
    assert changes.where("_change_type = 'insert'").count() == 1


def test_streaming_pipe_processes_what_is_available_then_only_new_data(spark, new_app, tmp_path: Path) -> None:
    app = new_app()
    seed(spark, tmp_path / "events", [(1, 10), (2, 20)], "customer_id long, amount long")
    seed(spark, tmp_path / "customers", [(1, "gold"), (2, "silver")], "customer_id long, tier string")
    app.entity("bronze.events", path=str(tmp_path / "events"))
    app.entity("silver.customers", path=str(tmp_path / "customers"), kind="dimension")
    app.entity("silver.events", path=str(tmp_path / "out"))

    @app.pipe(
        "enrich_events",
        inputs=["bronze.events", "silver.customers"],
        output="silver.events",
        mode="streaming",
        dimensions=["silver.customers"],
        options={"checkpoint": str(tmp_path / "checkpoint")},
    )
    def enrich(events, customers):
        assert events.isStreaming and not customers.isStreaming
        return events.join(customers, "customer_id")

    assert app.run().succeeded
    output = tmp_path / "out"
    assert sorted(tuple(r) for r in spark.read.format("delta").load(str(output)).collect()) == [(1, 10, "gold"), (2, 20, "silver")]
    spark.createDataFrame([(1, 30)], "customer_id long, amount long").write.format("delta").mode("append").save(str(tmp_path / "events"))
    assert app.run().succeeded
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(str(output)).collect())
    assert rows == [(1, 10, "gold"), (1, 30, "gold"), (2, 20, "silver")]  # nothing reprocessed


def test_python_udf_over_a_delta_input_completes(spark, new_app, tmp_path: Path) -> None:
    """Regression: with Spark 4.2's default Arrow-optimised Python UDFs, a plain ``F.udf`` over
    a file scan deadlocked; kindling's sessions switch that default off. Bounded by a timeout,
    so a deadlock fails this test instead of hanging the suite."""
    app = new_app()
    seed(spark, tmp_path / "raw", [(1,), (2,), (3,)], "id long")
    app.entity("raw.items", path=str(tmp_path / "raw"))
    app.entity("silver.items", path=str(tmp_path / "out"))

    @app.pipe("udf", inputs=["raw.items"], output="silver.items")
    def with_udf(items):
        doubled = F.udf(lambda value: value * 2, "long")
        return items.select(doubled("id").alias("twice"))

    result = app.run(timeout_seconds=90)
    assert result.succeeded, result.summary_table()
    rows = sorted(r.twice for r in spark.read.format("delta").load(str(tmp_path / "out")).collect())
    assert rows == [2, 4, 6]
