"""The latest-version probe (kindling_core.spark.probe) against Delta's own history.

One table is driven through create, appends, MERGE, OPTIMIZE, VACUUM, SET TBLPROPERTIES and a
checkpoint (every 10 commits); after every step both log backends (plain Python and the
session's Hadoop FileSystem) are probed, and at the end every answer is checked against
``DeltaTable.history()``. Copies of that table's folder give the log-cleanup and corruption
cases without more Spark work.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from kindling_core.errors import KindlingError
from kindling_core.model import Entity
from kindling_core.spark.delta import EntityIO
from kindling_core.spark.probe import (
    DeltaVersionProbe,
    ProbeArgumentError,
    ProbeStatus,
    ProbeTableError,
    VersionInfo,
    probe_entities,
    probe_versions,
)

pytestmark = pytest.mark.spark

LOG_BACKENDS = ("local", "hadoop")
# What each step of the scenario does, by version, and whether it changes data.
STEPS: list[tuple[str, bool]] = [
    ("WRITE", True),  # 0 create with rows
    ("WRITE", True),  # 1 append
    ("MERGE", True),  # 2
    ("OPTIMIZE", False),  # 3
    ("VACUUM START", False),  # 4
    ("VACUUM END", False),  # 5
    ("SET TBLPROPERTIES", False),  # 6
    ("WRITE", True),  # 7
    ("WRITE", True),  # 8
    ("WRITE", True),  # 9
    ("WRITE", True),  # 10: checkpoint
    ("SET TBLPROPERTIES", False),  # 11
    ("OPTIMIZE", False),  # 12
]


def _jobs(spark: SparkSession) -> tuple[int, int]:
    """(jobs ever submitted to the DAG scheduler, jobs the status tracker knows outside groups)."""
    total = spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs()  # type: ignore[union-attr]
    tracked = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
    return int(total), tracked


def _both(spark: SparkSession, locations: Any, **kwargs: Any) -> dict[str, VersionInfo]:
    """Probe with both log backends; assert they agree field for field; return one answer."""
    answers = [probe_versions(spark, locations, backend=b, **kwargs) for b in LOG_BACKENDS]
    for answer in answers:  # error texts differ (Python vs Java wording); both name the location
        for info in answer.values():
            assert (info.error is None) is (info.status is not ProbeStatus.FAILED)
            assert info.error is None or info.location in info.error
    strip = [{k: attrs.evolve(v, backend=None, error=None) for k, v in a.items()} for a in answers]
    assert strip[0] == strip[1], f"local and hadoop backends disagree:\n{strip[0]}\n{strip[1]}"
    return answers[0]


def _history(spark: SparkSession, path: str) -> dict[int, tuple[int, str]]:
    rows = (
        DeltaTable.forPath(spark, path).history().selectExpr("version", "unix_millis(timestamp) AS ts", "operation")
    ).collect()
    return {r["version"]: (r["ts"], r["operation"]) for r in rows}


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build the table step by step, probing after each step; return path, probes and history."""
    path = str(tmp_path_factory.mktemp("probe") / "orders")
    probes: list[VersionInfo] = []

    def step() -> None:
        probes.append(_both(spark, [path])[path])

    spark.range(3).selectExpr("id", "id * 10 AS amount").write.format("delta").save(path)
    step()
    spark.range(3, 5).selectExpr("id", "id * 10 AS amount").write.format("delta").mode("append").save(path)
    step()
    table = DeltaTable.forPath(spark, path)
    updates = spark.range(4, 6).selectExpr("id", "id * 100 AS amount")
    (
        table.alias("t")
        .merge(updates.alias("u"), "t.id = u.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    step()
    table.optimize().executeCompaction()
    step()
    # Retention check off to vacuum(0); file listing parallelism down from Spark's 10000 tasks
    # (a minute on two cores). Both are session settings, restored afterwards.
    saved = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    }
    saved = {key: (spark.conf.get(key, None), value) for key, value in saved.items()}
    for key, (_, value) in saved.items():
        spark.conf.set(key, value)
    try:
        table.vacuum(0)
    finally:
        for key, (before, _) in saved.items():
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)
    probes.append(probes[-1])  # VACUUM START and END land together; probed once, below
    step()
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('kindling.note' = 'x')")
    step()
    for i in range(4):
        spark.range(10 + i, 11 + i).selectExpr("id", "id AS amount").write.format("delta").mode("append").save(path)
        step()
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('kindling.note' = 'y')")
    step()
    table.optimize().executeCompaction()
    step()
    return {"path": path, "probes": probes, "history": _history(spark, path)}


