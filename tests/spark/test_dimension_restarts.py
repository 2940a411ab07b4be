"""Dimension-driven restarts on real streams: local Spark, Delta source, dimension and sink.

Orders stream through an enrichment pipe joined with a customers dimension whose entity says
``change.restart = "always"``. The dimension watcher (``interval-seconds`` 0.2) started by
``app.streams`` sees the dimension updated, the restart controller restarts the query once, new
orders carry the new attributes and the Delta sink holds every order exactly once; an OPTIMIZE
of the dimension (a commit that changes no data) restarts nothing.

A storm and a race on three queries joining one dimension (one test, one app): 20 dimension
versions in a burst restart each query only once its requests settled for ``debounce-seconds``,
never more than ``max-concurrent`` at once, on the newest version, every order once in each
sink; a dimension version committed while a query's restart is under way makes exactly one
follow-up restart. The controller's logic (coalescing, debounce and maximum wait on a hand-driven
clock, cascades, skips) is tested on a fake driver in tests/streaming/test_restarts.py.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

from test_streams import DEADLINE, FAST, stop_everything, wait_until  # noqa: F401  (stop_everything: an autouse fixture)

from kindling_core.config import parse_config
from kindling_core.testing import make_app


def write(spark, path: Path, rows: list[tuple], schema: str, *, mode: str = "append", files: int = 1) -> None:
    spark.createDataFrame(rows, schema).repartition(files).write.format("delta").mode(mode).save(str(path))


def test_a_dimension_update_restarts_its_query_once_and_an_optimize_restarts_nothing(spark, tmp_path: Path) -> None:
    orders, customers, sink = tmp_path / "orders", tmp_path / "customers", tmp_path / "enriched"
    write(spark, orders, [(1, 1), (2, 2), (3, 1)], "id long, customer long")
    write(spark, customers, [(1, "gold"), (2, "silver")], "customer long, tier string", files=2)
    config = {
        "streaming": {"watchdog-interval-seconds": 3600},
        "change-detectors": {"interval-seconds": 0.2},
        "restarts": {"debounce-seconds": 0.2},
        "recovery": {"healthy-batches": 1, "healthy-seconds": 1},
    }
    app = make_app(config=parse_config(config, root=tmp_path)).use_spark(spark)
    seen: list[tuple[str, Any]] = []
    for name in ("restarts.restart_requested", "restarts.restart_started", "restarts.restart_completed", "dimensions.baseline_recorded"):
        app.signals.connect(name, lambda sender, payload, name=name: seen.append((name, payload)))
    app.entity("bronze.orders", path=str(orders))
    app.entity("silver.customers", path=str(customers), kind="dimension", options={"change.restart": "always"})
    app.entity("silver.enriched", path=str(sink))
    app.pipe(
        "enrich",
        inputs=["bronze.orders", "silver.customers"],
        output="silver.enriched",
        mode="streaming",
        dimensions=["silver.customers"],
        trigger=FAST,
        write="append",
    )(lambda orders, customers: orders.join(customers, "customer"))

    def named(name: str) -> list[Any]:
        return [payload for n, payload in list(seen) if n == name]

    def enriched() -> dict[int, list[str]]:
        rows: dict[int, list[str]] = {}
        for row in spark.read.format("delta").load(str(sink)).collect():
            rows.setdefault(row.id, []).append(row.tier)
        return rows

    try:
        app.streams.start()
        assert app.streams.process_all_available(timeout=DEADLINE)
        wait_until("the dimension's baseline", lambda: named("dimensions.baseline_recorded"))
        assert enriched() == {1: ["gold"], 2: ["silver"], 3: ["gold"]}

        write(spark, customers, [(1, "platinum"), (2, "bronze")], "customer long, tier string", mode="overwrite", files=2)
        wait_until("the restart completed", lambda: named("restarts.restart_completed"))
        (requested,) = named("restarts.restart_requested")
        assert requested.pipe == "enrich" and requested.source == "dimension" and requested.entity == "silver.customers"
        assert requested.version == 1  # the overwrite (version 0 created the table)
        (completed,) = named("restarts.restart_completed")
        assert completed.sources == ("dimension",) and completed.version == requested.version
        assert app.streams.query_status("enrich").restarts == 1

        write(spark, orders, [(4, 1), (5, 2)], "id long, customer long")
        assert app.streams.process_all_available(timeout=DEADLINE)
        assert enriched() == {1: ["gold"], 2: ["silver"], 3: ["gold"], 4: ["platinum"], 5: ["bronze"]}  # each order once

        watcher = app.streams.dimension_watcher
        spark.sql(f"OPTIMIZE delta.`{customers}`")
        polls = watcher.polls
        wait_until("three polls after the OPTIMIZE", lambda: watcher.polls >= polls + 3)
        assert len(named("restarts.restart_requested")) == 1 and app.streams.restarts.idle()
        assert app.streams.query_status("enrich").restarts == 1
    finally:
        app.close()
    assert app.streams.dimension_watcher is None


# ----------------------------------------------------------------------------- a storm and a race

RACED = "enrich_a"
PIPES = (RACED, "enrich_b", "enrich_c")
DEBOUNCE = 1.0
TRIGGER = "500 milliseconds"  # three queries polling their source on two cores: not too often
NO_CHECKPOINTS = "spark.databricks.delta.properties.defaults.checkpointInterval"
#: A signal is stamped a moment after the controller read its clock for the same request.
STAMP_SLACK = 0.05


class Timeline:
    """Every restart signal and every ``streaming.after_start``, in emission order, each with
    the ``time.monotonic()`` at which its receiver ran."""

    NAMES = (
        "restarts.restart_requested",
        "restarts.restart_coalesced",
        "restarts.restart_started",
        "restarts.restart_completed",
        "restarts.restart_failed",
        "restarts.restart_skipped",
        "streaming.after_start",
    )

    def __init__(self, app: Any) -> None:
        self.events: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()
        for name in self.NAMES:
            app.signals.connect(name, lambda sender, payload, name=name: self._add(name, payload))

    def _add(self, name: str, payload: Any) -> None:
        with self._lock:
            self.events.append((time.monotonic(), name.split(".")[-1], payload))

    def of(self, name: str, pipe: str | None = None, since: int = 0) -> list[tuple[int, float, Any]]:
        """``(index, time, payload)`` of each ``name`` signal (of ``pipe``) from index ``since`` on."""
        with self._lock:
            events = list(self.events)
        return [(i, t, p) for i, (t, n, p) in enumerate(events) if i >= since and n == name and (pipe is None or p.pipe == pipe)]

    def most_restarting_at_once(self) -> int:
        """The most restarts between their ``restart_started`` and the ``after_start`` of their
        query (the span a ``max-concurrent`` slot covers), or a failure or skip ending them."""
        with self._lock:
            events = list(self.events)
        restarting: set[str] = set()
        most = 0
        for _, name, payload in events:
            if name == "restart_started":
                assert payload.pipe not in restarting, f"{payload.pipe} restarted twice at once"
                restarting.add(payload.pipe)
                most = max(most, len(restarting))
            elif name in ("after_start", "restart_failed", "restart_skipped"):
                restarting.discard(payload.pipe)
        return most


def join_newest_tier(orders: Any, customers: Any) -> Any:
    """Orders with their customer's newest tier: the customers dimension keeps every version's
    rows (``customer, tier, version``)."""
    from pyspark.sql import functions as F

    newest = customers.groupBy("customer").agg(F.max_by("tier", "version").alias("tier"))
    return orders.join(newest, "customer")


def test_a_storm_of_dimension_versions_and_a_change_during_a_restart(spark, tmp_path: Path) -> None:
    """Storm: 20 dimension versions in a burst, three queries joining the dimension, one restart
    at a time: each query restarts only once its requests settled for ``debounce-seconds`` (the
    others coalesced, and signalled so), never two at once, ends on the newest version, and every
    order lands once in each sink. Race: a dimension version committed while a query's restart
    is under way (its new run started, not yet confirmed healthy) makes exactly one follow-up
    restart of it, after the first ended, on the newest version."""
    orders, customers = tmp_path / "orders", tmp_path / "customers"
    write(spark, orders, [(1, 1), (2, 2), (3, 1)], "id long, customer long")
    spark.conf.set(NO_CHECKPOINTS, "1000")  # a Delta checkpoint every 10 commits would slow the burst
    try:
        write(spark, customers, [(1, "v0", 0), (2, "v0", 0)], "customer long, tier string, version long")
    finally:
        spark.conf.unset(NO_CHECKPOINTS)
    config = {
        "streaming": {"watchdog-interval-seconds": 3600},
        "change-detectors": {"interval-seconds": 0.15},
        "restarts": {"debounce-seconds": DEBOUNCE, "max-concurrent": 1, "cascade-depth": 0},
        "recovery": {"healthy-batches": 1, "healthy-seconds": 1},
    }
    app = make_app(config=parse_config(config, root=tmp_path)).use_spark(spark)
    timeline = Timeline(app)
    app.entity("bronze.orders", path=str(orders))
    app.entity("silver.customers", path=str(customers), kind="dimension", options={"change.restart": "always"})
    for pipe in PIPES:
        app.entity(f"silver.{pipe}", path=str(tmp_path / pipe))
        app.pipe(
            pipe,
            inputs=["bronze.orders", "silver.customers"],
            output=f"silver.{pipe}",
            mode="streaming",
            dimensions=["silver.customers"],
            trigger=TRIGGER,
            write="append",
        )(join_newest_tier)

    def commit_tier(version: int) -> None:
        """Dimension version ``version``: every customer's tier is ``v<version>`` (an append:
        a fifth of an overwrite's time, so the burst is quick)."""
        spark.sql(f"INSERT INTO delta.`{customers}` VALUES (1, 'v{version}', {version}), (2, 'v{version}', {version})")

    def sinks() -> dict[str, dict[int, list[str]]]:
        """Each pipe's sink: order id -> the tiers it landed with (one Spark job for all)."""
        from pyspark.sql import functions as F

        frames = [spark.read.format("delta").load(str(tmp_path / pipe)).select("id", "tier", F.lit(pipe).alias("pipe")) for pipe in PIPES]
        rows: dict[str, dict[int, list[str]]] = {pipe: {} for pipe in PIPES}
        for row in functools.reduce(lambda a, b: a.unionByName(b), frames).collect():
            rows[row.pipe].setdefault(row.id, []).append(row.tier)
        return rows

    def settled_on(version: int, since: int) -> bool:
        done = all(any(p.version == version for _, _, p in timeline.of("restart_completed", pipe, since)) for pipe in PIPES)
        return done and app.streams.restarts.idle()

    def new_orders_carry(tier: str, ids: list[int], order_ids: list[int]) -> None:
        """New orders ``ids`` land with ``tier`` in every sink, which holds each of ``order_ids`` once."""
        write(spark, orders, [(i, 1 + i % 2) for i in ids], "id long, customer long")
        order_ids += ids
        assert app.streams.process_all_available(timeout=DEADLINE)
        for pipe, rows in sinks().items():
            assert {i: rows.get(i) for i in ids} == {i: [tier] for i in ids}, pipe
            assert sorted(rows) == sorted(order_ids) and all(len(tiers) == 1 for tiers in rows.values()), pipe

    try:
        app.streams.start()
        assert app.streams.process_all_available(timeout=DEADLINE)
        wait_until("the dimension's baseline", lambda: app.streams.dimension_watcher.polls >= 2)

        # ---- the storm: versions 1..20, orders arriving in between
        order_ids = [1, 2, 3]
        for version in range(1, 21):
            commit_tier(version)
            if version % 10 == 5:
                batch = list(range(10 * version, 10 * version + 2))
                write(spark, orders, [(i, 1 + i % 2) for i in batch], "id long, customer long")
                order_ids += batch
        wait_until("every query restarted on version 20", lambda: settled_on(20, 0))
        assert not timeline.of("restart_failed") and not timeline.of("restart_skipped")
        for pipe in PIPES:
            requested = timeline.of("restart_requested", pipe)
            started = timeline.of("restart_started", pipe)
            coalesced = timeline.of("restart_coalesced", pipe)
            assert all(p.source == "dimension" and p.entity == "silver.customers" for _, _, p in requested)
            assert coalesced and len(coalesced) == len(requested) - len(started), pipe  # each absorbed request signalled
            assert sum(p.requests for _, _, p in started) == len(requested), pipe
            assert [p.version for _, _, p in timeline.of("restart_completed", pipe)][-1] == 20, pipe
            # Each restart began only once its own requests (the watcher's, in order) had been
            # quiet for the debounce window; so two restarts of one query are a window apart.
            asked = iter(requested)
            for _, at, payload in started:
                last_asked = [t for _, t, _ in (next(asked) for _ in range(payload.requests))][-1]
                assert at - last_asked >= DEBOUNCE - STAMP_SLACK, (pipe, at - last_asked)
            starts = [at for _, at, _ in started]
            assert all(b - a >= DEBOUNCE - STAMP_SLACK for a, b in zip(starts, starts[1:], strict=False)), (pipe, starts)
        assert timeline.most_restarting_at_once() == 1  # max-concurrent = 1 (and restarts were due at once)
        new_orders_carry("v20", [500, 501], order_ids)

        # ---- the race: version 21 committed while enrich_a's restart has started its new run
        since = len(timeline.events)
        armed = threading.Event()
        raced: list[str] = []

        def change_during_the_restart(sender: Any, payload: Any) -> None:
            if payload.pipe != RACED or not armed.is_set():
                return
            armed.clear()
            commit_tier(21)
            deadline = time.monotonic() + DEADLINE
            while not any(p.version == 21 for _, _, p in timeline.of("restart_requested", RACED, since)):
                if time.monotonic() > deadline:
                    raced.append("the watcher did not ask for a restart on version 21")
                    return
                time.sleep(0.02)
            raced.append("asked during the restart")

        app.signals.connect("streaming.after_start", change_during_the_restart)
        armed.set()
        app.streams.request_restart(RACED, "race: a restart under way when the dimension changes")
        wait_until("every query restarted on version 21", lambda: settled_on(21, since))
        assert raced == ["asked during the restart"]
        first, follow_up = timeline.of("restart_started", RACED, since)
        assert first[2].sources == ("api",) and follow_up[2].sources == ("dimension",) and follow_up[2].version == 21
        (first_done, _), (follow_up_done, _) = [(i, p) for i, _, p in timeline.of("restart_completed", RACED, since)]
        assert first_done < follow_up[0] < follow_up_done  # the follow-up began after the first ended
        for pipe in PIPES[1:]:
            assert [p.version for _, _, p in timeline.of("restart_started", pipe, since)] == [21], pipe
        assert not timeline.of("restart_failed") and timeline.most_restarting_at_once() == 1
        new_orders_carry("v21", [600, 601], order_ids)
    finally:
        app.close()
