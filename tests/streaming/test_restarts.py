"""The restart controller of app.streams on a fake driver: coalescing, debounce and maximum wait
(a hand-driven clock), the concurrency cap, a request during a restart, skips, cascades, the
dimension watcher's changes through the restart policy, bad input. The same on real Spark and
Delta is in tests/spark/test_dimension_restarts.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kindling_core.items import ChangeKind, ChangeReport, SchemaChange
from kindling_core.streaming import restart_signals as rs
from kindling_core.streaming import signals as sig
from kindling_core.streaming.errors import ManagerClosedError, NotRestartableError, StreamingError, UnknownStreamError
from kindling_core.streaming.manager import StreamManager
from kindling_core.streaming.state import QueryState
from kindling_core.testing import make_app
from kindling_core.testing.dimensions import FakeDimensionWatchers
from kindling_core.testing.streams import FakeQuery, FakeStreamDriver

S = QueryState
RESTART_SIGNALS = rs.EMITS
TRANSIENT = "java.net.SocketTimeoutException: Read timed out"


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def identity(*frames: Any) -> Any:
    return frames[0]


class Clock:
    """A clock the test moves by hand (the manager's clock; the controller's debounce uses it)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingDriver(FakeStreamDriver):
    """Counts the queries being restarted at once: from the beginning of a stop to the return
    of the next start of the same query name."""

    def __init__(self) -> None:
        super().__init__()
        self.restarting: set[str] = set()
        self.most_at_once = 0
        self._count_lock = threading.Lock()

    def stop(self, query: Any) -> None:
        with self._count_lock:
            self.restarting.add(query.name)
            self.most_at_once = max(self.most_at_once, len(self.restarting))
        super().stop(query)

    def _start(self, name: str, checkpoint: str) -> FakeQuery:
        try:
            return super()._start(name, checkpoint)
        finally:
            with self._count_lock:
                self.restarting.discard(name)

    def in_restart(self) -> int:
        with self._count_lock:
            return len(self.restarting)


class Harness:
    """``raw.orders`` + dimension ``dim.customers`` -(enrich)-> ``silver.enriched`` -(sales)->
    ``gold.sales``; ``extra`` more streaming pipes ``p0..`` joining the same dimension."""

    def __init__(
        self,
        tmp_path: Path,
        restarts: dict[str, Any] | None = None,
        *,
        extra: int = 0,
        options: dict[str, Any] | None = None,
        **config: Any,
    ) -> None:
        settings = {"debounce-seconds": 0, **(restarts or {})}
        recovery = {"healthy-seconds": 0, "backoff-seconds": 0, "backoff-max-seconds": 0, **config.pop("recovery", {})}
        self.app = make_app(config={"streaming": {"watchdog-interval-seconds": 3600}, "restarts": settings, "recovery": recovery, **config})
        object.__setattr__(self.app.config, "root", tmp_path)
        app = self.app
        app.entity("raw.orders", path="lake/raw_orders")
        app.entity("dim.customers", path="lake/customers", kind="dimension", options=options or {})
        app.entity("silver.enriched", path="lake/enriched")
        app.entity("gold.sales", path="lake/sales")
        app.pipe(
            "enrich", inputs=["raw.orders", "dim.customers"], output="silver.enriched", mode="streaming", dimensions=["dim.customers"]
        )(identity)
        app.pipe("sales", inputs=["silver.enriched"], output="gold.sales", mode="streaming")(identity)
        for i in range(extra):
            app.entity(f"raw.p{i}", path=f"lake/raw_p{i}")
            app.entity(f"out.p{i}", path=f"lake/out_p{i}")
            app.pipe(f"p{i}", inputs=[f"raw.p{i}", "dim.customers"], output=f"out.p{i}", mode="streaming", dimensions=["dim.customers"])(
                identity
            )
        self.clock = Clock()
        self.driver = CountingDriver()
        self.watchers = FakeDimensionWatchers()
        self.streams = StreamManager(app, driver=self.driver, watcher_factory=self.watchers, clock=self.clock)
        self.seen: list[tuple[str, Any]] = []
        self._seen_lock = threading.Lock()
        for spec in (*RESTART_SIGNALS, sig.RECOVERY_SCHEDULED):
            app.signals.connect(spec, lambda sender, payload, name=spec.name: self._record(name, payload))

    def _record(self, name: str, payload: Any) -> None:
        with self._seen_lock:
            self.seen.append((name.split(".")[-1], payload))

    def signals(self, name: str, pipe: str | None = None) -> list[Any]:
        with self._seen_lock:
            return [p for n, p in self.seen if n == name and (pipe is None or getattr(p, "pipe", None) == pipe)]

    def settled(self) -> None:
        """Wait until the controller has nothing pending and nothing under way."""
        wait_until(lambda: self.streams.restarts.idle())

    def starts(self, pipe: str) -> int:
        return self.driver.starts[f"kindling_{pipe}"]

    def close(self) -> None:
        if self.driver.stop_gate is not None:
            self.driver.stop_gate.set()
        self.streams.close(timeout=5)


