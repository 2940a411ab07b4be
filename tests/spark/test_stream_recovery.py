"""Failure recovery of ``app.streams`` on real streams: local Spark, Delta source and sink.

Each streaming pipe reads a Delta table and appends to another through the exactly-once sink;
its transform runs a Python UDF that raises (``ConnectionError``: transient, ``ValueError``:
permanent) while the pipe's *marker file* exists. A test writes rows, creates the marker and
appends more rows: the micro-batch fails in a Python worker and the query terminates with
Spark's full error text, which the classifier chain and the recovery-strategy chain then judge.

Backoff is tiny (``QUICK``) and one healthy micro-batch confirms a recovery, so a restart
follows a failure at once. Every wait has a deadline; every query a test starts is stopped
when it ends. The manager's recovery logic in isolation (a fake driver) is tested without
Spark in tests/streaming.
"""

from __future__ import annotations

import importlib.metadata as md
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_streams import DEADLINE, stop_everything, wait_until  # noqa: F401  (stop_everything: an autouse fixture)

from kindling_core.config import parse_config
from kindling_core.plugin import Classification, FailureKind, RecoveryAction, RecoveryActionKind, RecoveryStrategy
from kindling_core.streaming.state import QueryState
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app, plugin_from

pytestmark = pytest.mark.spark

S = QueryState
FAST = "100 milliseconds"
#: A restart follows a failure within 0.2 s; one healthy micro-batch confirms a recovery.
QUICK = {"backoff-seconds": 0.05, "backoff-max-seconds": 0.2, "healthy-batches": 1}
RECOVERY_SIGNALS = (
    "streaming.query_failed",
    "streaming.recovery_scheduled",
    "streaming.recovery_started",
    "streaming.before_start",
    "streaming.recovered",
    "streaming.recovery_exhausted",
    "streaming.recovery_declined",
)


class Signals:
    """The recovery signals an app emitted, in order, as ``(signal name, payload)``."""

    def __init__(self, app: Any) -> None:
        self.seen: list[tuple[str, Any]] = []
        for name in RECOVERY_SIGNALS:
            app.signals.connect(name, lambda sender, payload, name=name: self.seen.append((name, payload)))

    def of(self, pipe: str, name: str | None = None) -> list[Any]:
        """Payloads about ``pipe`` (of signal ``name`` only, when given)."""
        return [p for n, p in list(self.seen) if p.pipe == pipe and (name is None or n == name)]

    def names(self, pipe: str) -> list[str]:
        """The signal names about ``pipe``, in order."""
        return [n for n, p in list(self.seen) if p.pipe == pipe]


class Feed:
    """A streaming pipe ``name``: Delta table ``bronze.<name>`` -> ``silver.<name>`` (append,
    exactly once), through a Python UDF raising ``error`` while ``marker`` exists."""

    def __init__(self, spark, app: Any, root: Path, name: str, error: type[Exception] = ConnectionError) -> None:
        self.spark = spark
        self.name = name
        self.source = root / f"{name}_source"
        self.sink = root / f"{name}_sink"
        self.marker = root / f"{name}.fail"
        self.append(range(1, 4))
        app.entity(f"bronze.{name}", path=str(self.source))
        app.entity(f"silver.{name}", path=str(self.sink))
        checked = guarded(self.marker, error, f"{name} unreachable")
        app.pipe(name, inputs=[f"bronze.{name}"], output=f"silver.{name}", mode="streaming", trigger=FAST, write="append")(
            lambda rows: rows.withColumn("id", checked("id"))
        )

    def append(self, ids: range) -> None:
        frame = self.spark.createDataFrame([(i, 10 * i) for i in ids], "id long, amount long")
        frame.coalesce(1).write.format("delta").mode("append").save(str(self.source))

    def break_with(self, ids: range) -> None:
        """Create the marker, then append ``ids``: the micro-batch reading them fails."""
        self.marker.touch()
        self.append(ids)

    def mend(self, *args: Any) -> None:
        """Remove the marker (a signal receiver, too: the arguments are ignored)."""
        self.marker.unlink(missing_ok=True)

    def ids(self) -> list[int]:
        return sorted(r.id for r in self.spark.read.format("delta").load(str(self.sink)).select("id").collect())


def guarded(marker: Path, error: type[Exception], message: str) -> Any:
    """A UDF returning its argument, or raising ``error(message)`` while ``marker`` exists
    (defined in a function, so cloudpickle ships it to the Python workers by value)."""
    from pyspark.sql.functions import udf

    path = str(marker)

    def check(value):  # no type hints: pyspark would try to infer a pandas UDF from them (and warn)
        import os

        if os.path.exists(path):
            raise error(message)
        return value

    return udf(check, "long")


