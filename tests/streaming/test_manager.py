"""The stream manager's logic on a fake driver: selection and order, the state machine under
concurrent calls, events into status and signals, the watchdog, stop timeouts, bad input.

The same behaviours on real Spark queries are in tests/spark/test_streams.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kindling_core.streaming import signals as sig
from kindling_core.streaming.errors import (
    CheckpointError,
    DuplicateQueryNameError,
    ForeignQueryError,
    ManagerClosedError,
    NotRestartableError,
    NotStreamableError,
    SessionStoppedError,
    StreamStartError,
    UnknownStreamError,
)
from kindling_core.streaming.manager import StreamManager
from kindling_core.streaming.state import QueryState
from kindling_core.testing import RecordingErrorHandler, make_app
from kindling_core.testing.streams import FakeQuery, FakeStreamDriver

S = QueryState
QUIET = {"watchdog-interval-seconds": 3600}


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


def identity(*frames: Any) -> Any:
    return frames[0]


def lake_app(tmp_path: Path, streaming: dict[str, Any] | None = None, plugins: Any = None, **tables: Any):
    """bronze.orders -(batch clean)-> silver.raw ; silver.raw -(stream)-> silver.orders -(stream)-> gold.sales."""
    app = make_app(plugins, config={"streaming": {**QUIET, **(streaming or {})}, **tables})
    object.__setattr__(app.config, "root", tmp_path)
    for entity in ("bronze.orders", "silver.raw", "silver.orders", "gold.sales", "silver.customers"):
        app.entity(entity, path=f"lake/{entity}", kind="dimension" if entity == "silver.customers" else None)
    app.pipe("clean", inputs=["bronze.orders"], output="silver.raw")(identity)
    app.pipe(
        "orders", inputs=["silver.raw", "silver.customers"], output="silver.orders", mode="streaming", dimensions=["silver.customers"]
    )(identity)
    app.pipe("sales", inputs=["silver.orders"], output="gold.sales", mode="streaming", trigger="10 seconds")(identity)
    return app


@pytest.fixture
def driver() -> FakeStreamDriver:
    return FakeStreamDriver()


@pytest.fixture
def streams(tmp_path: Path, driver: FakeStreamDriver):
    manager = StreamManager(lake_app(tmp_path), driver=driver)
    yield manager
    if driver.stop_gate is not None:
        driver.stop_gate.set()
    manager.close(timeout=5)


def record(app, *specs) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for spec in specs:
        app.signals.connect(spec, lambda sender, payload, name=spec.name: seen.append((name, payload)))
    return seen


# ----------------------------------------------------------------------------- starting


def test_start_runs_streaming_pipes_consumers_first_with_their_settings(
    streams: StreamManager, driver: FakeStreamDriver, tmp_path: Path
) -> None:
    seen = record(streams._app, sig.BEFORE_START, sig.AFTER_START, sig.STATE_CHANGED)
    started = streams.start()
    assert [s.pipe for s in started] == ["sales", "orders"]  # consumers first; the batch pipe is not started
    assert all(s.state is S.RUNNING for s in started)
    assert dict(driver.starts) == {"kindling_sales": 1, "kindling_orders": 1}
    sales = streams.query_status("sales")
    assert sales.name == "kindling_sales" and sales.trigger == "10 seconds" and sales.restarts == 0
    assert sales.checkpoint == str(tmp_path / ".kindling" / "checkpoints" / "sales")
    assert sales.query_id == driver.queries["kindling_sales"].id
    names = [(name, getattr(p, "state", None)) for name, p in seen if p.pipe == "sales"]
    assert names == [
        ("streaming.before_start", None),
        ("streaming.state_changed", S.STARTING),
        ("streaming.after_start", None),
        ("streaming.state_changed", S.RUNNING),
    ]
    assert list(streams.status()) == ["sales", "orders"]


def test_a_named_pipe_starts_with_the_streaming_pipes_it_reads_from(streams: StreamManager, driver: FakeStreamDriver) -> None:
    streams.start(pipes=["sales"])
    assert set(driver.starts) == {"kindling_sales", "kindling_orders"}
    streams.stop(["sales"])
    assert streams.query_status("sales").state is S.STOPPED
    assert streams.query_status("orders").state is S.RUNNING
    streams.start("sales")  # already running upstream is left alone
    assert driver.starts["kindling_orders"] == 1 and driver.starts["kindling_sales"] == 2


def test_an_unknown_pipe_gets_did_you_mean_and_the_list(streams: StreamManager) -> None:
    with pytest.raises(UnknownStreamError) as caught:
        streams.start(pipes=["sale"])
    message = str(caught.value)
    assert "app.streams.start(pipes=...): 'sale' is not a streaming pipe or a registered query." in message
    assert "Did you mean 'sales'?" in message and "Streaming queries: orders, sales." in message
    assert caught.value.culprit == "sale"


def test_a_batch_pipe_is_not_started(streams: StreamManager) -> None:
    with pytest.raises(UnknownStreamError, match="pipe 'clean' is a batch pipe; app.streams runs streaming pipes only") as caught:
        streams.start(pipes=["clean"])
    assert "app.run()" in caught.value.remedy


def test_the_default_trigger_and_checkpoint_base_come_from_the_configuration(tmp_path: Path, driver: FakeStreamDriver) -> None:
    app = lake_app(tmp_path, {"default-trigger": "availableNow", "checkpoint-base": "abfss://lake@acct.dfs.core.windows.net/cp"})
    with StreamManager(app, driver=driver) as streams:
        streams.start()
        orders = streams.query_status("orders")
        assert orders.trigger == "availableNow"  # declared none
        assert orders.checkpoint == "abfss://lake@acct.dfs.core.windows.net/cp/orders"
        assert streams.query_status("sales").trigger == "10 seconds"  # declared
    assert streams.query_status("orders").state is S.STOPPED  # the context manager stopped it


def test_a_failing_start_is_named_and_leaves_the_query_failed(streams: StreamManager, driver: FakeStreamDriver) -> None:
    driver.start_errors["kindling_orders"] = ValueError("column 'price' does not exist")
    seen = record(streams._app, sig.START_FAILED)
    with pytest.raises(StreamStartError) as caught:
        streams.start()
    assert "streaming pipe 'orders' did not start: ValueError: column 'price' does not exist" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)
    status = streams.query_status("orders")
    assert status.state is S.FAILED and "column 'price'" in status.last_error
    assert [p.pipe for _, p in seen] == ["orders"]
    assert streams.query_status("sales").state is S.RUNNING  # started before it, still running
    del driver.start_errors["kindling_orders"]
    streams.start()
    assert streams.query_status("orders").state is S.RUNNING


# ----------------------------------------------------------------------------- races


def race(count: int, action: Callable[[], object]) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_concurrent_starts_start_each_query_once(streams: StreamManager, driver: FakeStreamDriver) -> None:
    driver.start_gate = threading.Event()
    threading.Timer(0.2, driver.start_gate.set).start()  # every thread is in start() before any Spark start returns
    assert race(8, streams.start) == []
    assert dict(driver.starts) == {"kindling_sales": 1, "kindling_orders": 1}
    assert driver.overlapping_starts == 0
    assert streams.query_status("sales").state is S.RUNNING


def test_concurrent_restarts_restart_once(streams: StreamManager, driver: FakeStreamDriver) -> None:
    streams.start()
    first_run = streams.query_status("sales").run_id
    stops = record(streams._app, sig.BEFORE_STOP)
    driver.stop_gate = threading.Event()
    threading.Timer(0.2, driver.stop_gate.set).start()  # every thread calls restart() while the winner stops
    assert race(8, lambda: streams.restart("sales", reason="dimension changed")) == []
    assert driver.starts["kindling_sales"] == 2
    assert len(stops) == 1
    assert driver.overlapping_starts == 0
    status = streams.query_status("sales")
    assert status.state is S.RUNNING and status.restarts == 1 and status.run_id != first_run
    assert status.query_id == driver.queries["kindling_sales"].id  # same checkpoint, same query


# ----------------------------------------------------------------------------- events


def test_progress_and_idle_events_feed_status_and_signals(streams: StreamManager, driver: FakeStreamDriver) -> None:
    seen = record(streams._app, sig.PROGRESS_MADE, sig.QUERY_IDLED)
    streams.start()
    driver.progress("kindling_sales", rows=7)
    driver.progress("kindling_sales", rows=3)
    wait_until(lambda: streams.query_status("sales").batch_id == 1)
    status = streams.query_status("sales")
    assert status.rows_last_batch == 3 and status.processed_rows_per_second == 3.0 and status.last_progress_at is not None
    assert status.idle_since is None
    driver.idle("kindling_sales")
    driver.idle("kindling_sales")
    wait_until(lambda: streams.query_status("sales").idle_since is not None)
    wait_until(lambda: len(seen) == 3)
    assert [name for name, _ in seen] == ["streaming.progress_made"] * 2 + ["streaming.query_idled"]  # idle once per spell


def test_a_query_that_dies_is_failed_with_its_error(streams: StreamManager, driver: FakeStreamDriver) -> None:
    seen = record(streams._app, sig.QUERY_TERMINATED, sig.QUERY_FAILED)
    streams.start()
    # a permanent failure: never restarted (recovery: tests/streaming/test_manager_recovery.py)
    driver.fail("kindling_orders", "[STREAM_FAILED] Query terminated with exception: [TABLE_OR_VIEW_NOT_FOUND] lake.prices")
    wait_until(lambda: streams.query_status("orders").state is S.FAILED)
    assert "TABLE_OR_VIEW_NOT_FOUND" in streams.query_status("orders").last_error
    wait_until(lambda: len(seen) == 2)
    assert {name for name, _ in seen} == {"streaming.query_terminated", "streaming.query_failed"}
    assert seen[0][1].source == "listener" and seen[0][1].requested is False
    assert streams.await_termination(timeout=0) is False  # sales still runs
    streams.stop()
    assert streams.await_termination(timeout=5) is True


@pytest.mark.parametrize("propagate", [False, True])
def test_a_raising_receiver_does_not_stop_the_consumer(tmp_path: Path, driver: FakeStreamDriver, propagate: bool) -> None:
    recorder = RecordingErrorHandler()
    app = lake_app(tmp_path, plugins={"recorder": recorder}, signals={"propagate-receiver-errors": propagate})
    app.signals.connect(sig.PROGRESS_MADE, lambda sender, payload: 1 / 0)
    with StreamManager(app, driver=driver) as streams:
        streams.start()
        driver.progress("kindling_sales")
        driver.progress("kindling_sales")
        wait_until(lambda: streams.query_status("sales").batch_id == 1)
        wait_until(lambda: len(recorder.errors) >= 2)  # reported, whether or not the bus propagates it
        assert all("ZeroDivisionError" in f"{type(error).__name__}: {error}" for error in recorder.errors)


# ----------------------------------------------------------------------------- watchdog


def test_the_watchdog_notices_a_query_that_ended_without_an_event(tmp_path: Path, driver: FakeStreamDriver) -> None:
    with StreamManager(lake_app(tmp_path, {"watchdog-interval-seconds": 0.02}), driver=driver) as streams:
        seen = record(streams._app, sig.QUERY_TERMINATED)
        streams.start()
        driver.kill("kindling_sales")
        driver.fail("kindling_orders", "[UNRESOLVED_COLUMN] price", report=False)  # permanent: stays failed
        wait_until(lambda: streams.query_status("sales").state is S.STOPPED and streams.query_status("orders").state is S.FAILED)
        assert streams.query_status("orders").last_error == "[UNRESOLVED_COLUMN] price"
        wait_until(lambda: len(seen) == 2)
        assert {p.source for _, p in seen} == {"watchdog"}


def test_the_watchdog_recovers_a_lost_progress_event(tmp_path: Path, driver: FakeStreamDriver) -> None:
    with StreamManager(lake_app(tmp_path, {"watchdog-interval-seconds": 0.02}), driver=driver) as streams:
        streams.start()
        driver.progress("kindling_sales", rows=5, report=False)
        wait_until(lambda: streams.query_status("sales").rows_last_batch == 5)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_stalls_after_start_and_while_a_trigger_is_active(tmp_path: Path, driver: FakeStreamDriver) -> None:
    clock = Clock()
    settings = {"watchdog-interval-seconds": 0.02, "no-progress-after-start-seconds": 60, "stale-after-seconds": 120}
    with StreamManager(lake_app(tmp_path, settings), driver=driver, clock=clock) as streams:
        seen = record(streams._app, sig.START_STALLED, sig.QUERY_STALLED)
        streams.start(pipes=["orders"])
        time.sleep(0.1)  # several watchdog rounds within the thresholds
        assert seen == []
        clock.now += 61
        wait_until(lambda: len(seen) == 1)
        assert seen[0][0] == "streaming.start_stalled" and seen[0][1].threshold == 60
        driver.progress("kindling_orders")
        wait_until(lambda: streams.query_status("orders").batch_id == 0)
        driver.queries["kindling_orders"].trigger_active = True  # a batch that never ends
        time.sleep(0.1)  # let watchdog rounds see the active trigger before the clock jumps
        clock.now += 121
        wait_until(lambda: len(seen) == 2)
        assert seen[1][0] == "streaming.query_stalled" and seen[1][1].message == "Processing new data"
        time.sleep(0.1)  # several more watchdog rounds: none may report the same spell again
        assert len(seen) == 2  # reported once per quiet spell


# ----------------------------------------------------------------------------- stopping


def test_a_stop_that_hangs_is_given_up_and_reported(tmp_path: Path, driver: FakeStreamDriver) -> None:
    streams = StreamManager(lake_app(tmp_path, {"stop-timeout-seconds": 0.2}), driver=driver)
    seen = record(streams._app, sig.STOP_TIMEOUT_REACHED, sig.AFTER_STOP)
    streams.start(pipes=["orders"])
    driver.stop_gate = threading.Event()
    (status,) = streams.stop()[1:]
    assert not driver.stop_gate.is_set()  # stop() returned while Spark's stop still hangs
    assert status.state is S.STOPPED and status.stop_timed_out
    assert "timed out after 0.2s" in status.last_error and "isActive is false" in status.last_error
    assert "execution thread may still be running" in status.last_error
    assert [name for name, _ in seen] == ["streaming.stop_timeout_reached", "streaming.after_stop"]
    assert seen[1][1].timed_out
    driver.stop_gate.set()
    streams.close()


def test_closing_the_app_stops_its_queries(tmp_path: Path, driver: FakeStreamDriver) -> None:
    app = lake_app(tmp_path)
    streams = StreamManager(app, driver=driver)
    app._streams = streams
    streams.start()
    app.close()
    assert {s.state for s in streams.status().values()} == {S.STOPPED}
    assert driver.detached == 1
    with pytest.raises(ManagerClosedError):
        streams.start()


def test_process_all_available(streams: StreamManager, driver: FakeStreamDriver) -> None:
    assert streams.process_all_available(timeout=5) is True  # nothing running
    streams.start()
    assert streams.process_all_available(timeout=5) is True
    driver.fail("kindling_orders", "boom", report=False)
    assert streams.process_all_available(timeout=5) is False


# ----------------------------------------------------------------------------- registered and adopted


def test_a_registered_builder_is_called_at_every_start(streams: StreamManager, driver: FakeStreamDriver) -> None:
    calls: list[int] = []
    streams.register("audit_feed", lambda: calls.append(1))
    streams.start(pipes=["audit_feed"])
    streams.restart("audit_feed")
    assert len(calls) == 2 and driver.starts["audit_feed"] == 2
    assert streams.query_status("audit_feed").pipe is None
    with pytest.raises(DuplicateQueryNameError, match="'audit_feed' is already managed"):
        streams.register("audit_feed", lambda: None)
    with pytest.raises(DuplicateQueryNameError, match="would both run as Spark query 'kindling_sales'"):
        streams.register("kindling_sales", lambda: None)


def test_adopting_a_query(streams: StreamManager, driver: FakeStreamDriver) -> None:
    query = driver.adoptable("outside_feed")
    assert streams.adopt(query) == "outside_feed"
    assert streams.query_status("outside_feed").state is S.RUNNING
    with pytest.raises(NotRestartableError, match="query 'outside_feed' was adopted"):
        streams.restart("outside_feed")
    streams.stop(["outside_feed"])
    assert not query.isActive


def test_adopting_a_query_of_another_session(streams: StreamManager) -> None:
    other = FakeStreamDriver()
    with pytest.raises(ForeignQueryError):
        streams.adopt(FakeQuery(other, "id", "elsewhere"))


# ----------------------------------------------------------------------------- bad input


def test_starting_on_a_stopped_session(streams: StreamManager, driver: FakeStreamDriver) -> None:
    driver.stopped_session = True
    with pytest.raises(SessionStoppedError):
        streams.start()
    assert driver.starts == {}


def test_two_pipes_with_one_checkpoint(tmp_path: Path, driver: FakeStreamDriver) -> None:
    app = lake_app(tmp_path)
    app.entity("gold.copy", path="lake/gold.copy")
    app.pipe("copy", inputs=["silver.orders"], output="gold.copy", mode="streaming", checkpoint=".kindling/checkpoints/sales")(identity)
    with pytest.raises(CheckpointError) as caught, StreamManager(app, driver=driver) as streams:
        streams.start(pipes=["copy"])
    message = str(caught.value)
    assert "streaming pipes 'sales' and 'copy' share the checkpoint" in message or "'copy' and 'sales'" in message
    assert "own checkpoint=" in caught.value.remedy
    assert driver.starts == {}


def test_a_checkpoint_that_cannot_be_written(tmp_path: Path, driver: FakeStreamDriver) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    app = lake_app(tmp_path, {"checkpoint-base": "blocker/checkpoints"})
    with pytest.raises(CheckpointError) as caught, StreamManager(app, driver=driver) as streams:
        streams.start()
    assert f"cannot write its checkpoint at {tmp_path / 'blocker' / 'checkpoints'}" in str(caught.value)
    assert "is a file, not a folder" in str(caught.value)
    assert "tool.kindling.streaming.checkpoint-base" in caught.value.remedy


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"format": "jdbc"}, "Spark has no streaming reader for format 'jdbc'"),
        ({"format": "parquet"}, "it is a parquet location without a declared schema"),
        ({"format": "hive", "table": "main.raw", "path": None}, "it is a catalog table of format 'hive'"),
    ],
)
def test_a_streaming_pipe_reading_a_non_streamable_input(tmp_path: Path, driver: FakeStreamDriver, fields: dict, problem: str) -> None:
    app = make_app(config={"streaming": QUIET})
    app.entity("raw", **{"path": "lake/raw", **fields})
    app.entity("out", path="lake/out")
    app.pipe("load", inputs=["raw"], output="out", mode="streaming")(identity)
    with pytest.raises(NotStreamableError) as caught, StreamManager(app, driver=driver) as streams:
        streams.start()
    assert f"streaming pipe 'load' reads input 'raw' as a stream, but {problem}" in str(caught.value)
    assert "dimension" in caught.value.remedy
    assert driver.starts == {}


def test_a_parquet_input_with_a_schema_or_as_a_dimension_streams(tmp_path: Path, driver: FakeStreamDriver) -> None:
    app = make_app(config={"streaming": QUIET})
    app.entity("raw", path="lake/raw", format="parquet", schema="id BIGINT")
    app.entity("lookup", path="lake/lookup", format="jdbc")
    app.entity("out", path="lake/out")
    app.pipe("load", inputs=["raw", "lookup"], output="out", mode="streaming", dimensions=["lookup"])(identity)
    with StreamManager(app, driver=driver) as streams:
        streams.start()
        assert streams.query_status("load").state is S.RUNNING


def test_two_pipes_with_one_query_name(tmp_path: Path, driver: FakeStreamDriver) -> None:
    app = make_app(config={"streaming": QUIET})
    for entity in ("raw", "a", "b"):
        app.entity(entity, path=f"lake/{entity}")
    app.pipe("x.y", inputs=["raw"], output="a", mode="streaming")(identity)
    app.pipe("x_y", inputs=["raw"], output="b", mode="streaming")(identity)
    with pytest.raises(DuplicateQueryNameError) as caught:
        StreamManager(app, driver=driver).register("z", lambda: None)
    assert "'x.y' and 'x_y' would both run as Spark query 'kindling_x_y'" in str(caught.value)


def test_a_query_name_already_active_on_the_session(streams: StreamManager, driver: FakeStreamDriver) -> None:
    driver.adoptable("kindling_sales")
    with pytest.raises(DuplicateQueryNameError) as caught:
        streams.start()
    assert "a query named 'kindling_sales' is already active on this Spark session, started outside app.streams" in str(caught.value)
    assert "stop that query" in caught.value.remedy


# ----------------------------------------------------------------------------- app.run beside app.streams


def test_app_run_refuses_a_pipe_that_app_streams_is_running(streams: StreamManager, driver: FakeStreamDriver) -> None:
    from kindling_core.streaming.errors import StreamBusyError
    from kindling_core.testing import ScriptedRunner

    app = streams._app
    app._streams = streams  # the manager app.streams would have created, on the fake driver
    streams.start(["orders"])
    with pytest.raises(StreamBusyError) as info:
        app.run(runner=ScriptedRunner())
    message = str(info.value)
    assert "'orders'" in message and "checkpoint" in message and "app.streams.stop(['orders'])" in message
    # the batch pipe alone, or everything once the query is stopped, runs
    assert app.run(pipes=["clean"], runner=ScriptedRunner()).succeeded
    streams.stop(["orders"])
    assert app.run(runner=ScriptedRunner()).succeeded