# ------------------------------------------------------------------ against history()


def test_history_matches_the_scenario(scenario: dict[str, Any]) -> None:
    history = scenario["history"]
    assert sorted(history) == list(range(len(STEPS)))
    assert [history[v][1] for v in range(len(STEPS))] == [op for op, _ in STEPS]


def test_probe_after_every_step_matches_history(scenario: dict[str, Any]) -> None:
    history = scenario["history"]
    for version, info in enumerate(scenario["probes"]):
        if version == 4:  # VACUUM START: not observable on its own (see the fixture)
            continue
        ts, operation = history[version]
        assert info.status is ProbeStatus.OK, info
        assert info.version == version
        assert info.operation == operation
        assert info.timestamp_ms == ts
        assert info.data_change is STEPS[version][1], (version, operation)
        newest_data = max(v for v in range(version + 1) if STEPS[v][1])
        assert info.last_data_version == newest_data
        assert info.error is None and not info.history_truncated


def test_checkpoint_written_and_honoured(scenario: dict[str, Any]) -> None:
    log = Path(scenario["path"]) / "_delta_log"
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 10
    assert (log / f"{10:020d}.checkpoint.parquet").exists()
    info = scenario["probes"][-1]
    assert info.checkpoint_version == 10 and info.version == 12


def test_since_against_history(spark: SparkSession, scenario: dict[str, Any]) -> None:
    path, history = scenario["path"], scenario["history"]
    latest = max(history)
    for since in range(latest + 1):
        info = _both(spark, {"t": path}, since={"t": since})["t"]
        changed = [v for v in range(since + 1, latest + 1) if STEPS[v][1]]
        assert info.data_change is bool(changed), since
        assert info.last_data_version == (max(changed) if changed else None)
        assert info.version == latest
        # SET TBLPROPERTIES (6, 11) commits metaData with the same schema: no schema change
        assert (info.schema_version, info.schema_operations, info.recreated) == (None, (), False), since
    # since == latest: nothing after it
    assert _both(spark, {"t": path}, since={"t": latest})["t"].data_change is False
    # since ahead of the table: unknown, said so
    ahead = _both(spark, {"t": path}, since={"t": latest + 5})["t"]
    assert ahead.data_change is None and "ahead" in (ahead.note or "") and ahead.recreated


def test_changes_since_lists_commits(spark: SparkSession, scenario: dict[str, Any]) -> None:
    path, history = scenario["path"], scenario["history"]
    for backend in LOG_BACKENDS:
        commits = DeltaVersionProbe(spark, backend=backend).changes_since(path, 2)
        assert [c.version for c in commits] == list(range(3, len(STEPS)))
        assert [c.operation for c in commits] == [history[c.version][1] for c in commits]
        assert [c.data_change for c in commits] == [STEPS[c.version][1] for c in commits]
        assert [c.timestamp_ms for c in commits] == [history[c.version][0] for c in commits]
        assert "metaData" in commits[6 - 3].actions  # SET TBLPROPERTIES
        assert DeltaVersionProbe(spark, backend=backend).changes_since(path, len(STEPS) - 1) == []


def test_history_backend_agrees(spark: SparkSession, scenario: dict[str, Any]) -> None:
    """The Spark Connect fallback (DESCRIBE HISTORY; runs jobs) gives the same answers."""
    path = scenario["path"]
    log = _both(spark, {"t": path}, since={"t": 2})["t"]
    hist = probe_versions(spark, {"t": path}, since={"t": 2}, backend="history")["t"]
    for field in ("status", "version", "timestamp_ms", "operation", "data_change", "last_data_version"):
        assert getattr(hist, field) == getattr(log, field), field
    latest = probe_versions(spark, [path], backend="history")[path]
    assert (latest.version, latest.data_change, latest.last_data_version) == (12, False, 10)
    missing = probe_versions(spark, [path + "-nope"], backend="history")[path + "-nope"]
    assert missing.status is ProbeStatus.MISSING