@pytest.fixture
def recovering_app(spark, tmp_path: Path) -> Iterator[Callable[..., tuple[Any, RecordingErrorHandler]]]:
    """``recovering_app(plugins=(), **tables)``: an app on the session, rooted in the test's
    folder, with ``QUICK`` recovery (a ``recovery`` table's keys merged in), other
    ``[tool.kindling]`` tables as given, and a recording error handler. Closed when the test
    ends, whatever happened: a pending retry must not restart a query in the next test."""
    made: list[Any] = []

    def make(plugins: Sequence[Any] = (), **config: Any) -> tuple[Any, RecordingErrorHandler]:
        recovery = {**QUICK, **config.pop("recovery", {})}
        settings = {"streaming": {"watchdog-interval-seconds": 3600}, "recovery": recovery, **config}
        recorder = RecordingErrorHandler()
        app = make_app([*plugins, FakeEntryPoint("recorder", recorder)], config=parse_config(settings, root=tmp_path))
        made.append(app.use_spark(spark))
        return app, recorder

    yield make
    for app in made:
        app.close()


def stream_errors(recorder: RecordingErrorHandler) -> list[Any]:
    """The error-handler calls about failed queries."""
    return [event for event in recorder.events if event.source == "stream"]


def started(app: Any) -> None:
    """Start the app's streams and wait until they have written the first rows (1-3)."""
    app.streams.start()
    assert app.streams.process_all_available(timeout=DEADLINE)


def settled(app: Any, pipe: str, state: QueryState) -> Any:
    """The status of ``pipe`` once it is in ``state``."""
    wait_until(f"{pipe} {state}", lambda: app.streams.query_status(pipe).state is state)
    return app.streams.query_status(pipe)


# ----------------------------------------------------------------------------- recovery


def test_transient_failures_of_two_queries_recover_independently_with_every_row_once(spark, tmp_path: Path, recovering_app) -> None:
    app, recorder = recovering_app(recovery={"max-attempts": 20})
    orders, refunds = Feed(spark, app, tmp_path, "orders"), Feed(spark, app, tmp_path, "refunds")
    seen = Signals(app)
    # orders mends once its first restart is scheduled; refunds keeps failing until orders has recovered
    app.signals.connect("streaming.recovery_scheduled", lambda sender, payload: payload.pipe == "orders" and orders.mend())
    app.signals.connect("streaming.recovered", lambda sender, payload: payload.pipe == "orders" and refunds.mend())
    started(app)
    orders.break_with(range(4, 7))
    refunds.break_with(range(4, 7))

    for feed in (orders, refunds):
        wait_until(f"{feed.name} recovered", lambda feed=feed: seen.of(feed.name, "streaming.recovered"))
    assert app.streams.process_all_available(timeout=DEADLINE)
    for feed in (orders, refunds):  # the failed batch was replayed: nothing twice, nothing lost
        assert feed.ids() == list(range(1, 7))

    first = seen.of("orders", "streaming.recovery_scheduled")[0]
    assert first.attempt == 1 and 0 <= first.delay <= 0.2  # full jitter under the 0.2 s cap
    assert first.decision.classification.kind.value == "transient"
    assert first.decision.action.kind is RecoveryActionKind.RESTART and first.decision.action.strategy == "restart-with-backoff"
    assert "orders unreachable" in first.error and "ConnectionError" in first.error
    assert seen.names("orders") == [
        "streaming.before_start",
        "streaming.query_failed",
        "streaming.recovery_scheduled",
        "streaming.recovery_started",
        "streaming.before_start",
        "streaming.recovered",
    ]
    (recovered,) = seen.of("orders", "streaming.recovered")
    assert recovered.attempts == 1 and recovered.healthy_by == "batches"
    # refunds failed again after each restart until orders had recovered: its own loop, its own budget
    (refunds_recovered,) = seen.of("refunds", "streaming.recovered")
    assert refunds_recovered.attempts == len(seen.of("refunds", "streaming.recovery_scheduled")) >= 1
    assert seen.seen.index(("streaming.recovered", recovered)) < seen.seen.index(("streaming.recovered", refunds_recovered))
    for feed in (orders, refunds):
        status = app.streams.query_status(feed.name)
        assert status.state is S.RUNNING and status.recoveries == 1 and status.next_attempt_at is None
        assert status.failures == len(seen.of(feed.name, "streaming.query_failed")) >= 1
        assert status.classification == "transient" and status.recovery_action == "restart"
        assert status.restarts == len(seen.of(feed.name, "streaming.before_start")) - 1
    assert stream_errors(recorder) == []  # a recovered failure is no error to report


