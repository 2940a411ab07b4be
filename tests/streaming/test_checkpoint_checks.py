"""Checkpoint validation without Spark: the structure of crafted checkpoint folders, where a
clean start resumes (Delta's offset sentinels), the plan fingerprint checked before a start on
the fake driver, the on_checkpoint_mismatch policy, app.streams.clean_start() and a recovery's
clean start. The same on real Spark and Delta: tests/spark/test_checkpoint_validation.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kindling_core.model.errors import DeclarationError, InvalidChoiceError
from kindling_core.streaming.checkpoint_check import inspect_checkpoint
from kindling_core.streaming.driver import ResumeFacts
from kindling_core.streaming.errors import (
    CheckpointError,
    CheckpointMismatchError,
    CleanStartRefusedError,
    CleanStartUnavailableError,
)
from kindling_core.streaming.fingerprint import PlanFingerprint, PlanSource, read_fingerprint, write_fingerprint
from kindling_core.streaming.manager import StreamManager
from kindling_core.streaming.resume import END_INDEX, ResumeRefused, resume_point
from kindling_core.streaming.state import QueryState
from kindling_core.testing import RecordingErrorHandler, make_app
from kindling_core.testing.streams import FakeStreamDriver

S = QueryState
TABLE = "65628ac4-1301-4ce2-8c9c-4272f95807d9"


def delta_offset(version: int, index: int = -1, snapshot: bool = False, table: str = TABLE) -> str:
    offset = {"sourceVersion": 1, "reservoirId": table, "reservoirVersion": version, "index": index, "isStartingVersion": snapshot}
    return json.dumps(offset)


def craft(folder: Path, offsets: dict[int, list[str]], commits: list[int], *, query_id: str | None = "q-1") -> Path:
    """A checkpoint folder as Spark writes it: metadata, offsets/<id> (version line, batch
    metadata, one line per source) and commits/<id>, plus Spark's .crc files."""
    (folder / "offsets").mkdir(parents=True, exist_ok=True)
    (folder / "commits").mkdir(exist_ok=True)
    if query_id is not None:
        (folder / "metadata").write_text(json.dumps({"id": query_id}) + "\n")
    for batch, sources in offsets.items():
        (folder / "offsets" / str(batch)).write_text("\n".join(["v1", '{"batchWatermarkMs":0,"conf":{}}', *sources]))
        (folder / "offsets" / f".{batch}.crc").write_bytes(b"\x00\xff")
    for batch in commits:
        (folder / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    return folder


# ---------------------------------------------------------------------- structure


def test_a_sound_checkpoint_has_no_problem_even_after_spark_purged_old_batches(tmp_path: Path) -> None:
    folder = craft(tmp_path / "cp", {5: [delta_offset(3)], 6: [delta_offset(4)], 7: [delta_offset(5)]}, [5, 6])
    report = inspect_checkpoint(str(folder))
    assert report.ok and report.inspected and report.query_id == "q-1"
    assert report.offsets == (5, 6, 7) and report.commits == (5, 6)
    assert report.last_committed == 6 and report.uncommitted == 7
    assert not inspect_checkpoint(str(tmp_path / "none")).exists


@pytest.mark.parametrize(
    ("offsets", "commits", "query_id", "expected"),
    [
        ({0: ["-"], 2: ["-"]}, [0], "q", "offsets lacks batch 1 (it holds 0..2); Spark refuses a log with gaps"),
        ({0: ["-"], 1: ["-"], 2: ["-"]}, [0, 2], "q", "commits lacks batch 1"),
        ({0: ["-"]}, [0, 1], "q", "commits records batch 1 but the last planned batch in offsets/ is 0"),
        ({0: ["-"], 1: ["-"], 2: ["-"]}, [0], "q", "holds batches up to 2 but the last committed one is 0"),
        ({0: ["-"]}, [], None, "metadata is missing but batches were recorded; the query id is lost"),
    ],
)
def test_structure_problems_are_named_with_a_remedy(
    tmp_path: Path, offsets: dict[int, list[str]], commits: list[int], query_id: str | None, expected: str
) -> None:
    report = inspect_checkpoint(str(craft(tmp_path / "cp", offsets, commits, query_id=query_id)))
    assert not report.ok
    assert any(expected in problem.reason for problem in report.problems), report.problems
    assert all("clean-start the pipe" in problem.remedy for problem in report.problems)


def test_unreadable_metadata_and_offsets_files_are_problems(tmp_path: Path) -> None:
    folder = craft(tmp_path / "cp", {0: ["-"]}, [])
    (folder / "metadata").write_text("not json")
    (folder / "offsets" / "0").write_text("")
    reasons = [p.reason for p in inspect_checkpoint(str(folder)).problems]
    assert any("metadata does not hold the query id Spark wrote (JSONDecodeError" in r for r in reasons)
    assert any("the last offsets file is unreadable" in r and "does not start with a log version line" in r for r in reasons)
    (tmp_path / "file").write_text("x")
    assert "is a file, not a checkpoint folder" in inspect_checkpoint(str(tmp_path / "file")).describe()


def test_a_remote_checkpoint_is_not_inspected() -> None:
    report = inspect_checkpoint("abfss://lake@acct.dfs.core.windows.net/checkpoints/orders")
    assert not report.inspected and report.ok
    assert "was not inspected (a remote location; kindling inspects local checkpoints only)" in report.describe()


# ---------------------------------------------------------------------- where a clean start resumes


def point(folder: Path, *, sink: int | None = None, known: bool = True, sources: dict[str, str] | None = None) -> Any:
    report = inspect_checkpoint(str(folder))
    return resume_point(report, sink_batch=sink, sink_known=known, sources={TABLE: "bronze.orders"} if sources is None else sources)


def test_resume_at_the_version_after_the_last_committed_batch(tmp_path: Path) -> None:
    # BASE_INDEX (-1 serialised, -100 in memory): that version is next; END_INDEX: the next one
    folder = craft(tmp_path / "cp", {0: [delta_offset(1)], 1: [delta_offset(4)]}, [0, 1])
    assert point(folder).versions == {"bronze.orders": 4} and point(folder).batch == 1
    craft(folder, {1: [delta_offset(4, -100)]}, [0, 1])
    assert point(folder).versions == {"bronze.orders": 4}
    craft(folder, {1: [delta_offset(4, END_INDEX)]}, [0, 1])
    assert point(folder).versions == {"bronze.orders": 5}


def test_an_uncommitted_batch_counts_only_when_the_sink_holds_it(tmp_path: Path) -> None:
    folder = craft(tmp_path / "cp", {0: [delta_offset(1)], 1: [delta_offset(3)], 2: [delta_offset(6)]}, [0, 1])
    assert point(folder, sink=1).versions == {"bronze.orders": 3}  # batch 2 never reached the sink
    assert point(folder, sink=None).versions == {"bronze.orders": 3}
    assert point(folder, sink=2).versions == {"bronze.orders": 6}  # it did: resume after it
    with pytest.raises(ResumeRefused, match="batch 2 was planned but not committed, and the output cannot tell"):
        point(folder, known=False)


def test_nothing_processed_resumes_from_the_beginning(tmp_path: Path) -> None:
    folder = craft(tmp_path / "cp", {0: [delta_offset(1)]}, [])
    resumed = point(folder, sink=None)
    assert resumed.batch is None and resumed.versions == {} and "from the beginning" in resumed.describe()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (delta_offset(3, 7), f"stopped in the middle of Delta table {TABLE} at version 3 (after file index 7"),
        (delta_offset(0, 2, snapshot=True), "stopped inside its initial snapshot of Delta table"),
        (delta_offset(3, -20), "stopped at a schema change of Delta table"),
        (delta_offset(3, table="other"), "read Delta table other, which none of the pipe's streamed inputs is now (bronze.orders)"),
        ('{"logOffset":4}', "source 1 of batch 0 is not a Delta table"),
    ],
)
def test_an_inexact_resume_is_refused_with_the_reason(tmp_path: Path, line: str, message: str) -> None:
    folder = craft(tmp_path / "cp", {0: [line]}, [0])
    with pytest.raises(ResumeRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        point(folder)


# ---------------------------------------------------------------------- the policy declaration


def test_the_policy_is_validated_at_declaration() -> None:
    app = make_app()
    app.entity("bronze.orders", path="lake/bronze/orders")
    app.entity("silver.orders", path="lake/silver/orders")
    with pytest.raises(InvalidChoiceError) as caught:
        app.pipe("orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", on_checkpoint_mismatch="clean_start")(
            lambda o: o
        )
    assert "pipe 'orders': on_checkpoint_mismatch must be one of 'fail', 'clean-start', got 'clean_start'" in str(caught.value)
    assert "Did you mean 'clean-start'?" in str(caught.value) and caught.value.culprit == "orders"
    with pytest.raises(DeclarationError, match="pipe 'daily' is a batch pipe but declares on_checkpoint_mismatch="):
        app.pipe("daily", inputs=["bronze.orders"], output="silver.orders", on_checkpoint_mismatch="clean-start")(lambda o: o)
    declare = app.pipe("orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", on_checkpoint_mismatch="clean-start")
    declare(lambda o: o)
    assert app.catalog.pipes["orders"].on_checkpoint_mismatch == "clean-start"


# ---------------------------------------------------------------------- the manager, on the fake driver


class Harness:
    def __init__(self, tmp_path: Path, **pipe: Any) -> None:
        self.recorder = RecordingErrorHandler()
        self.app = make_app(
            {"recorder": self.recorder},
            config={"streaming": {"watchdog-interval-seconds": 3600}, "recovery": {"backoff-seconds": 0.01, "healthy-batches": 1}},
        )
        object.__setattr__(self.app.config, "root", tmp_path)
        self.app.entity("bronze.orders", path="lake/bronze/orders")
        self.app.entity("silver.orders", path="lake/silver/orders")
        self.app.pipe("orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", write="append", **pipe)(lambda o: o)
        self.driver = FakeStreamDriver()
        self.driver.resume["orders"] = ResumeFacts(sink_batch=1, source_ids={TABLE: "bronze.orders"})
        self.streams = StreamManager(self.app, driver=self.driver)
        self.checkpoint = tmp_path / ".kindling" / "checkpoints" / "orders"

    def batches(self, *offsets: int, committed: int | None = None) -> None:
        """The query planned (and committed) batches reading up to these Delta versions."""
        done = len(offsets) if committed is None else committed
        craft(self.checkpoint, {i: [delta_offset(v)] for i, v in enumerate(offsets)}, list(range(done)))

    def change_plan(self) -> None:
        self.driver.plan["orders"] = PlanFingerprint(
            "struct<customer:string,count:bigint>", ("aggregate",), [PlanSource("bronze.orders", "delta", "lake/bronze/orders")]
        )

    def moved(self) -> list[Path]:
        return sorted(self.checkpoint.parent.glob("orders.moved-*"))


def test_the_fingerprint_is_stored_at_the_first_start_and_a_changed_plan_is_refused_before_spark_starts(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams, driver = harness.streams, harness.driver
    streams.start()
    stored = read_fingerprint(str(harness.checkpoint))
    assert stored is not None and stored.sources == (PlanSource("bronze.orders", "delta", "lake/bronze/orders"),)
    harness.batches(1, 2)
    streams.restart("orders")  # unchanged: restarts
    assert driver.starts["kindling_orders"] == 2
    harness.change_plan()
    with pytest.raises(CheckpointMismatchError) as caught:
        streams.restart("orders")
    error = caught.value
    assert driver.starts["kindling_orders"] == 2 and streams.query_status("orders").state is S.RUNNING  # never stopped
    assert error.pipe == "orders" and error.checkpoint == str(harness.checkpoint)
    message = str(error)
    assert f"streaming pipe 'orders' no longer matches its checkpoint {harness.checkpoint}" in message
    assert "the output schema changed from struct<fake> to struct<customer:string,count:bigint>" in message
    assert "the stateful operators changed from none to [aggregate]" in message
    assert "app.streams.clean_start('orders', reason=...)" in error.remedy and "on_checkpoint_mismatch='clean-start'" in error.remedy
    streams.stop()
    with pytest.raises(CheckpointMismatchError):
        streams.start()
    assert driver.starts["kindling_orders"] == 2 and harness.moved() == []
    streams.close()


def test_a_checkpoint_without_a_fingerprint_is_accepted_and_fingerprinted(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.batches(1, 2)  # made before kindling fingerprinted, or by another tool
    harness.change_plan()
    harness.streams.start()
    assert harness.driver.starts["kindling_orders"] == 1
    assert read_fingerprint(str(harness.checkpoint)) == harness.driver.plan["orders"]
    harness.streams.close()


def test_a_damaged_checkpoint_is_refused_before_start(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    craft(harness.checkpoint, {0: ["-"], 2: ["-"]}, [0])
    with pytest.raises(CheckpointError) as caught:
        harness.streams.start()
    assert f"streaming pipe 'orders' cannot start on its checkpoint {harness.checkpoint}" in str(caught.value)
    assert "offsets lacks batch 1" in str(caught.value) and "clean-start the pipe" in caught.value.remedy
    assert harness.driver.starts["kindling_orders"] == 0
    harness.streams.close()


def test_policy_clean_start_moves_the_checkpoint_aside_and_resumes_after_the_old_batches(tmp_path: Path) -> None:
    harness = Harness(tmp_path, on_checkpoint_mismatch="clean-start")
    harness.streams.start()
    harness.streams.stop()
    harness.batches(1, 4, 6, committed=2)  # batch 2 planned; the sink holds batches 0 and 1 only
    harness.change_plan()
    harness.streams.start()
    (moved,) = harness.moved()
    assert (moved / "offsets" / "2").is_file() and not (harness.checkpoint / "offsets").exists()
    assert dict(harness.driver.pipe_starts[-1].starting_versions) == {"bronze.orders": 4}
    assert read_fingerprint(str(harness.checkpoint)) == harness.driver.plan["orders"]
    harness.streams.restart("orders")  # the new query planned no batch yet: Spark reads startingVersion again
    assert dict(harness.driver.pipe_starts[-1].starting_versions) == {"bronze.orders": 4} and len(harness.moved()) == 1
    harness.batches(4, 5)  # it did now: an ordinary restart
    harness.streams.restart("orders")
    assert dict(harness.driver.pipe_starts[-1].starting_versions) == {} and len(harness.moved()) == 1
    harness.streams.close()


def test_clean_start_on_request_and_its_refusal(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams = harness.streams
    streams.start()
    harness.batches(1, 3)
    status = streams.clean_start("orders", reason="reprocess after a fix")
    assert status.state is S.RUNNING and status.restarts == 1 and len(harness.moved()) == 1
    assert dict(harness.driver.pipe_starts[-1].starting_versions) == {"bronze.orders": 3}
    craft(harness.checkpoint, {0: [delta_offset(3, 7)]}, [0])  # the new query stopped mid-version
    streams.stop()
    with pytest.raises(CleanStartRefusedError) as caught:
        streams.clean_start("orders", reason="again")
    assert "streaming pipe 'orders' cannot be clean-started: the old query stopped in the middle of Delta table" in str(caught.value)
    assert f"Nothing was moved; its checkpoint {harness.checkpoint} is unchanged" in str(caught.value)
    assert len(harness.moved()) == 1 and harness.driver.starts["kindling_orders"] == 2
    with pytest.raises(Exception, match="'nope' is not a streaming pipe"):
        streams.clean_start("nope", reason="x")
    streams.close()


CHECKPOINT = (
    "org.apache.spark.SparkRuntimeException: [STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA] Streaming stateful "
    "operator name does not match with the operator in state metadata."
)


def fail_on_checkpoint(driver: FakeStreamDriver) -> None:
    """The query dies of a checkpoint failure: the built-in strategy asks for a clean start."""
    driver.fail("kindling_orders", CHECKPOINT, error_class="STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA")


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.005)


def test_a_recovery_clean_start_moves_the_checkpoint_aside_and_restarts(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams, driver = harness.streams, harness.driver
    streams.start()
    harness.batches(2, 5)
    fail_on_checkpoint(driver)
    wait_until(lambda: driver.starts["kindling_orders"] == 2 and streams.query_status("orders").state is S.RUNNING)
    assert len(harness.moved()) == 1 and dict(driver.pipe_starts[-1].starting_versions) == {"bronze.orders": 5}
    assert harness.recorder.events == []
    streams.close()


def test_a_recovery_clean_start_that_cannot_be_exact_is_declined_with_the_reason(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams, driver = harness.streams, harness.driver
    streams.start()
    craft(harness.checkpoint, {0: [delta_offset(2)], 1: [delta_offset(4, 3)]}, [0, 1])
    fail_on_checkpoint(driver)
    wait_until(lambda: len(harness.recorder.events) == 1)
    error = harness.recorder.events[0].error
    assert isinstance(error, CleanStartUnavailableError) and error.checkpoint == str(harness.checkpoint)
    assert "streaming pipe 'orders' needs a clean start from a fresh checkpoint" in str(error)
    assert "(recovery strategy 'clean-start-on-checkpoint'" in str(error)
    assert "kindling cannot clean-start it: the old query stopped in the middle of Delta table" in str(error)
    assert f"checkpoint {harness.checkpoint} is unchanged" in str(error) and harness.moved() == []
    assert streams.query_status("orders").state is S.FAILED and driver.starts["kindling_orders"] == 1
    streams.close()


# ---------------------------------------------------------------------- fingerprints

AGGREGATE_PLAN = """== Physical Plan ==
*(4) HashAggregate(keys=[_groupingexpression#337L], functions=[count(1)])
+- StateStoreSave [_groupingexpression#337L], state info [ checkpoint = <unknown>, opId = 0, ver = 0, numPartitions = 2], Append
   +- *(3) HashAggregate(keys=[_groupingexpression#337L], functions=[merge_count(1)])
      +- StateStoreRestore [_groupingexpression#337L], state info [ checkpoint = <unknown>, opId = 0, ver = 0, numPartitions = 2]
         +- Exchange hashpartitioning(_groupingexpression#337L, 2), REQUIRED_BY_STATEFUL_OPERATOR, [plan_id=95]
            +- StreamingRelation delta, [id#322L]
"""
JOINS_PLAN = """== Physical Plan ==
StreamingDeduplicate [id#322L], state info [ checkpoint = <unknown>, opId = 0, ver = 0, numPartitions = 2]
+- *(3) Project [id#322L, k#326L]
   +- StreamingSymmetricHashJoin [id#322L], [id#325L], Inner, condition = [ leftOnly = null ], state info [ opId = 0 ]
      :- StreamingRelation delta, [id#322L]
      +- BroadcastHashJoin [id#322L], [id#327L], Inner, BuildRight, false, false
         :- StreamingRelation delta, [id#325L, k#326L]
         +- FileScan parquet [id#327L,k#328L] Batched: true
"""


def test_stateful_operators_are_read_from_the_explained_streaming_plan() -> None:
    from kindling_core.spark.streams import stateful_operators  # pyspark is imported lazily there

    # explain texts of Spark 4.2 streaming DataFrames (shortened): a stream-static join keeps no state
    assert stateful_operators(AGGREGATE_PLAN) == ("aggregate",)
    assert stateful_operators(JOINS_PLAN) == ("deduplicate", "stream-stream join")
    assert stateful_operators("== Physical Plan ==\nStreamingRelation delta, [id#335L]\n") == ()


def test_fingerprint_differences_and_storage(tmp_path: Path) -> None:
    source = PlanSource("bronze.orders", "delta", "/lake/bronze/orders")
    before = PlanFingerprint("struct<id:bigint>", (), [source], "append")
    after = PlanFingerprint("struct<id:bigint>", (), [source, PlanSource("bronze.refunds", "delta", "/lake/refunds")], "merge")
    assert before.differences(before) == ()
    assert before.differences(after) == (
        "the streamed sources changed from [bronze.orders (delta at /lake/bronze/orders)] to "
        "[bronze.orders (delta at /lake/bronze/orders), bronze.refunds (delta at /lake/refunds)]",
        "the write mode changed from append to merge",
    )
    checkpoint = str(tmp_path / "cp")
    assert read_fingerprint(checkpoint) is None
    write_fingerprint(checkpoint, after)
    assert read_fingerprint(checkpoint) == after
    assert read_fingerprint("s3a://bucket/cp") is None and write_fingerprint("s3a://bucket/cp", after) is None


def test_an_unreadable_kindling_file_is_refused_with_its_path(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.batches(1)
    broken = harness.checkpoint / "_kindling" / "fingerprint.json"
    broken.parent.mkdir()
    broken.write_text('{"schema": 1}')
    with pytest.raises(CheckpointError) as caught:
        harness.streams.start()
    assert f"a file kindling keeps beside its checkpoint is unreadable: {broken}: not a kindling plan fingerprint" in str(caught.value)
    assert "Spark's files are untouched" in caught.value.remedy and harness.driver.starts["kindling_orders"] == 0
    harness.streams.close()