@pytest.fixture
def harness(tmp_path: Path):
    made: list[Harness] = []

    def make(restarts: dict[str, Any] | None = None, **kwargs: Any) -> Harness:
        h = Harness(tmp_path, restarts, **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


# ----------------------------------------------------------------------------- coalescing and debounce


def test_a_burst_coalesces_into_one_restart_on_the_newest_version_with_every_reason(harness) -> None:
    h = harness({"debounce-seconds": 5, "cascade-depth": 0})
    h.streams.start()
    assert h.streams.request_restart("enrich", "v2 arrived", version=2, entity="dim.customers") is True
    assert h.streams.request_restart("enrich", "v5 arrived", version=5) is False
    assert h.streams.request_restart("enrich", "v3 arrived", version=3) is False
    assert h.streams.request_restart("enrich", "v5 arrived", version=5) is False
    coalesced = h.signals("restart_coalesced")
    assert [(c.version, c.pending_version, c.requests) for c in coalesced] == [(5, 5, 2), (3, 5, 3), (5, 5, 4)]
    assert coalesced[-1].reasons == ("v2 arrived", "v5 arrived", "v3 arrived")
    assert [r.version for r in h.signals("restart_requested")] == [2, 5, 3, 5]
    assert h.streams.restarts.pending == ("enrich",)

    h.clock.advance(5)
    h.settled()
    (started,) = h.signals("restart_started")
    assert (started.version, started.requests, started.reasons) == (5, 4, ("v2 arrived", "v5 arrived", "v3 arrived"))
    assert started.entities == ("dim.customers",) and started.sources == ("api",) and started.waited == 5
    (completed,) = h.signals("restart_completed")
    assert completed.version == 5 and completed.run_id == h.streams.query_status("enrich").run_id
    assert h.starts("enrich") == 2 and h.starts("sales") == 1


def test_a_steady_drip_of_requests_restarts_once_max_wait_seconds_after_the_first(harness) -> None:
    h = harness({"debounce-seconds": 5, "max-wait-seconds": 10, "cascade-depth": 0})
    h.streams.start()
    for version in range(1, 5):  # every 3 s: the debounce alone would never end
        h.streams.request_restart("enrich", f"change {version}", version=version)
        h.clock.advance(3)
    assert h.clock.now == 1_012.0  # past first + max-wait (1_010); last request at 1_009 + 5 = 1_014
    h.settled()
    (started,) = h.signals("restart_started")
    assert started.version == 4 and started.requests == 4 and started.waited == 12
    assert h.starts("enrich") == 2


def test_a_storm_of_twenty_requests_restarts_each_query_once_never_more_than_max_concurrent_at_once(harness) -> None:
    h = harness({"debounce-seconds": 5, "max-concurrent": 2}, extra=5)
    h.streams.start()
    pipes = [f"p{i}" for i in range(5)]
    for version in range(1, 21):
        h.streams.request_restart(pipes[version % 5], f"dimension version {version}", version=version, entity="dim.customers")
    assert sorted(h.streams.restarts.pending) == pipes
    h.driver.stop_gate = threading.Event()
    h.clock.advance(5)
    wait_until(lambda: h.driver.in_restart() == 2)  # two stops held at the gate: the cap is reached
    h.driver.stop_gate.set()
    h.settled()
    assert h.driver.most_at_once == 2
    for i, pipe in enumerate(pipes):
        assert h.starts(pipe) == 2, pipe  # the first start and one restart
        (started,) = h.signals("restart_started", pipe)
        assert started.requests == 4 and started.version == max(v for v in range(1, 21) if v % 5 == i)
    assert len(h.signals("restart_completed")) == 5 and h.driver.overlapping_starts == 0


def test_a_request_during_a_restart_leads_to_exactly_one_follow_up_on_the_newest_version(harness) -> None:
    h = harness({"cascade-depth": 0})
    h.streams.start()
    h.driver.stop_gate = threading.Event()
    h.streams.request_restart("enrich", "first", version=1)
    wait_until(lambda: h.driver.in_restart() == 1)
    for version in (3, 2):
        h.streams.request_restart("enrich", f"during {version}", version=version)
    assert h.streams.restarts.active == ("enrich",) and h.streams.restarts.pending == ("enrich",)
    h.driver.stop_gate.set()
    h.settled()
    first, follow_up = h.signals("restart_started", "enrich")
    assert first.reasons == ("first",) and follow_up.reasons == ("during 3", "during 2") and follow_up.version == 3
    assert [c.version for c in h.signals("restart_completed", "enrich")] == [1, 3]
    assert h.starts("enrich") == 3 and h.driver.most_at_once == 1 and h.driver.overlapping_starts == 0


# ----------------------------------------------------------------------------- skips, failures


def test_a_query_that_is_not_running_is_skipped_with_the_reason(harness) -> None:
    h = harness()
    h.streams.start()
    h.streams.stop(["enrich"])
    h.streams.request_restart("enrich", "customers changed")
    h.settled()
    (skipped,) = h.signals("restart_skipped", "enrich")
    assert skipped.why == "streaming pipe 'enrich' is not running (stopped)" and skipped.reasons == ("customers changed",)
    assert h.starts("enrich") == 1 and not h.signals("restart_started")


def test_a_query_being_recovered_is_left_to_its_recovery(harness) -> None:
    h = harness(recovery={"backoff-seconds": 60, "backoff-max-seconds": 60})
    h.streams.start()
    h.driver.fail("kindling_enrich", TRANSIENT)
    wait_until(lambda: h.streams.query_status("enrich").state is S.RECOVERING)
    h.streams.request_restart("enrich", "customers changed")
    h.settled()
    (skipped,) = h.signals("restart_skipped", "enrich")
    assert "is being recovered; its recovery restarts it over fresh reads" in skipped.why
    assert h.streams.query_status("enrich").state is S.RECOVERING and h.starts("enrich") == 1


def test_a_start_that_fails_during_a_restart_is_reported_and_handed_to_recovery(harness) -> None:
    h = harness(recovery={"max-attempts": 0})
    h.streams.start()
    h.driver.start_errors["kindling_enrich"] = ConnectionError("metastore unreachable")
    h.streams.request_restart("enrich", "customers changed")
    wait_until(lambda: h.streams.query_status("enrich").state is S.EXHAUSTED)  # recovery judged it: budget 0
    h.settled()
    (failed,) = h.signals("restart_failed", "enrich")
    assert failed.stage == "start" and "metastore unreachable" in failed.error
    status = h.streams.query_status("enrich")
    assert status.failures == 1 and status.classification == "transient"


# ----------------------------------------------------------------------------- cascades


def test_a_completed_restart_cascades_to_the_streaming_readers_of_its_output(harness) -> None:
    h = harness()
    h.streams.start()
    h.streams.request_restart("enrich", "customers changed", version=7, entity="dim.customers")
    wait_until(lambda: len(h.signals("restart_completed")) == 2)
    h.settled()
    cascade = h.signals("restart_requested", "sales")[0]
    assert cascade.source == "cascade" and cascade.depth == 1 and cascade.entity == "silver.enriched"
    assert [c.pipe for c in h.signals("restart_completed")] == ["enrich", "sales"]
    assert h.starts("enrich") == 2 and h.starts("sales") == 2


def test_cascades_stop_at_the_cascade_depth(harness) -> None:
    h = harness({"cascade-depth": 0})
    h.streams.start()
    h.streams.request_restart("enrich", "customers changed")
    wait_until(lambda: h.signals("restart_skipped", "sales"))
    h.settled()
    (skipped,) = h.signals("restart_skipped", "sales")
    assert skipped.why == "cascade depth 1 is beyond tool.kindling.restarts.cascade-depth = 0" and skipped.sources == ("cascade",)
    assert h.starts("sales") == 1


# ----------------------------------------------------------------------------- the dimension watcher


def test_the_watcher_starts_with_the_first_pipe_with_dimensions_and_stops_with_stop_all(harness) -> None:
    h = harness()
    h.streams.start(["sales"])  # sales reads enrich's output: enrich (with a dimension) starts too
    assert h.watchers.built == 1 and h.watchers.running
    h.streams.restart("enrich")
    assert h.watchers.built == 1
    h.streams.stop()
    assert not h.watchers.running
    h.streams.start()
    assert h.watchers.built == 2 and h.watchers.running
    h.streams.close()
    assert not h.watchers.running


def test_a_plain_data_change_of_a_delta_dimension_restarts_nothing(harness) -> None:
    h = harness()
    h.streams.start()
    h.watchers.change(ChangeReport("dim.customers", 3, 4, "1 commit changed data", kind=ChangeKind.DATA))
    (skipped,) = h.signals("restart_skipped")
    assert skipped.pipe == "enrich" and skipped.sources == ("dimension",) and skipped.version == 4
    assert skipped.why.startswith("no restart needed: a Delta stream-static join reads the current version of 'dim.customers'")
    h.settled()
    assert h.starts("enrich") == 1 and not h.signals("restart_requested")


def test_an_incompatible_schema_change_restarts_every_running_pipe_joining_the_dimension(harness) -> None:
    h = harness(extra=2)
    h.streams.start()
    h.streams.stop(["p1"])
    schema = SchemaChange(version=9, removed=("tier",))
    h.watchers.change(ChangeReport("dim.customers", 8, 9, "column tier dropped", kind=ChangeKind.SCHEMA, schema=schema))
    h.settled()
    requested = h.signals("restart_requested")
    assert sorted(r.pipe for r in requested if r.source == "dimension") == ["enrich", "p0"]  # p1 is stopped
    assert all(r.version == 9 and r.entity == "dim.customers" for r in requested if r.source == "dimension")
    assert h.starts("enrich") == 2 and h.starts("p0") == 2 and h.starts("p1") == 1


def test_change_restart_always_restarts_on_a_plain_data_change(harness) -> None:
    h = harness(options={"change.restart": "always"})
    h.streams.start()
    h.watchers.change(ChangeReport("dim.customers", 1, 2, "1 commit changed data", kind=ChangeKind.DATA))
    h.settled()
    assert h.starts("enrich") == 2 and h.signals("restart_completed", "enrich")[0].sources == ("dimension",)


# ----------------------------------------------------------------------------- bad input


def test_bad_requests_name_the_culprit(harness) -> None:
    h = harness()
    streams = h.streams
    with pytest.raises(UnknownStreamError, match=r"request_restart\(\): 'enrch' is not a streaming pipe .*Did you mean 'enrich'\?"):
        streams.request_restart("enrch", "x")
    with pytest.raises(
        StreamingError, match="the reason for restarting streaming pipe 'enrich' must be a non-empty string, got '  '"
    ) as caught:
        streams.request_restart("enrich", "  ")
    assert caught.value.culprit == "reason"
    with pytest.raises(StreamingError, match=r"version must be a table version \(an int >= 0\) or None, got -1"):
        streams.request_restart("enrich", "x", version=-1)
    with pytest.raises(StreamingError, match=r"entity 'dim.customer' is not declared\. Did you mean 'dim.customers'\?"):
        streams.request_restart("enrich", "x", entity="dim.customer")
    adopted = streams.adopt(h.driver.adoptable("outside"))
    with pytest.raises(NotRestartableError, match="query 'outside' was adopted; kindling cannot start it again"):
        streams.request_restart(adopted, "x")
    streams.close()
    with pytest.raises(ManagerClosedError):
        streams.request_restart("enrich", "x")


def test_a_query_confirming_its_recovery_is_restarted_only_once_the_recovery_proved_it_healthy(harness) -> None:
    h = harness({"cascade-depth": 0}, recovery={"healthy-seconds": 60, "healthy-batches": 1})
    h.app.signals.connect("streaming.recovered", lambda sender, payload: h._record("recovered", payload))
    h.streams.start()
    h.driver.fail("kindling_enrich", TRANSIENT)
    wait_until(lambda: h.starts("enrich") == 2 and h.streams.query_status("enrich").state is S.RUNNING)  # on probation
    h.streams.request_restart("enrich", "customers changed")
    wait_until(lambda: len(h.signals("restart_requested")) == 1)
    assert not h.signals("restart_started")  # deferred: its recovery has not confirmed the run yet
    h.driver.progress("kindling_enrich")  # the healthy batch: recovered

    def restarted() -> bool:
        if h.starts("enrich") == 3 and h.streams.query_status("enrich").state is S.RUNNING:
            h.driver.progress("kindling_enrich")  # the restarted run's healthy batch
        return bool(h.signals("restart_completed"))

    wait_until(restarted)
    names = [name for name, _ in h.seen if name in ("recovered", "restart_started")]
    assert names == ["recovered", "restart_started"] and h.starts("enrich") == 3


def test_checks_that_fail_before_the_stop_leave_the_query_running(harness) -> None:
    h = harness({"cascade-depth": 0})
    h.streams.start()
    h.driver.stopped_session = True
    h.streams.request_restart("enrich", "customers changed")
    h.settled()
    (failed,) = h.signals("restart_failed", "enrich")
    assert failed.stage == "check" and failed.error.startswith("SessionStoppedError: the fake session is stopped")
    assert h.streams.query_status("enrich").state is S.RUNNING and h.starts("enrich") == 1


def test_a_registered_query_restarts_on_request_and_cascades_nowhere(harness) -> None:
    h = harness()
    h.streams.register("feed", lambda: None)
    h.streams.start(["feed"])
    h.streams.request_restart("feed", "config reloaded")
    h.settled()
    assert [c.pipe for c in h.signals("restart_completed")] == ["feed"] and h.driver.starts["feed"] == 2


def test_closing_drops_pending_restarts_with_a_reason(harness) -> None:
    h = harness({"debounce-seconds": 60})
    h.streams.start()
    h.streams.request_restart("enrich", "customers changed", version=3)
    h.streams.close()
    (skipped,) = h.signals("restart_skipped", "enrich")
    assert skipped.why == "app.streams was closed" and skipped.version == 3
    assert h.starts("enrich") == 1 and not h.signals("restart_started")


def test_a_bad_restart_option_of_a_dimension_fails_the_start_before_anything_starts(harness) -> None:
    from kindling_core.dimensions.errors import DimensionOptionError

    h = harness(options={"change.restart": "allways"})
    with pytest.raises(
        DimensionOptionError, match=r"entity 'dim.customers': options\['change.restart'\] is 'allways'.*Did you mean 'always'\?"
    ):
        h.streams.start()
    assert not h.driver.starts


def test_max_wait_seconds_may_not_be_below_debounce_seconds(tmp_path: Path) -> None:
    from kindling_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"tool.kindling.restarts.max-wait-seconds must be >= tool.kindling.restarts.debounce-seconds"):
        make_app(config={"restarts": {"debounce-seconds": 10, "max-wait-seconds": 5}})