def test_a_crash_loop_exhausts_the_budget_once_and_stays_down(spark, tmp_path: Path, recovering_app) -> None:
    app, recorder = recovering_app(recovery={"max-attempts": 2})
    orders = Feed(spark, app, tmp_path, "orders")
    seen = Signals(app)
    started(app)
    orders.break_with(range(4, 7))  # the marker stays: every restart replays the failing batch

    status = settled(app, "orders", S.EXHAUSTED)
    (exhausted,) = seen.of("orders", "streaming.recovery_exhausted")
    assert exhausted.attempts == exhausted.max_attempts == 2
    assert exhausted.decision.exhausted and exhausted.decision.classification.kind.value == "transient"
    # three runs (the start and two restarts), each failing; no recovery was ever confirmed
    assert [p.attempt for p in seen.of("orders", "streaming.recovery_scheduled")] == [1, 2]
    assert len(seen.of("orders", "streaming.before_start")) == 3 and len(seen.of("orders", "streaming.query_failed")) == 3
    assert seen.of("orders", "streaming.recovered") == []
    assert status.failures == 3 and status.recoveries == 0 and status.restarts == 2
    assert status.recovery_attempts == status.recovery_limit == 2 and status.next_attempt_at is None
    assert "orders unreachable" in status.last_error
    (event,) = stream_errors(recorder)
    assert event.subject == "orders" and event.context["attempts"] == 2
    assert not any(q.name == "kindling_orders" for q in spark.streams.active)
    # an explicit restart leaves exhausted with a fresh budget
    orders.mend()
    assert app.streams.restart("orders").state is S.RUNNING
    assert app.streams.process_all_available(timeout=DEADLINE) and orders.ids() == list(range(1, 7))
    assert app.streams.query_status("orders").recovery_attempts == 0
    assert len(seen.of("orders", "streaming.recovery_exhausted")) == 1


# ----------------------------------------------------------------------------- plugins

PLUGIN = '''
"""acme-recovery: the ledger is gone for good when unreachable; audit failures page a human."""

from kindling_core.plugin import (
    Classification, FailureClassifier, FailureKind, RecoveryAction, RecoveryActionKind, RecoveryStrategy, hookimpl,
)


def ledger_gone(context):
    if "ledger unreachable" in context.text:
        return Classification(FailureKind.PERMANENT, "the ledger was decommissioned", "ledger-rules")
    return None


def page_on_audit(context):
    if context.failure.subject == "audit":
        return RecoveryAction(RecoveryActionKind.ALERT_ONLY, "audit failures page the on-call", strategy="page-on-audit")
    return None


@hookimpl
def kindling_failure_classifiers():
    return [FailureClassifier(name="ledger-rules", description="the ledger never comes back", classify=ledger_gone)]


@hookimpl
def kindling_recovery_strategies():
    return [RecoveryStrategy(name="page-on-audit", description="alert only for audit", decide=page_on_audit)]
'''


def installed(site: Path, module: str, distribution: str, version: str, source: str) -> list[Any]:
    """Install a plugin distribution in ``site`` as pip leaves one (module, ``*.dist-info``
    with ``entry_points.txt``); return its real ``kindling`` entry points."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[kindling]\nacme = {module}\n", encoding="utf-8")
    return [ep for dist in md.distributions(path=[str(site)]) for ep in dist.entry_points if ep.group == "kindling"]


def test_permanent_failures_and_declined_recoveries_are_never_restarted_and_reported_once(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recovering_app
) -> None:
    """orders: a ValueError, permanent by the built-in classifiers. ledger and audit: a
    ConnectionError, which the built-ins restart (see the first test), but a classifier and a
    recovery strategy from an installed plugin distribution decide otherwise."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    module = f"acme_recovery_{tmp_path.name.replace('-', '_')}"
    plugins = installed(site, module, "acme-recovery", "0.3.0", PLUGIN)
    order = {"failure-classifiers": {"order": ["ledger-rules", "..."]}, "recovery": {"order": ["page-on-audit", "..."]}}
    app, recorder = recovering_app(plugins, **order)
    orders = Feed(spark, app, tmp_path, "orders", error=ValueError)
    ledger, audit = Feed(spark, app, tmp_path, "ledger"), Feed(spark, app, tmp_path, "audit")
    seen = Signals(app)
    started(app)
    for feed in (orders, ledger, audit):
        feed.break_with(range(4, 7))

    for feed in (orders, ledger, audit):
        wait_until(f"{feed.name}'s recovery declined", lambda feed=feed: seen.of(feed.name, "streaming.recovery_declined"))
    (permanent,) = seen.of("orders", "streaming.recovery_declined")
    assert permanent.decision.classification.kind.value == "permanent" and "ValueError: orders unreachable" in permanent.error
    assert permanent.decision.action.kind is RecoveryActionKind.GIVE_UP
    (by_classifier,) = seen.of("ledger", "streaming.recovery_declined")
    assert by_classifier.decision.classification == Classification(FailureKind.PERMANENT, "the ledger was decommissioned", "ledger-rules")
    assert by_classifier.decision.action.kind is RecoveryActionKind.GIVE_UP
    (by_strategy,) = seen.of("audit", "streaming.recovery_declined")
    assert by_strategy.decision.classification.kind.value == "transient"
    assert by_strategy.decision.action == RecoveryAction(
        RecoveryActionKind.ALERT_ONLY, "audit failures page the on-call", strategy="page-on-audit"
    )

    statuses = {feed.name: app.streams.query_status(feed.name) for feed in (orders, ledger, audit)}
    assert statuses["orders"].classification == "permanent" and statuses["orders"].recovery_action == "give-up"
    assert statuses["ledger"].classifier == "ledger-rules" and statuses["ledger"].classification_reason == "the ledger was decommissioned"
    assert statuses["audit"].recovery_action == "alert-only" and statuses["audit"].recovery_strategy == "page-on-audit"
    for name, status in statuses.items():
        assert status.state is S.FAILED and status.failures == 1 and status.recoveries == 0 and status.restarts == 0, name
        assert status.next_attempt_at is None and f"{name} unreachable" in status.last_error
        assert seen.names(name) == ["streaming.before_start", "streaming.query_failed", "streaming.recovery_declined"]
    events = {event.subject: event for event in stream_errors(recorder)}
    assert len(stream_errors(recorder)) == 3 and set(events) == {"orders", "ledger", "audit"}  # one call each
    assert "ValueError: orders unreachable" in str(events["orders"].error) and events["orders"].context["classification"] == "permanent"
    assert events["ledger"].context["classifier"] == "ledger-rules" and events["audit"].context["action"] == "alert-only"
    assert not {q.name for q in spark.streams.active} & {"kindling_orders", "kindling_ledger", "kindling_audit"}