# ------------------------------------------------------------------ cleanup and corruption


def _copy(scenario: dict[str, Any], tmp_path: Path, name: str) -> tuple[str, Path]:
    target = tmp_path / name
    shutil.copytree(scenario["path"], target)
    return str(target), target / "_delta_log"


def _write_by_hand(path: Path, text: str) -> None:
    """Overwrite a log file and drop Hadoop's ``.name.crc`` sidecar, so both backends parse it."""
    path.write_text(text)
    (path.parent / f".{path.name}.crc").unlink(missing_ok=True)


def test_log_cleanup_below_checkpoint(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    path, log = _copy(scenario, tmp_path, "cleaned")
    for version in range(10):
        (log / f"{version:020d}.json").unlink()
        (log / f"{version:020d}.crc").unlink(missing_ok=True)
    # Delta itself still reads the cleaned table at the right version.
    assert max(_history(spark, path)) == 12
    info = _both(spark, [path])[path]
    assert (info.status, info.version, info.operation, info.data_change) == (ProbeStatus.OK, 12, "OPTIMIZE", False)
    assert info.last_data_version == 10 and not info.history_truncated
    # since=9: commits 10..12 all survive -> a definite answer
    assert _both(spark, {"t": path}, since={"t": 9})["t"].data_change is True
    # since=10: 11 and 12 change no data; 11's metaData is compared with the schema in
    # checkpoint 10 (the commits below it are gone): the same, so no schema change
    after_checkpoint = _both(spark, {"t": path}, since={"t": 10})["t"]
    assert (after_checkpoint.data_change, after_checkpoint.schema_version) == (False, None)
    # since=5 after deleting 10 too: the commits that would tell are gone -> unknown, said so
    (log / f"{10:020d}.json").unlink()
    truncated = _both(spark, {"t": path}, since={"t": 5})["t"]
    assert truncated.version == 12 and truncated.data_change is None and truncated.history_truncated
    with pytest.raises(ProbeTableError, match="cleaned up"):
        DeltaVersionProbe(spark).changes_since(path, 5)


def test_only_checkpoint_left_for_latest(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    path, log = _copy(scenario, tmp_path, "ckpt-only")
    for version in range(10, 13):
        (log / f"{version:020d}.json").unlink()
    info = _both(spark, [path])[path]
    assert (info.status, info.version, info.operation) == (ProbeStatus.OK, 10, None)
    assert info.history_truncated and info.data_change is None


def test_corrupt_last_checkpoint_fails(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    path, log = _copy(scenario, tmp_path, "corrupt")
    _write_by_hand(log / "_last_checkpoint", "{not json")
    info = _both(spark, [path])[path]
    assert info.status is ProbeStatus.FAILED and info.version is None
    assert path in info.error and "_last_checkpoint" in info.error


def test_unreadable_log_entries_fail(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    path, log = _copy(scenario, tmp_path, "dir-ckpt")
    (log / "_last_checkpoint").unlink()
    (log / "_last_checkpoint").mkdir()  # cannot be read as a file
    broken, blog = _copy(scenario, tmp_path, "bad-commit")
    _write_by_hand(blog / f"{12:020d}.json", '{"commitInfo": {"operation": "WRITE"}}\n{oops\n')
    result = _both(spark, [path, broken])
    for location, info in result.items():
        assert info.status is ProbeStatus.FAILED, info
        assert location in info.error


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads everything")
def test_permission_denied_fails(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    path, log = _copy(scenario, tmp_path, "locked")
    log.chmod(0)
    try:
        info = _both(spark, [path])[path]
    finally:
        log.chmod(0o755)
    assert info.status is ProbeStatus.FAILED and path in info.error


# ------------------------------------------------------------------ statuses


def test_missing_version0_and_failed_are_distinct(spark: SparkSession, tmp_path: Path) -> None:
    empty = str(tmp_path / "empty")
    DeltaTable.create(spark).location(empty).addColumn("id", "BIGINT").execute()
    rows = str(tmp_path / "rows")
    spark.range(2).write.format("delta").save(rows)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    log_file = tmp_path / "log-is-file"
    log_file.mkdir()
    (log_file / "_delta_log").write_text("x")
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    empty_log = tmp_path / "empty-log"
    (empty_log / "_delta_log").mkdir(parents=True)
    locations = {
        "empty": empty,
        "rows": rows,
        "nowhere": str(tmp_path / "nowhere"),
        "plain": str(plain_dir),
        "empty_log": str(empty_log),
        "file": str(a_file),
        "log_file": str(log_file),
        "uri": "file://" + rows,
    }
    result = _both(spark, locations)
    assert list(result) == list(locations)
    assert (result["empty"].status, result["empty"].version, result["empty"].data_change) == (ProbeStatus.OK, 0, True)
    assert result["empty"].operation == "CREATE TABLE"
    assert (result["rows"].status, result["rows"].version, result["rows"].operation) == (ProbeStatus.OK, 0, "WRITE")
    assert attrs.evolve(result["uri"], location=rows) == result["rows"]
    for key in ("nowhere", "plain", "empty_log"):
        assert result[key].status is ProbeStatus.MISSING and result[key].version is None and result[key].error is None
    for key in ("file", "log_file"):
        assert result[key].status is ProbeStatus.FAILED, result[key]
        assert locations[key] in result[key].error
    assert _history(spark, empty)[0][1] == "CREATE TABLE"


def test_probe_runs_no_spark_job(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    locations = {"t": scenario["path"], "missing": str(tmp_path / "missing")}
    spark.range(1).count()  # settle, and prove the counters move
    before = _jobs(spark)
    spark.range(1).count()
    after_job = _jobs(spark)
    assert after_job[0] > before[0] and after_job[1] > before[1]
    for backend in ("auto", *LOG_BACKENDS):
        probe_versions(spark, locations, since={"t": 3}, backend=backend)
        DeltaVersionProbe(spark, backend=backend).changes_since(scenario["path"], 0)
    assert _jobs(spark) == after_job


# ------------------------------------------------------------------ arguments and entities


def test_bad_arguments_raise_clear_errors(spark: SparkSession) -> None:
    with pytest.raises(ProbeArgumentError, match="single string"):
        probe_versions(spark, "/tmp/x")  # type: ignore[arg-type]
    with pytest.raises(ProbeArgumentError, match="not among the locations"):
        probe_versions(spark, {"a": "/tmp/a"}, since={"b": 1})
    with pytest.raises(ProbeArgumentError, match="non-negative"):
        probe_versions(spark, {"a": "/tmp/a"}, since={"a": -1})
    with pytest.raises(ProbeArgumentError, match="non-empty string"):
        probe_versions(spark, {"a": ""})
    with pytest.raises(ProbeArgumentError, match="unknown probe backend"):
        DeltaVersionProbe(spark, backend="magic")
    with pytest.raises(KindlingError):
        probe_versions(spark, 42)  # type: ignore[arg-type]
    assert probe_versions(spark, []) == {}


def test_probe_entities(spark: SparkSession, scenario: dict[str, Any], tmp_path: Path) -> None:
    io = EntityIO(spark, root=tmp_path)
    entities = [
        Entity("orders", path=scenario["path"]),
        Entity("ghost", path="ghost"),
        Entity("catalogued", table="db.t"),
    ]
    result = probe_entities(io, entities, since={"orders": 9})
    assert result["orders"].version == 12 and result["orders"].data_change is True
    assert result["ghost"].status is ProbeStatus.MISSING
    assert result["ghost"].location == str(tmp_path / "ghost")
    assert result["catalogued"].status is ProbeStatus.FAILED and "catalog table" in result["catalogued"].error
