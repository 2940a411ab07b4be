"""Delta table sizes from hand-written ``_delta_log`` folders, without Spark.

``table_size`` replays the log (last checkpoint plus later JSON commits, add minus remove);
``DeltaSizeProvider`` turns that into the size provider an app's planner uses, so cache
advice applies ``min-size-mb`` with no Spark session at all. The same answers are checked
against Delta's own ``DESCRIBE DETAIL`` in tests/spark/test_sizes.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from kindling_core.spark.probe import ProbeArgumentError, ProbeStatus, table_size
from kindling_core.spark.sizes import DeltaSizeProvider
from kindling_core.testing import make_app, make_config

MB = 1024 * 1024


def add(path: str, size: int, dv: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"path": path, "size": size, "partitionValues": {}, "modificationTime": 1, "dataChange": True}
    if dv is not None:
        body["deletionVector"] = dv
    return {"add": body}


def remove(path: str, dv: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"path": path, "deletionTimestamp": 2, "dataChange": True}
    if dv is not None:
        body["deletionVector"] = dv
    return {"remove": body}


DV = {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^", "offset": 1, "sizeInBytes": 36, "cardinality": 1}
HEADER = [
    {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
    {"metaData": {"id": "t", "format": {"provider": "parquet", "options": {}}, "schemaString": "{}",
                  "partitionColumns": [], "configuration": {}}},
]


def write_log(table: Path, commits: dict[int, list[dict[str, Any]]]) -> Path:
    log = table / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    for version, actions in commits.items():
        (log / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n", encoding="utf-8")
    return log


def write_parquet_checkpoint(path: Path, actions: list[dict[str, Any]]) -> None:
    """A checkpoint in Delta's layout: one row per action, one struct column per action kind."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    dv = pa.struct([("storageType", pa.string()), ("pathOrInlineDv", pa.string()), ("offset", pa.int32()),
                    ("sizeInBytes", pa.int32()), ("cardinality", pa.int64())])
    types = {
        "add": pa.struct([("path", pa.string()), ("size", pa.int64()), ("partitionValues", pa.map_(pa.string(), pa.string())),
                          ("modificationTime", pa.int64()), ("dataChange", pa.bool_()), ("deletionVector", dv)]),
        "remove": pa.struct([("path", pa.string()), ("deletionTimestamp", pa.int64()), ("dataChange", pa.bool_())]),
        "sidecar": pa.struct([("path", pa.string()), ("sizeInBytes", pa.int64()), ("modificationTime", pa.int64())]),
    }
    rows: dict[str, list[Any]] = {kind: [] for kind in types}
    for action in actions:
        ((kind, body),) = action.items()
        for column, struct in types.items():
            names = {struct.field(i).name for i in range(struct.num_fields)}
            rows[column].append({k: v for k, v in body.items() if k in names} if column == kind else None)
    pq.write_table(pa.table({column: pa.array(rows[column], type=types[column]) for column in types}), path)


def history(table: Path) -> Path:
    """v0: a(100) b(200); v1: +c(50) -a; v2: b's deletion vector rewritten (remove b, add b+dv)."""
    return write_log(
        table,
        {
            0: [*HEADER, add("a.parquet", 100), add("b.parquet", 200)],
            1: [add("c.parquet", 50), remove("a.parquet")],
            2: [remove("b.parquet"), add("b.parquet", 200, DV)],
        },
    )


def test_json_commits_replayed_add_minus_remove(tmp_path: Path) -> None:
    history(tmp_path / "t")
    size = table_size(str(tmp_path / "t"))
    assert (size.status, size.size_bytes, size.files, size.version, size.backend) == (ProbeStatus.OK, 250, 2, 2, "local")


def test_file_uri_and_removing_a_file_with_a_deletion_vector(tmp_path: Path) -> None:
    log = history(tmp_path / "t")
    (log / f"{3:020d}.json").write_text(json.dumps(remove("b.parquet", DV)) + "\n", encoding="utf-8")
    assert table_size(f"file://{tmp_path / 't'}").size_bytes == 50


def test_checkpoint_then_later_commits(tmp_path: Path) -> None:
    log = history(tmp_path / "t")
    write_parquet_checkpoint(
        log / f"{2:020d}.checkpoint.parquet",
        [add("b.parquet", 200, DV), add("c.parquet", 50), remove("a.parquet")],  # remove = tombstone
    )
    (log / "_last_checkpoint").write_text('{"version": 2, "size": 3}', encoding="utf-8")
    for version in range(3):  # log cleanup: the commits the checkpoint covers are gone
        (log / f"{version:020d}.json").unlink()
    write_log(tmp_path / "t", {3: [remove("c.parquet"), add("d.parquet", 10)]})
    size = table_size(str(tmp_path / "t"))
    assert (size.size_bytes, size.files, size.version) == (210, 2, 3)


def test_multi_part_and_v2_checkpoints_with_sidecars(tmp_path: Path) -> None:
    log = write_log(tmp_path / "multi", {})
    write_parquet_checkpoint(log / f"{4:020d}.checkpoint.{1:010d}.{2:010d}.parquet", [add("x.parquet", 7)])
    write_parquet_checkpoint(log / f"{4:020d}.checkpoint.{2:010d}.{2:010d}.parquet", [add("y.parquet", 8)])
    assert table_size(str(tmp_path / "multi")).size_bytes == 15

    log = write_log(tmp_path / "v2", {6: [add("z.parquet", 1)]})
    (log / "_sidecars").mkdir()
    write_parquet_checkpoint(log / "_sidecars" / "0a1b.parquet", [add("x.parquet", 7), add("y.parquet", 8)])
    top_level = [
        {"checkpointMetadata": {"version": 5}},
        {"sidecar": {"path": "0a1b.parquet", "sizeInBytes": 1, "modificationTime": 1}},
        add("w.parquet", 100),
    ]
    (log / f"{5:020d}.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json").write_text(
        "\n".join(json.dumps(a) for a in top_level), encoding="utf-8"
    )
    size = table_size(str(tmp_path / "v2"))
    assert (size.size_bytes, size.files, size.version) == (116, 4, 6)