# ----------------------------------------------------------------------------- races

#: A fixed backoff far longer than the test: a retry that fired would show as a start; one that
#: is still pending is the recovery's waiting thread (``kindling-recover-<key>``).
HOLD = 60.0


def hold_off(context: Any) -> RecoveryAction:
    return RecoveryAction(RecoveryActionKind.RESTART, f"wait {HOLD:g}s", delay_seconds=HOLD, strategy="hold-off")


HOLD_OFF = FakeEntryPoint(
    "hold-off",
    plugin_from(kindling_recovery_strategies=lambda: [RecoveryStrategy(name="hold-off", description="fixed delay", decide=hold_off)]),
)


def pending_retry(key: str) -> bool:
    """A recovery of ``key`` is waiting out its backoff (its thread is alive)."""
    return any(thread.name == f"kindling-recover-{key}" and thread.is_alive() for thread in threading.enumerate())


def test_restart_and_stop_during_a_backoff_win_over_the_pending_retry(spark, tmp_path: Path, recovering_app) -> None:
    app, _ = recovering_app([HOLD_OFF], recovery={"order": ["hold-off", "..."]})
    restarted, stopped = Feed(spark, app, tmp_path, "restarted"), Feed(spark, app, tmp_path, "stopped")
    seen = Signals(app)
    started(app)
    restarted.break_with(range(4, 7))
    stopped.break_with(range(4, 7))

    def backing_off(feed: Feed) -> None:
        wait_until(f"{feed.name}'s retry scheduled", lambda: seen.of(feed.name, "streaming.recovery_scheduled"))
        status = app.streams.query_status(feed.name)
        assert status.state is S.RECOVERING and status.next_attempt_at > time.time() + HOLD / 2 and pending_retry(feed.name)

    backing_off(restarted)
    restarted.mend()
    assert app.streams.restart("restarted").state is S.RUNNING  # at once, not after the backoff
    backing_off(stopped)
    (status,) = app.streams.stop("stopped")
    assert status.state is S.STOPPED and status.next_attempt_at is None
    assert app.streams.process_all_available(timeout=DEADLINE) and restarted.ids() == list(range(1, 7))

    wait_until("the pending retries cancelled", lambda: not pending_retry("restarted") and not pending_retry("stopped"))
    for feed in (restarted, stopped):
        assert seen.of(feed.name, "streaming.recovery_started") == []  # neither retry fired
    assert [p.reason for p in seen.of("restarted", "streaming.before_start")][0] == "start"
    assert len(seen.of("restarted", "streaming.before_start")) == 2 and len(seen.of("stopped", "streaming.before_start")) == 1
    assert app.streams.query_status("restarted").state is S.RUNNING and app.streams.query_status("restarted").next_attempt_at is None
    assert app.streams.query_status("stopped").state is S.STOPPED
    assert [q.name for q in spark.streams.active].count("kindling_stopped") == 0
