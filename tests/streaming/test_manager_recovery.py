"""Recovery of failed streaming queries by the stream manager, on the fake driver: the failure
is classified and decided on through the app's chains, restarted after a backoff on its own
thread, confirmed healthy, exhausted or declined; stops and restarts win over a pending
recovery. The same on real Spark queries is in tests/spark/test_stream_recovery.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling_core.items import FailureKind, RecoveryActionKind
from kindling_core.plugin import FailureClassifier, hookimpl
from kindling_core.streaming import signals as sig
from kindling_core.streaming.errors import CleanStartUnavailableError, StreamQueryFailedError
from kindling_core.streaming.manager import StreamManager
from kindling_core.streaming.state import QueryState
from kindling_core.testing import RecordingErrorHandler, make_app
from kindling_core.testing.streams import FakeStreamDriver

S = QueryState

# What Spark's QueryTerminatedEvent.exception carries, shortened (full captures: tests/fixtures/spark_errors).
TRANSIENT = (
    "org.apache.spark.api.python.PythonException: [PYTHON_EXCEPTION] An exception was thrown from the Python worker: "
    "Traceback (most recent call last):\nConnectionError: lookup service unreachable: [Errno 111] Connection refused"
)
PERMANENT = "org.apache.spark.sql.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view `lake`.`missing` cannot be found."
CHECKPOINT = (
    "org.apache.spark.SparkRuntimeException: [STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA] Streaming stateful "
    "operator name does not match with the operator in state metadata."
)
UNKNOWN = "java.lang.IllegalStateException: the flux capacitor drifted out of phase"

RECOVERY = (
    sig.RECOVERY_SCHEDULED,
    sig.RECOVERY_STARTED,
    sig.RECOVERED,
    sig.RECOVERY_EXHAUSTED,
    sig.RECOVERY_DECLINED,
)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """An app with registered queries on a fake driver, its error handler and recovery signals."""

    def __init__(
        self,
        tmp_path: Path,
        recovery: dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        plugins: dict[str, Any] | None = None,
        **config: Any,
    ) -> None:
        self.recorder = RecordingErrorHandler()
        settings = {"backoff-seconds": 0.01, "backoff-max-seconds": 0.01, "healthy-batches": 1, **(recovery or {})}
        self.app = make_app(
            {"recorder": self.recorder, **(plugins or {})},
            config={"streaming": {"watchdog-interval-seconds": 3600}, "recovery": settings, **config},
        )
        object.__setattr__(self.app.config, "root", tmp_path)
        self.driver = FakeStreamDriver()
        self.streams = StreamManager(self.app, driver=self.driver, **({"clock": clock} if clock else {}))
        self.seen: list[tuple[str, Any]] = []
        for spec in RECOVERY:
            self.app.signals.connect(spec, lambda sender, payload, name=spec.name: self.seen.append((name, payload)))

    def names(self, query: str | None = None) -> list[str]:
        return [name.removeprefix("streaming.") for name, payload in list(self.seen) if query is None or payload.name == query]

    def payload(self, name: str, query: str | None = None) -> Any:
        return next(p for n, p in reversed(list(self.seen)) if n == f"streaming.{name}" and (query is None or p.name == query))

    def state(self, name: str) -> QueryState:
        return self.streams.query_status(name).state

    def recovered(self, name: str, count: int = 1) -> None:
        """Wait for ``count`` recoveries of ``name``; its restarted run makes the healthy batch."""

        def done() -> bool:
            if self.streams.query_status(name).recoveries >= count:
                return True
            if self.state(name) is S.RUNNING and self.streams.query_status(name).restarts > 0:
                self.driver.progress(name)
            return False

        wait_until(done)

    def start_feed(self) -> tuple[StreamManager, FakeStreamDriver]:
        """Register the query ``feed`` and start it."""
        self.streams.register("feed", lambda: None)
        self.streams.start()
        return self.streams, self.driver

    def recover_threads(self) -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("kindling-recover-")]


def pending_recovery(tmp_path: Path) -> Harness:
    """``feed`` failed and waits out a 30 s backoff."""
    harness = Harness(tmp_path, {"backoff-seconds": 30, "backoff-max-seconds": 30})
    harness.start_feed()
    harness.driver.fail("feed", TRANSIENT)
    wait_until(lambda: harness.state("feed") is S.RECOVERING)
    return harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path)
    made.streams.register("feed", lambda: None)
    yield made
    made.streams.close(timeout=5)


def test_a_transient_failure_is_restarted_and_recovered_after_healthy_batches(harness: Harness) -> None:
    streams, driver = harness.streams, harness.driver
    streams.start()
    first_run = streams.query_status("feed").run_id
    driver.fail("feed", TRANSIENT, error_class="PYTHON_EXCEPTION")
    harness.recovered("feed")
    assert harness.names() == ["recovery_scheduled", "recovery_started", "recovered"]
    scheduled = harness.payload("recovery_scheduled")
    assert (scheduled.name, scheduled.pipe, scheduled.attempt, scheduled.max_attempts) == ("feed", None, 1, 5)
    assert 0 <= scheduled.delay <= 0.01 and scheduled.error == TRANSIENT
    decision = scheduled.decision
    assert decision.classification.kind is FailureKind.TRANSIENT and decision.classification.classifier
    assert decision.action.kind is RecoveryActionKind.RESTART and decision.action.strategy == "restart-with-backoff"
    recovered = harness.payload("recovered")
    assert recovered.attempts == 1 and recovered.healthy_by == "batches" and recovered.batches >= 1
    assert recovered.run_id != first_run and recovered.seconds >= 0
    status = streams.query_status("feed")
    assert status.state is S.RUNNING and driver.starts["feed"] == 2 and status.restarts == 1
    assert (status.failures, status.recoveries, status.recovery_attempts, status.recovery_limit) == (1, 1, 1, 5)
    assert status.classification == "transient" and status.classifier == decision.classification.classifier
    assert status.classification_reason == decision.classification.reason
    assert (status.recovery_action, status.recovery_strategy) == ("restart", "restart-with-backoff")
    assert status.next_attempt_at is None and "Connection refused" in (status.last_error or "")
    assert harness.recorder.events == []  # a recovered failure is not an error to handle


def test_recovery_signals_follow_the_failure_and_the_start(harness: Harness) -> None:
    order: list[str] = []
    specs = (sig.QUERY_FAILED, sig.STATE_CHANGED, sig.BEFORE_START, sig.AFTER_START, *RECOVERY)
    for spec in specs:
        harness.app.signals.connect(spec, lambda sender, payload, name=spec.name: order.append(name.removeprefix("streaming.")))
    harness.streams.start()
    order.clear()
    harness.driver.fail("feed", TRANSIENT)
    harness.recovered("feed")
    assert order == [
        "query_failed",
        "state_changed",  # failed
        "state_changed",  # recovering
        "recovery_scheduled",
        "recovery_started",
        "before_start",
        "state_changed",  # starting
        "after_start",
        "state_changed",  # running
        "recovered",
    ]


def test_a_permanent_failure_is_declined_reported_once_and_left_failed(harness: Harness) -> None:
    harness.streams.start()
    harness.driver.fail("feed", PERMANENT, error_class="TABLE_OR_VIEW_NOT_FOUND")
    wait_until(lambda: harness.names() == ["recovery_declined"])
    declined = harness.payload("recovery_declined")
    assert declined.decision.classification.kind is FailureKind.PERMANENT
    assert declined.decision.action.kind is RecoveryActionKind.GIVE_UP and declined.error == PERMANENT
    wait_until(lambda: len(harness.recorder.events) == 1)
    (event,) = harness.recorder.events
    assert isinstance(event.error, StreamQueryFailedError) and event.source == "stream" and event.subject == "feed"
    assert event.error.error_class == "TABLE_OR_VIEW_NOT_FOUND" and event.error.exception_text == PERMANENT
    assert "query 'feed' failed: " + PERMANENT in str(event.error)
    assert event.context["classification"] == "permanent" and event.context["action"] == "give-up"
    assert event.context["strategy"] == "give-up-on-permanent" and event.context["attempts"] == 0
    assert event.context["classifier"] == declined.decision.classification.classifier
    status = harness.streams.query_status("feed")
    assert status.state is S.FAILED and status.recovery_action == "give-up" and status.classification == "permanent"
    assert harness.driver.starts["feed"] == 1 and harness.recover_threads() == []
    assert harness.streams.await_termination(timeout=5) is True


def test_a_crash_loop_exhausts_the_budget_once_and_is_not_restarted_again(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"max-attempts": 2, "healthy-batches": 3})
    streams, driver = harness.start_feed()
    for starts in (2, 3):  # fails right after every restart, before it proved healthy
        driver.fail("feed", TRANSIENT)
        wait_until(lambda starts=starts: driver.starts["feed"] == starts and harness.state("feed") is S.RUNNING)
    driver.fail("feed", TRANSIENT)
    wait_until(lambda: harness.state("feed") is S.EXHAUSTED)
    wait_until(lambda: len(harness.recorder.events) == 1)
    assert harness.names() == ["recovery_scheduled", "recovery_started"] * 2 + ["recovery_exhausted"]
    assert [p.attempt for n, p in harness.seen if n == "streaming.recovery_scheduled"] == [1, 2]
    exhausted = harness.payload("recovery_exhausted")
    assert (exhausted.attempts, exhausted.max_attempts) == (2, 2) and exhausted.decision.exhausted
    (event,) = harness.recorder.events
    assert event.context["attempts"] == 2 and event.context["max_attempts"] == 2 and event.context["action"] == "restart"
    status = streams.query_status("feed")
    assert (status.failures, status.recoveries, status.recovery_attempts, status.recovery_limit) == (3, 0, 2, 2)
    assert driver.starts["feed"] == 3 and harness.recover_threads() == []
    assert streams.await_termination(timeout=5) is True
    streams.start()  # an explicit start leaves exhausted, with a fresh budget
    status = streams.query_status("feed")
    assert status.state is S.RUNNING and status.recovery_attempts == 0 and driver.starts["feed"] == 4
    driver.fail("feed", TRANSIENT)
    wait_until(lambda: driver.starts["feed"] == 5)  # recovered again: the budget was reset
    streams.close()


def test_an_unknown_failure_gets_the_small_budget_of_its_own(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"unknown-max-attempts": 1, "healthy-batches": 3})
    streams, driver = harness.start_feed()
    driver.fail("feed", UNKNOWN)
    wait_until(lambda: driver.starts["feed"] == 2 and harness.state("feed") is S.RUNNING)
    assert harness.payload("recovery_scheduled").max_attempts == 1
    assert streams.query_status("feed").classification == "unknown"
    driver.fail("feed", UNKNOWN)
    wait_until(lambda: harness.state("feed") is S.EXHAUSTED)
    exhausted = harness.payload("recovery_exhausted")
    assert (exhausted.attempts, exhausted.max_attempts) == (1, 1)
    status = streams.query_status("feed")
    assert (status.recovery_attempts, status.recovery_limit) == (1, 1)
    streams.close()


def test_a_stop_during_the_backoff_wins(tmp_path: Path) -> None:
    harness = pending_recovery(tmp_path)
    streams, driver = harness.streams, harness.driver
    pending = streams.query_status("feed")
    assert pending.next_attempt_at == pytest.approx(harness.payload("recovery_scheduled").at)
    assert harness.recover_threads() == ["kindling-recover-feed"]
    (status,) = streams.stop()
    assert status.state is S.STOPPED and status.next_attempt_at is None
    wait_until(lambda: harness.recover_threads() == [])  # the wait was cancelled, not served
    assert driver.starts["feed"] == 1 and harness.names() == ["recovery_scheduled"]
    assert streams.await_termination(timeout=0) is True
    streams.close()


def test_a_restart_during_the_backoff_starts_once_now(tmp_path: Path) -> None:
    harness = pending_recovery(tmp_path)
    streams, driver = harness.streams, harness.driver
    assert streams.start() and harness.state("feed") is S.RECOVERING  # start() leaves a pending recovery alone
    status = streams.restart("feed", reason="operator")
    assert status.state is S.RUNNING and driver.starts["feed"] == 2
    assert status.recovery_attempts == 0 and status.next_attempt_at is None  # an explicit restart resets the budget
    wait_until(lambda: harness.recover_threads() == [])
    assert driver.starts["feed"] == 2 and driver.overlapping_starts == 0
    assert "recovery_started" not in harness.names()
    streams.close()


def test_two_queries_failing_at_once_recover_independently(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams, driver = harness.streams, harness.driver
    release = threading.Event()
    calls: list[str] = []

    def slow() -> None:  # its restart hangs in the builder until released
        calls.append("slow")
        if len(calls) > 1:
            release.wait(30)

    streams.register("slow", slow)
    streams.register("fast", lambda: None)
    streams.start()
    driver.fail("slow", TRANSIENT)
    driver.fail("fast", TRANSIENT)
    harness.recovered("fast")  # while slow's restart still hangs on its own thread
    assert harness.state("slow") is S.STARTING and "kindling-recover-slow" in harness.recover_threads()
    release.set()
    harness.recovered("slow")
    assert driver.starts["slow"] == 2 and driver.starts["fast"] == 2
    assert harness.payload("recovered", "slow").attempts == 1 and harness.payload("recovered", "fast").attempts == 1
    streams.close()


def test_a_failed_restart_is_a_failure_of_the_same_crash_loop(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    streams, driver = harness.streams, harness.driver
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionResetError("Connection reset by peer")

    streams.register("feed", flaky)
    streams.start()
    driver.fail("feed", TRANSIENT)
    harness.recovered("feed")
    assert harness.names() == ["recovery_scheduled", "recovery_started"] * 2 + ["recovered"]
    assert [p.attempt for n, p in harness.seen if n == "streaming.recovery_scheduled"] == [1, 2]
    second = harness.payload("recovery_scheduled")
    assert "ConnectionResetError: Connection reset by peer" in second.error
    assert harness.payload("recovered").attempts == 2
    status = streams.query_status("feed")
    assert (status.failures, status.recoveries, status.recovery_attempts) == (2, 1, 2)
    streams.close()


def test_a_query_running_healthy_seconds_without_batches_is_recovered(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"healthy-batches": 1000, "healthy-seconds": 0.05})
    harness.start_feed()
    harness.driver.fail("feed", TRANSIENT)
    wait_until(lambda: "recovered" in harness.names())
    recovered = harness.payload("recovered")
    assert recovered.healthy_by == "seconds" and recovered.batches == 0
    harness.streams.close()


def test_a_failure_before_the_run_proved_healthy_is_not_a_recovery(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"healthy-batches": 2})
    streams, driver = harness.start_feed()
    driver.fail("feed", TRANSIENT)
    wait_until(lambda: driver.starts["feed"] == 2 and harness.state("feed") is S.RUNNING)
    driver.progress("feed")  # one healthy batch of two
    driver.fail("feed", TRANSIENT)
    wait_until(lambda: driver.starts["feed"] == 3 and harness.state("feed") is S.RUNNING)
    assert "recovered" not in harness.names()
    driver.progress("feed")
    driver.progress("feed")
    wait_until(lambda: "recovered" in harness.names())
    assert harness.payload("recovered").attempts == 2 and harness.payload("recovered").batches == 2
    streams.close()


def test_a_clean_start_is_refused_with_the_checkpoint_named(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    app, streams, driver = harness.app, harness.streams, harness.driver
    app.entity("bronze.events", path="lake/bronze/events")
    app.entity("silver.events", path="lake/silver/events")
    checkpoint = "abfss://lake@acct.dfs.core.windows.net/checkpoints/events"  # kindling clean-starts local checkpoints only
    app.pipe("events", inputs=["bronze.events"], output="silver.events", mode="streaming", checkpoint=checkpoint)(lambda frame: frame)
    streams.start()
    driver.fail("kindling_events", CHECKPOINT, error_class="STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA")
    wait_until(lambda: len(harness.recorder.events) == 1)
    (event,) = harness.recorder.events
    error = event.error
    assert isinstance(error, CleanStartUnavailableError) and error.checkpoint == checkpoint
    assert "streaming pipe 'events' needs a clean start from a fresh checkpoint" in str(error)
    assert f"kindling cannot clean-start it: its checkpoint {checkpoint} is remote" in str(error)
    assert f"checkpoint {checkpoint} is unchanged" in str(error) and "clean-start-on-checkpoint" in str(error)
    assert f"move the checkpoint folder ({checkpoint}) aside by hand" in error.remedy
    assert isinstance(error.__cause__, StreamQueryFailedError) and CHECKPOINT in str(error.__cause__)
    assert event.context["classification"] == "checkpoint" and event.context["action"] == "clean-start"
    declined = harness.payload("recovery_declined")
    assert declined.name == "kindling_events" and declined.pipe == "events"
    assert declined.decision.action.kind is RecoveryActionKind.CLEAN_START
    status = streams.query_status("events")
    assert status.state is S.FAILED and status.recovery_action == "clean-start" and driver.starts["kindling_events"] == 1
    streams.close()


def test_an_adopted_query_is_never_restarted(harness: Harness) -> None:
    streams, driver = harness.streams, harness.driver
    key = streams.adopt(driver.adoptable("outside"))
    driver.fail("outside", TRANSIENT)
    wait_until(lambda: len(harness.recorder.events) == 1)
    declined = harness.payload("recovery_declined")
    action = declined.decision.action
    assert action.kind is RecoveryActionKind.GIVE_UP and action.strategy == "restart-with-backoff"
    assert action.reason.startswith("query 'outside' was adopted: kindling cannot start it again")
    assert harness.state(key) is S.FAILED and driver.starts["outside"] == 1
    assert harness.recorder.events[0].context["reason"] == action.reason


def test_the_budget_ages_out_after_the_window(tmp_path: Path) -> None:
    clock = Clock()
    harness = Harness(tmp_path, {"max-attempts": 1, "window-seconds": 100}, clock=clock)
    streams, driver = harness.start_feed()
    driver.fail("feed", TRANSIENT)
    harness.recovered("feed")
    assert streams.query_status("feed").recovery_attempts == 1  # spent: one more failure now would exhaust it
    clock.now += 101  # a sustained healthy period
    assert streams.query_status("feed").recovery_attempts == 0
    driver.fail("feed", TRANSIENT)
    harness.recovered("feed", 2)
    assert [p.attempt for n, p in harness.seen if n == "streaming.recovery_scheduled"] == [1, 1]
    assert "recovery_exhausted" not in harness.names()
    streams.close()


def test_closing_the_manager_cancels_a_pending_recovery(tmp_path: Path) -> None:
    harness = pending_recovery(tmp_path)
    harness.streams.close(timeout=5)
    assert harness.state("feed") is S.STOPPED
    wait_until(lambda: harness.recover_threads() == [])
    assert harness.driver.starts["feed"] == 1


def test_a_stop_while_the_failure_is_judged_wins(tmp_path: Path) -> None:
    """A classifier that blocks holds the decision while stop() runs: the query ends stopped.
    Meanwhile the other queries' events are handled."""
    judging, release = threading.Event(), threading.Event()

    class Slow:
        @hookimpl
        def kindling_failure_classifiers(self) -> list[FailureClassifier]:
            def classify(context: Any) -> None:
                judging.set()
                release.wait(30)

            return [FailureClassifier(name="slow", description="blocks", classify=classify)]

    harness = Harness(tmp_path, plugins={"slow": Slow()}, **{"failure-classifiers": {"order": ["slow", "..."]}})
    streams = harness.streams
    streams.register("feed", lambda: None)
    streams.register("other", lambda: None)
    streams.start()
    harness.driver.fail("feed", TRANSIENT)
    assert judging.wait(10)
    harness.driver.progress("other")  # the judgement runs on feed's recovery thread, not on the event consumer
    wait_until(lambda: streams.query_status("other").batch_id == 0)
    assert streams.await_termination(timeout=0) is False
    streams.stop(["other"])
    assert streams.await_termination(timeout=0) is False  # feed failed, but is still being judged
    streams.stop()
    release.set()
    wait_until(lambda: streams.query_status("feed").state is S.STOPPED)
    wait_until(lambda: streams.await_termination(timeout=0))
    assert harness.driver.starts["feed"] == 1 and harness.recover_threads() == []
    streams.close()


def test_a_raising_receiver_does_not_stall_a_recovery_even_when_the_bus_propagates(tmp_path: Path) -> None:
    harness = Harness(tmp_path, signals={"propagate-receiver-errors": True})
    harness.start_feed()  # (a start's caller would get the receivers' failures)
    for spec in (sig.RECOVERY_SCHEDULED, sig.RECOVERY_STARTED, sig.STATE_CHANGED, sig.AFTER_START):
        harness.app.signals.connect(spec, lambda sender, payload: 1 / 0)
    harness.driver.fail("feed", TRANSIENT)
    harness.recovered("feed")
    assert harness.names()[-1] == "recovered" and harness.driver.starts["feed"] == 2
    assert harness.recorder.events and all(isinstance(e.error, ZeroDivisionError) for e in harness.recorder.events)
    harness.streams.close()