def test_without_pyarrow_replays_every_commit_or_says_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = history(tmp_path / "t")
    write_parquet_checkpoint(log / f"{2:020d}.checkpoint.parquet", [add("b.parquet", 200, DV), add("c.parquet", 50)])
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now fails
    assert table_size(str(tmp_path / "t")).size_bytes == 250  # all JSON commits remain
    (log / f"{0:020d}.json").unlink()
    size = table_size(str(tmp_path / "t"))
    assert size.status is ProbeStatus.FAILED and size.size_bytes is None
    assert "checkpoint.parquet is a Parquet checkpoint and pyarrow is not installed" in size.error
    assert str(tmp_path / "t") in size.error


def test_missing_and_unanswerable_logs(tmp_path: Path) -> None:
    assert table_size(str(tmp_path / "nothing")).status is ProbeStatus.MISSING
    write_log(tmp_path / "gap", {0: [*HEADER, add("a", 1)], 2: [add("b", 2)]})
    gap = table_size(str(tmp_path / "gap"))
    assert gap.status is ProbeStatus.FAILED
    assert gap.error == f"commit 1 of {tmp_path / 'gap'} was cleaned up and there is no checkpoint; the snapshot cannot be replayed"
    (write_log(tmp_path / "bad", {0: HEADER}) / f"{1:020d}.json").write_text("{not json\n", encoding="utf-8")
    bad = table_size(str(tmp_path / "bad"))
    assert bad.status is ProbeStatus.FAILED and f"{1:020d}.json line 1 is not JSON" in bad.error
    write_log(tmp_path / "nosize", {0: [*HEADER, {"add": {"path": "a.parquet"}}]})
    assert "'add' action for 'a.parquet' has no non-negative integer size (got None)" in table_size(str(tmp_path / "nosize")).error


def test_remote_paths_need_a_session_and_bad_arguments_raise() -> None:
    location = "abfss://lake@acct.dfs.core.windows.net/orders"
    remote = table_size(location)
    assert remote.status is ProbeStatus.FAILED
    assert remote.error == f"{location}: reading a _delta_log on this storage needs a classic Spark session (a JVM)"
    with pytest.raises(ProbeArgumentError, match="location must be a non-empty string, got ''"):
        table_size("")
    with pytest.raises(ProbeArgumentError, match="backend='hadoop' needs a classic SparkSession; none was given"):
        table_size("/lake/orders", backend="hadoop")


def shop(app: Any, lake: Path) -> None:
    """Two batch pipes read each of silver.big and silver.small (both shared-consumer candidates)."""
    app.entity("silver.big", path=str(lake / "big"))
    app.entity("silver.small", path="lake/small")  # relative: resolved against the project root
    app.entity("silver.new", path=str(lake / "new"))  # not written yet
    for name in ("a", "b"):
        app.pipe(f"gold.{name}", inputs=["silver.big", "silver.small", "silver.new"], output=f"gold.{name}")(lambda x, y, z: x)


def test_app_plans_with_sizes_from_the_log(tmp_path: Path) -> None:
    write_log(tmp_path / "lake" / "big", {0: [*HEADER, add("a.parquet", 3 * MB)]})
    write_log(tmp_path / "lake" / "small", {0: [*HEADER, add("a.parquet", MB // 2)]})
    config = attrs.evolve(make_config({"cache": {"min-size-mb": 1}}), root=tmp_path)
    app = make_app(config=config)
    shop(app, tmp_path / "lake")
    recs = {r.entity: r for r in app.plan().cache_recommendations}
    assert set(recs) == {"silver.big", "silver.new"}  # silver.small is below 1 MB: skipped
    assert recs["silver.big"].size_bytes == 3 * MB and "size 3.0 MB >= 1 MB" in recs["silver.big"].reason
    assert recs["silver.new"].size_bytes is None and "size unknown" in recs["silver.new"].reason


def test_provider_semantics(tmp_path: Path) -> None:
    write_log(tmp_path / "t", {0: [*HEADER, add("a.parquet", 5)]})
    from kindling_core.model import Entity

    entities = {
        "t": Entity("t", path=str(tmp_path / "t")),
        "csv": Entity("csv", path=str(tmp_path / "t"), format="csv"),
        "cat": Entity("cat", table="main.silver.t"),
        "remote": Entity("remote", path="s3a://bucket/t"),
    }
    provider = DeltaSizeProvider(lambda: entities, root=tmp_path, session=lambda: None)
    assert provider("t") == 5
    assert [provider(e) for e in ("csv", "cat", "remote", "undeclared")] == [None, None, None, None]


def test_sizes_and_planning_need_no_pyspark(tmp_path: Path) -> None:
    write_log(tmp_path / "big", {0: [*HEADER, add("a.parquet", 3 * MB)]})
    code = f"""
import sys, importlib.abc
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pyspark', 'delta'):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Hide())
from kindling_core.testing import make_app
app = make_app(config={{"cache": {{"min-size-mb": 1}}}})
app.entity("silver.big", path={str(tmp_path / "big")!r})
for name in ("gold.a", "gold.b"):
    app.pipe(name, inputs=["silver.big"], output=name)(lambda big: big)
(rec,) = app.plan().cache_recommendations
assert rec.size_bytes == {3 * MB}, rec
assert "pyspark" not in sys.modules
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
