"""Checkpoint validation and clean starts on the local Spark session with real Delta tables.

A pipe changed incompatibly (its function now aggregates) is refused before Spark starts it;
with ``on_checkpoint_mismatch="clean-start"`` (its function now deduplicates) the old
checkpoint is moved aside and the new
query resumes where the old one ended, even when the old query's last batch reached the Delta
sink but not Spark's commit log, so the sink holds every source row exactly once. Queries run
with ``availableNow`` (they end by themselves); every wait has a deadline and every query is
stopped. The logic on crafted folders and a fake driver: tests/streaming/test_checkpoint_checks.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindling_core.config import parse_config
from kindling_core.streaming.errors import CheckpointMismatchError
from kindling_core.streaming.fingerprint import read_fingerprint
from kindling_core.testing import make_app

pytestmark = pytest.mark.spark

DEADLINE = 120.0  # reached only when something is broken


@pytest.fixture(autouse=True)
def stop_everything(spark) -> Iterator[None]:
    yield
    for query in spark.streams.active:
        query.stop()


def append(spark, path: Path, ids: range) -> None:
    frame = spark.createDataFrame([(i, i * 10) for i in ids], "id long, amount long").coalesce(1)
    frame.write.format("delta").mode("append").save(str(path))


def orders_app(spark, root: Path, source: Path, transform, **pipe):
    """bronze.orders (Delta) -> the pipe ``orders`` (``transform``) -> silver.orders, availableNow."""
    app = make_app(config=parse_config({"streaming": {"watchdog-interval-seconds": 3600}}, root=root))
    app.use_spark(spark)
    app.entity("bronze.orders", path=str(source))
    app.entity("silver.orders", path="silver")
    app.pipe("orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", trigger="availableNow", write="append", **pipe)(
        transform
    )
    return app


def run_to_end(app) -> None:
    app.streams.start()
    assert app.streams.await_termination(DEADLINE), "the availableNow query did not end"
    status = app.streams.query_status("orders")
    assert status.last_error is None, status.last_error


def ids(spark, path: Path) -> list[int]:
    return sorted(row[0] for row in spark.read.format("delta").load(str(path)).select("id").collect())


def stateless(orders):
    return orders.select("id", "amount")


def test_an_incompatible_change_is_refused_and_a_clean_start_gets_every_row_into_the_sink_once(spark, tmp_path: Path) -> None:
    source, sink = tmp_path / "bronze", tmp_path / "silver"
    checkpoint = tmp_path / ".kindling" / "checkpoints" / "orders"
    append(spark, source, range(0, 5))  # version 0
    append(spark, source, range(5, 10))  # version 1
    old = orders_app(spark, tmp_path, source, stateless)
    run_to_end(old)
    append(spark, source, range(10, 15))  # version 2
    run_to_end(old)  # a restart on its own checkpoint (kindling's _kindling folder in it): batch 1 reads version 2
    assert ids(spark, sink) == list(range(15))
    old.close()
    # The driver died after batch 1's Delta commit and before Spark's commit: the sink holds it, the checkpoint does not.
    last = max(int(name) for name in (p.name for p in (checkpoint / "commits").iterdir()) if name.isdigit())
    (checkpoint / "commits" / str(last)).unlink()
    (checkpoint / "commits" / f".{last}.crc").unlink(missing_ok=True)
    old_query_id = json.loads((checkpoint / "metadata").read_text().splitlines()[0])["id"]

    # The pipe now aggregates: refused before Spark starts anything (policy fail, the default).
    changed = orders_app(spark, tmp_path, source, lambda orders: orders.groupBy("id").count())
    with pytest.raises(CheckpointMismatchError) as caught:
        changed.streams.start()
    message = str(caught.value)
    assert f"streaming pipe 'orders' no longer matches its checkpoint {checkpoint}" in message
    assert "the output schema changed from struct<id:bigint,amount:bigint> to struct<id:bigint,count:bigint>" in message
    assert "the stateful operators changed from none to [aggregate]" in message
    assert spark.streams.active == [] and changed.streams.query_status("orders").started_at is None  # nothing started
    assert not list(checkpoint.parent.glob("orders.moved-*")) and (checkpoint / "offsets" / str(last)).is_file()
    changed.close()

    # The pipe now deduplicates, with the clean-start policy.

    new = orders_app(spark, tmp_path, source, lambda orders: orders.dropDuplicates(["id"]), on_checkpoint_mismatch="clean-start")
    run_to_end(new)  # clean start: resumes after batch 1, at version 3, one past the latest (nothing to read yet)
    (moved,) = checkpoint.parent.glob("orders.moved-*")
    assert json.loads((moved / "metadata").read_text().splitlines()[0])["id"] == old_query_id
    new_query_id = json.loads((checkpoint / "metadata").read_text().splitlines()[0])["id"]
    assert new_query_id != old_query_id
    fingerprint = read_fingerprint(str(checkpoint))
    assert fingerprint is not None and fingerprint.stateful == ("deduplicate",)
    assert ids(spark, sink) == list(range(15))  # version 2 was not read again under the new query's transaction id

    append(spark, source, range(15, 20))  # version 3
    run_to_end(new)  # an ordinary restart on the new checkpoint
    assert ids(spark, sink) == list(range(20))  # every source row exactly once across both queries
    assert len(list(checkpoint.parent.glob("orders.moved-*"))) == 1
    new.close()
