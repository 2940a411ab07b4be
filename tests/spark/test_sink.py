"""Exactly-once Delta sinks: micro-batches carry Delta transactions, replays are skipped.

The crash window (the Delta commit done, Spark's ``commits/<batch>`` not yet written) is
recreated deterministically by deleting the last ``commits/`` entry of a checkpoint: Spark then
replays that batch with the same id and the same rows on the next start, exactly as after a
driver crash. tests/spark/test_exactly_once.py kills real drivers instead.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from kindling_core.errors import KindlingError
from kindling_core.model import Entity
from kindling_core.spark.delta import EntityIO
from kindling_core.spark.sink import CheckpointAppId, StreamWriteModeError, batch_writer
from kindling_core.spark.txn import TXN_APP_ID_SETTING, TXN_VERSION_SETTING, DeltaTxn
from kindling_core.testing import make_app

pytestmark = pytest.mark.spark


@pytest.fixture
def new_app(spark):
    def factory():
        app = make_app(config={})
        app.use_spark(spark)
        return app

    return factory


@pytest.fixture
def stop_queries(spark):
    """Stop every streaming query a test leaves active."""
    yield
    for query in spark.streams.active:
        query.stop()


def append(spark, path: Path, ids: range) -> None:
    spark.createDataFrame([(i, f"v{i}") for i in ids], "id long, name string").write.format("delta").mode(
        "append"
    ).save(str(path))


def ids(spark, path: Path) -> list[int]:
    return sorted(r["id"] for r in spark.read.format("delta").load(str(path)).select("id").collect())


def table_version(path: Path) -> int:
    return max(int(p.stem) for p in (path / "_delta_log").glob("*.json"))


def txns(path: Path) -> list[tuple[str, int]]:
    """Every transaction identifier committed to the table, in commit order."""
    found = []
    for log in sorted((path / "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "txn" in action:
                found.append((action["txn"]["appId"], action["txn"]["version"]))
    return found


def forget_last_batch(checkpoint: Path) -> int:
    """Undo Spark's commit of the last batch, as if the driver died right after the Delta commit."""
    last = max(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    (checkpoint / "commits" / str(last)).unlink()
    (checkpoint / "commits" / f".{last}.crc").unlink(missing_ok=True)
    return last


@pytest.mark.parametrize("write", ["append", "merge"])
def test_a_batch_replayed_after_a_crash_is_skipped(spark, new_app, tmp_path: Path, write: str) -> None:
    app = new_app()
    source, sink, checkpoint = tmp_path / "source", tmp_path / "sink", tmp_path / "checkpoint"
    append(spark, source, range(0, 3))
    app.entity("raw", path=str(source))
    app.entity("events", path=str(sink), merge_keys=["id"] if write == "merge" else ())

    @app.pipe("load", inputs=["raw"], output="events", mode="streaming", write=write, checkpoint=str(checkpoint))
    def load(raw):
        return raw

    assert app.run().succeeded
    assert forget_last_batch(checkpoint) == 0
    version = table_version(sink)
    append(spark, source, range(3, 5))

    assert app.run().succeeded  # replays batch 0, whose rows the sink holds, then runs batch 1

    assert ids(spark, sink) == [0, 1, 2, 3, 4]
    assert table_version(sink) == version + 1  # batch 1 only: the replay committed nothing
    app_id = "kindling:load:" + json.loads((checkpoint / "metadata").read_text())["id"]
    assert txns(sink) == [(app_id, 0), (app_id, 1)]


def test_a_clean_start_on_the_same_checkpoint_path_is_a_new_writer(spark, new_app, tmp_path: Path) -> None:
    """Deleting a checkpoint restarts batch ids at 0: a txn app id derived from the path alone
    would make Delta skip the new query's first batches (data loss); the query id does not."""
    import shutil

    app = new_app()
    source, sink, checkpoint = tmp_path / "source", tmp_path / "sink", tmp_path / "checkpoint"
    append(spark, source, range(0, 3))
    app.entity("raw", path=str(source))
    app.entity("events", path=str(sink))

    @app.pipe("load", inputs=["raw"], output="events", mode="streaming", write="append", checkpoint=str(checkpoint))
    def load(raw):
        return raw

    assert app.run().succeeded
    shutil.rmtree(checkpoint)
    assert app.run().succeeded  # reprocesses the source from the start, as a clean start does

    assert ids(spark, sink) == [0, 0, 1, 1, 2, 2]
    (first, version_1), (second, version_2) = txns(sink)
    assert first != second and version_1 == version_2 == 0


def test_concurrent_queries_merging_in_one_session_keep_their_own_transactions(spark, tmp_path: Path, stop_queries) -> None:
    """Both queries are inside their merge at the same time; each sink records only its own
    query's (app id, batch id) and the session that started them is left without settings."""
    io = EntityIO(spark, root=tmp_path)
    both_writing = threading.Barrier(2, timeout=60)
    queries = {}
    for name in ("a", "b"):
        append(spark, tmp_path / f"source_{name}", range(0, 3))
        entity = Entity(f"sink_{name}", path=str(tmp_path / f"sink_{name}"), merge_keys=["id"])
        append(spark, tmp_path / f"sink_{name}", range(100, 101))  # exists: a real MERGE
        writer = batch_writer(io, entity, "merge", pipe=name, app_id=CheckpointAppId(name, str(tmp_path / f"cp_{name}")))

        def together(batch, batch_id, writer=writer):
            both_writing.wait()
            writer(batch, batch_id)

        queries[name] = (
            spark.readStream.format("delta")
            .load(str(tmp_path / f"source_{name}"))
            .writeStream.foreachBatch(together)
            .option("checkpointLocation", str(tmp_path / f"cp_{name}"))
            .trigger(availableNow=True)
            .start()
        )
    for query in queries.values():
        assert query.awaitTermination(120), "the query did not finish within 120 s"
    for name, query in queries.items():
        assert txns(tmp_path / f"sink_{name}") == [(f"kindling:{name}:{query.id}", 0)]
        assert ids(spark, tmp_path / f"sink_{name}") == [0, 1, 2, 100]
    assert spark.conf.get(TXN_APP_ID_SETTING, None) is None
    assert spark.conf.get(TXN_VERSION_SETTING, None) is None


def test_merge_restores_the_session_settings_it_found(spark, tmp_path: Path) -> None:
    entity = Entity("sink", path=str(tmp_path / "sink"), merge_keys=["id"])
    append(spark, tmp_path / "sink", range(0, 2))
    spark.conf.set(TXN_APP_ID_SETTING, "someone-else")
    spark.conf.set(TXN_VERSION_SETTING, "7")
    try:
        frame = spark.createDataFrame([(1, "one"), (2, "two")], "id long, name string")
        EntityIO(spark, root=tmp_path).write(entity, frame, "merge", txn=DeltaTxn("mine", 0))
        assert (spark.conf.get(TXN_APP_ID_SETTING), spark.conf.get(TXN_VERSION_SETTING)) == ("someone-else", "7")
    finally:
        spark.conf.unset(TXN_APP_ID_SETTING)
        spark.conf.unset(TXN_VERSION_SETTING)
    assert txns(tmp_path / "sink") == [("mine", 0)]


def test_an_overwrite_stream_is_refused_naming_the_pipe(spark, tmp_path: Path) -> None:
    entity = Entity("sink", path=str(tmp_path / "sink"))
    with pytest.raises(StreamWriteModeError) as caught:
        batch_writer(EntityIO(spark, root=tmp_path), entity, "overwrite", pipe="enrich", app_id="x")
    assert "'enrich'" in str(caught.value) and "'append' or 'merge'" in str(caught.value)


def test_an_unknown_checkpoint_names_the_pipe_and_the_file(spark, tmp_path: Path) -> None:
    with pytest.raises(KindlingError) as caught:
        CheckpointAppId("enrich", str(tmp_path / "nowhere")).resolve(spark)
    assert "'enrich'" in str(caught.value) and str(tmp_path / "nowhere" / "metadata") in str(caught.value)


@pytest.mark.parametrize(
    ("app_id", "version", "named"),
    [("", 0, "app id"), ("a", -1, "version"), ("a", True, "version"), (None, 0, "app id")],
)
def test_bad_transactions_are_refused(app_id, version, named: str) -> None:
    with pytest.raises(KindlingError) as caught:
        DeltaTxn(app_id, version)
    assert named in str(caught.value) and "remedy" in str(caught.value)


def test_a_bounded_streaming_run_carries_new_rows_through_a_chain_in_one_run(spark, new_app, tmp_path: Path) -> None:
    """bronze -> silver -> gold, both stages streaming: the streaming strategy starts consumers
    first, but app.run processes producers first, so gold sees bronze's new rows at once."""
    app = new_app()
    append(spark, tmp_path / "bronze", range(0, 3))
    for name in ("bronze", "silver", "gold"):
        app.entity(name, path=str(tmp_path / name))
    for source, target in (("bronze", "silver"), ("silver", "gold")):
        app.pipe(
            target, inputs=[source], output=target, mode="streaming", write="append", checkpoint=str(tmp_path / f"cp_{target}")
        )(lambda frame: frame)

    assert app.run(strategy="streaming").succeeded
    assert ids(spark, tmp_path / "gold") == [0, 1, 2]
    append(spark, tmp_path / "bronze", range(3, 5))
    result = app.run(strategy="streaming")
    assert result.succeeded and [o.pipe_id for o in result.pipes] == ["silver", "gold"]
    assert ids(spark, tmp_path / "gold") == [0, 1, 2, 3, 4]
