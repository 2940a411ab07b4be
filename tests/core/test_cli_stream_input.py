"""``kindling stream`` bad input (no Spark: each is refused before a session starts), and what
its views draw from status snapshots. The command on real queries is tests/spark/test_cli_stream.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from kindling_core.cli import _stream_view
from kindling_core.cli._stream_view import (
    ChangeLines,
    LiveTable,
    QueryTally,
    Tally,
    headline,
    in_recovery,
    is_alive,
    lag_text,
    problems,
    recovery_text,
    summary_document,
    summary_lines,
)
from kindling_core.items import Classification, FailureKind, RecoveryAction, RecoveryActionKind
from kindling_core.recovery.chain import RecoveryDecision
from kindling_core.streaming import signals as sig
from kindling_core.streaming.events import ProgressSnapshot, SourceProgress
from kindling_core.streaming.state import QueryState
from kindling_core.streaming.status import QueryStatus

from cli_project import Project, kindling, project_in

STREAMING = """
from kindling_core import App

app = App("shop")
app.entity("bronze.orders", path="lake/bronze")
app.entity("silver.orders", path="lake/silver")
app.entity("gold.orders", path="lake/gold")
app.entity("gold.report", path="lake/report")


@app.pipe("silver.orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", write="append")
def silver(orders):
    return orders


@app.pipe("gold.orders", inputs=["silver.orders"], output="gold.orders", mode="streaming", write="append")
def gold(orders):
    return orders


@app.pipe("gold.report", inputs=["gold.orders"], output="gold.report")
def report(orders):
    return orders
"""

BATCH_ONLY = """
from kindling_core import App

app = App("nightly")
app.entity("bronze.orders", path="lake/bronze")
app.entity("silver.orders", path="lake/silver")


@app.pipe("silver.orders", inputs=["bronze.orders"], output="silver.orders")
def silver(orders):
    return orders
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    yield from project_in(tmp_path, monkeypatch)


def configured(project: Project, source: str = STREAMING) -> None:
    module = project.module("shop", source)
    project.pyproject(f'[tool.kindling]\napp = "{module}:app"\n')


def test_an_unknown_pipe_is_refused_with_did_you_mean_and_the_streaming_queries(project: Project) -> None:
    configured(project)
    result = kindling("stream", "--pipes", "gold_orders")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "error: --pipes: 'gold_orders' is not a streaming pipe or a registered query. Did you mean 'gold.orders'? "
        "Streaming queries: gold.orders, silver.orders."
    )
    assert "remedy: pass streaming pipe ids (or names given to app.streams.register()) to --pipes" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_batch_pipe_is_refused_with_what_to_run_instead(project: Project) -> None:
    configured(project)
    result = kindling("stream", "--pipes", "silver.orders,gold.report")
    assert result.exit_code == 2, result.output
    assert "error: --pipes: pipe 'gold.report' is a batch pipe; kindling stream runs streaming pipes only." in result.stderr
    assert "remedy: run batch pipes with kindling run, or declare the pipe with mode='streaming'" in result.stderr


def test_an_app_without_streaming_pipes_has_nothing_to_stream(project: Project) -> None:
    configured(project, BATCH_ONLY)
    result = kindling("stream", "--until-idle")
    assert result.exit_code == 2, result.output
    assert "error: app 'nightly' has nothing to stream: it declares no streaming pipe and registers no query" in result.stderr
    assert "remedy: declare a pipe with @app.pipe(..., mode='streaming')" in result.stderr


def test_no_app_and_empty_pipes_and_a_bad_timeout_are_usage_errors(project: Project) -> None:
    project.pyproject("[tool.kindling]\n")
    result = kindling("stream")
    assert result.exit_code == 2 and "error: no app to stream: pass --app package.module:attr" in result.stderr
    configured(project)
    result = kindling("stream", "--pipes", ",")
    assert result.exit_code == 2 and "error: --pipes ',' names no pipe" in result.stderr
    for value in ("0", "-3", "soon"):
        result = kindling("stream", "--timeout", value)
        assert result.exit_code == 2 and "Invalid value for '--timeout'" in result.stderr, value


def test_failed_plugins_are_warned_about_as_for_run(project: Project) -> None:
    configured(project)
    project.install_plugin()
    result = kindling("stream", "--pipes", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("warning: plugin acme (acme-kindling 1.2.0) failed to import")
    assert "error: --pipes: 'nope' is not a streaming pipe" in result.stderr


# ----------------------------------------------------------------------------- the views


def status(name: str = "silver.orders", state: QueryState = QueryState.RUNNING, **fields) -> QueryStatus:
    return QueryStatus(name=f"kindling_{name}".replace(".", "_"), pipe=name, state=state, taken_at=100.0, **fields)


def delta_offset(version: int) -> str:
    return json.dumps({"sourceVersion": 1, "reservoirId": "r", "reservoirVersion": version, "index": -1, "isStartingVersion": False})


def test_lag_is_how_far_the_last_batch_was_behind_its_sources() -> None:
    assert lag_text(status()) == "-"  # no batch yet
    caught_up = SourceProgress("DeltaSource", end_offset=delta_offset(4), latest_offset=delta_offset(4))
    assert lag_text(status(batch_id=3, sources=(caught_up,))) == "0"
    behind = SourceProgress("DeltaSource", end_offset=delta_offset(4), latest_offset=delta_offset(7))
    assert lag_text(status(batch_id=3, sources=(caught_up, behind))) == "3 versions"
    kafka = SourceProgress("Kafka", end_offset='{"orders": {"0": 10, "1": 5}}', latest_offset='{"orders": {"0": 15, "1": 9}}')
    assert lag_text(status(batch_id=3, sources=(kafka,))) == "9"
    odd = SourceProgress("files", end_offset='{"logOffset": "a"}', latest_offset='{"logOffset": "b"}')
    assert lag_text(status(batch_id=3, sources=(odd,))) == "behind"
    assert lag_text(status(batch_id=3, sources=(SourceProgress("rate"),))) == "0"  # Spark did not say


def test_the_headline_of_a_wrapped_spark_error_is_its_innermost_exception() -> None:
    text = (
        "py4j.Py4JException: An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
        '  File "sink.py", line 135, in write_batch\n'
        "pyspark.errors.exceptions.captured.SparkRuntimeException: [USER_RAISED_EXCEPTION] bad order SQLSTATE: P0001\n"
        "\tat py4j.Protocol.getReturnValue(Protocol.java:476)\n"
    )
    assert headline(text) == "SparkRuntimeException: [USER_RAISED_EXCEPTION] bad order SQLSTATE: P0001"
    java = "[STREAM_FAILED] Query terminated\nCaused by: java.io.IOException: disk full\nCaused by: java.io.FileNotFoundException: /x"
    assert headline(java) == "FileNotFoundException: /x"
    assert headline("stopping query 'feed' timed out after 0.5s\nmore") == "stopping query 'feed' timed out after 0.5s"
    assert headline("x" * 300, width=20) == "x" * 17 + "..."


def progressed(tally: Tally, name: str, rows: int, batch: int) -> None:
    progress = ProgressSnapshot(query_id="q", run_id="r", name=name, timestamp=99.0, batch_id=batch, num_input_rows=rows)
    tally._progressed(None, sig.StreamProgress(name, name, progress))


def test_the_live_table_redraws_in_place() -> None:
    out, tally = io.StringIO(), Tally()
    clock = iter([0.0, 5.0, 6.0]).__next__
    table = LiveTable(out, tally, "kindling stream shop", clock=clock)
    table.update({"silver.orders": status()})
    progressed(tally, "kindling_silver_orders", 40, 0)
    table.update({"silver.orders": status(batch_id=0, processed_rows_per_second=12.5, last_progress_at=98.0)})
    first, second = out.getvalue().split("\x1b[3F\x1b[J")  # back over the title, header and one row
    assert first.splitlines() == [
        "kindling stream shop: 5s (Ctrl-C stops every query)",
        "QUERY          STATE    BATCH  ROWS  ROWS/S  LAG  LAST PROGRESS  FAILURES  RECOVERY",
        "silver.orders  running      -     0     0.0  -    -                     0  -",
    ]
    assert second.splitlines()[2] == "silver.orders  running      0    40    12.5  0    2s ago                0  -"


def test_log_lines_say_each_change_once_and_progress_at_most_every_interval() -> None:
    out, tally = io.StringIO(), Tally()
    now = [0.0]
    lines = ChangeLines(out, tally, progress_every=10.0, clock=lambda: now[0])
    lines.update({"silver.orders": status()})
    progressed(tally, "kindling_silver_orders", 3, 0)
    now[0] = 1.0
    lines.update({"silver.orders": status(batch_id=0)})
    progressed(tally, "kindling_silver_orders", 2, 1)
    now[0] = 2.0
    lines.update({"silver.orders": status(batch_id=1)})  # within 10 s of the last progress line
    now[0] = 12.0
    lines.update({"silver.orders": status(batch_id=1)})
    lines.update({"silver.orders": status(state=QueryState.FAILED, batch_id=1, last_error="ValueError: boom\n  at x")})
    assert out.getvalue().splitlines() == [
        "[   0.0s] silver.orders  running",
        "[   1.0s] silver.orders  1 batches, 3 rows so far; last batch 0: 0.0 rows/s, lag 0",
        "[  12.0s] silver.orders  2 batches, 5 rows so far; last batch 1: 0.0 rows/s, lag 0",
        "[  12.0s] silver.orders  failed: ValueError: boom",
    ]


def test_the_summary_names_failures_and_stops_that_timed_out() -> None:
    tally = Tally()
    progressed(tally, "kindling_silver_orders", 5, 0)
    final = {
        "silver.orders": status(state=QueryState.STOPPED),
        "gold.orders": status("gold.orders", state=QueryState.FAILED, last_error="java.lang.RuntimeException: bad row"),
        "feed": status("feed", state=QueryState.STOPPED, stop_timed_out=True, last_error="stopping query 'feed' timed out after 1s"),
    }
    assert summary_lines(final, tally) == [
        "QUERY          STATE                     BATCHES  ROWS  FAILURES  RECOVERED  LAST ERROR",
        "silver.orders  stopped                         1     5         0          0  -",
        "gold.orders    failed                          0     0         0          0  RuntimeException: bad row",
        "feed           stopped (stop timed out)        0     0         0          0  stopping query 'feed' timed out after 1s",
        "",
        "errors:",
        "  gold.orders: RuntimeException: bad row",
        "  feed: stopping query 'feed' timed out after 1s",
    ]


# ----------------------------------------------------------------------------- recovery in the views

TRANSIENT = Classification(FailureKind.TRANSIENT, "matched 'ConnectionError'", "spark-errors")
PERMANENT = Classification(FailureKind.PERMANENT, "ValueError is a programming or data error", "generic")
RESTART = RecoveryAction(
    RecoveryActionKind.RESTART, "transient failure, attempt 2 of 5", delay_seconds=0.8, strategy="restart-with-backoff"
)
GIVE_UP = RecoveryAction(RecoveryActionKind.GIVE_UP, "permanent failure", strategy="give-up-on-permanent")
ERROR = "py4j.Py4JException: proxy\nConnectionError: orders unreachable"


def emit(tally: Tally, name: str, *events: str, attempt: int = 2) -> None:
    """Feed ``tally`` the recovery signals ``events`` of query ``kindling_<name>`` (their
    receivers, as the signal bus would call them)."""
    query, restart = f"kindling_{name}".replace(".", "_"), RecoveryDecision(RESTART, TRANSIENT, attempt, 5)
    for event in events:
        if event == "failed":
            run = f"run-{len(tally.of(query).ended)}"
            tally._started(None, sig.StreamStarted(query, name, "q", run, 0.1))
            tally._failed(None, failure := sig.StreamTerminated(query, name, "q", run, ERROR, None, "listener", False))
            tally._terminated(None, failure)
        elif event == "scheduled":
            tally._scheduled(None, sig.StreamRecoveryScheduled(query, name, attempt, 5, 0.8, 100.8, restart, ERROR))
        elif event == "started":
            tally._recovering(None, sig.StreamRecovering(query, name, attempt, 5))
        elif event == "recovered":
            tally._recovered(None, sig.StreamRecovered(query, name, "q", "run-ok", attempt, 3.25, 1, "batches"))
        elif event == "exhausted":
            exhausted = RecoveryDecision(RESTART, TRANSIENT, 6, 5, exhausted=True)
            tally._exhausted(None, sig.StreamRecoveryExhausted(query, name, 5, 5, exhausted, ERROR))
        elif event == "declined":
            tally._declined(None, sig.StreamRecoveryDeclined(query, name, RecoveryDecision(GIVE_UP, PERMANENT, 1, 5), "ValueError: bad"))


def recovering(name: str = "silver.orders", **fields) -> QueryStatus:
    return status(name, QueryState.RECOVERING, failures=2, recovery_attempts=2, recovery_limit=5, next_attempt_at=100.8, **fields)


def test_the_recovery_column_says_where_each_query_is_in_its_recovery() -> None:
    tally = Tally()
    emit(tally, "silver.orders", "failed", "scheduled")
    assert recovery_text(recovering(), tally.of("kindling_silver_orders")) == "recovering (attempt 2/5 in 0.8s)"
    emit(tally, "silver.orders", "started")
    restarted = status(state=QueryState.RUNNING, failures=2, recovery_attempts=2, recovery_limit=5)
    assert recovery_text(restarted, tally.of("kindling_silver_orders")) == "restarted (attempt 2/5)"
    emit(tally, "silver.orders", "recovered")
    assert recovery_text(attrs.evolve(restarted, recoveries=1), tally.of("kindling_silver_orders")) == "recovered"
    assert recovery_text(attrs.evolve(restarted, recoveries=3), tally.of("kindling_silver_orders")) == "recovered (3x)"
    exhausted = status(state=QueryState.EXHAUSTED, failures=6, recovery_attempts=5, recovery_limit=5)
    assert recovery_text(exhausted, QueryTally()) == "exhausted after 5 attempts"
    declined = status(state=QueryState.FAILED, failures=1, recovery_action="alert-only")
    assert recovery_text(declined, QueryTally()) == "not recovered (alert-only)"
    assert recovery_text(status(), QueryTally()) == "-"

    out = io.StringIO()
    LiveTable(out, tally, "kindling stream shop", clock=iter([0.0, 1.0]).__next__).update(
        {"silver.orders": recovering(), "gold.orders": status("gold.orders")}
    )
    assert out.getvalue().splitlines()[1:] == [
        "QUERY          STATE       BATCH  ROWS  ROWS/S  LAG  LAST PROGRESS  FAILURES  RECOVERY",
        "silver.orders  recovering      -     0     0.0  -    -                     2  recovering (attempt 2/5 in 0.8s)",
        "gold.orders    running         -     0     0.0  -    -                     0  -",
    ]


def test_log_lines_tell_each_recovery_event_once_even_between_two_refreshes() -> None:
    out, tally = io.StringIO(), Tally()
    lines = ChangeLines(out, tally, clock=lambda: 0.0)
    lines.update({"silver.orders": status(), "gold.orders": status("gold.orders")})
    # between two refreshes silver.orders fails, is restarted and recovers; gold.orders fails for good
    emit(tally, "silver.orders", "failed", "scheduled", "started", "recovered")
    emit(tally, "gold.orders", "failed", "declined")
    lines.update(
        {"silver.orders": status(recoveries=1), "gold.orders": status("gold.orders", QueryState.FAILED, last_error="ValueError: bad")}
    )
    lines.update(
        {"silver.orders": status(recoveries=1), "gold.orders": status("gold.orders", QueryState.FAILED, last_error="ValueError: bad")}
    )
    emit(tally, "silver.orders", "failed", "exhausted")
    lines.update(
        {"silver.orders": status(state=QueryState.EXHAUSTED, last_error=ERROR), "gold.orders": status("gold.orders", QueryState.FAILED)}
    )
    assert [line.split("]", 1)[1].strip() for line in out.getvalue().splitlines()] == [
        "silver.orders  running",
        "gold.orders  running",
        "silver.orders  recovering (attempt 2/5 in 0.8s): transient failure (spark-errors: matched 'ConnectionError'): "
        "ConnectionError: orders unreachable",
        "silver.orders  recovered after 2 attempts in 3.2s (1 healthy micro-batch)",
        "gold.orders  not recovered (give-up by give-up-on-permanent: permanent failure): permanent failure "
        "(generic: ValueError is a programming or data error): ValueError: bad",
        "silver.orders  exhausted after 5 attempts (budget 5): transient failure (spark-errors: matched 'ConnectionError'): "
        "ConnectionError: orders unreachable",
    ]


def test_a_recovered_failure_is_no_problem_but_one_still_recovering_at_the_end_is(monkeypatch: pytest.MonkeyPatch) -> None:
    tally = Tally()
    emit(tally, "silver.orders", "failed", "scheduled", "started", "recovered")
    emit(tally, "gold.orders", "failed", "scheduled")
    emit(tally, "feed", "failed", "scheduled", "started")
    tally._terminated(None, sig.StreamTerminated("kindling_feed", "feed", "q", "run-restarted", None, None, "listener", True))
    final = {
        "silver.orders": status(state=QueryState.STOPPED, failures=1, recoveries=1),
        "gold.orders": status("gold.orders", QueryState.STOPPED, failures=1, last_error=ERROR),  # stopped during its backoff
        "feed": status("feed", QueryState.STOPPED, failures=1),  # its restarted run ended cleanly when stopped
    }
    assert problems(final, tally) == ["gold.orders"]
    assert in_recovery(recovering(), QueryTally()) and not in_recovery(status(), QueryTally())
    emit(tally, "other", "failed")  # failed a moment ago, not judged yet: alive, in recovery
    failed = status("other", QueryState.FAILED)
    assert is_alive(failed, tally.of("kindling_other")) and in_recovery(failed, tally.of("kindling_other"))
    monkeypatch.setattr(_stream_view, "JUDGING_SECONDS", 0.0)  # a decision that never comes is not waited for forever
    assert not is_alive(failed, tally.of("kindling_other")) and not in_recovery(failed, tally.of("kindling_other"))
    monkeypatch.undo()
    emit(tally, "other", "declined")
    assert not is_alive(failed, tally.of("kindling_other")) and not in_recovery(failed, tally.of("kindling_other"))


def test_the_summary_and_the_json_document_carry_failures_recoveries_and_the_last_decision() -> None:
    tally = Tally()
    emit(tally, "silver.orders", "failed", "scheduled", "started", "recovered")
    emit(tally, "gold.orders", "failed", "declined")
    last = {"classification": "transient", "classifier": "spark-errors", "classification_reason": "matched 'ConnectionError'"}
    decided = {
        "recovery_action": "restart",
        "recovery_strategy": "restart-with-backoff",
        "recovery_reason": "attempt 1 of 5",
    }
    final = {
        "silver.orders": status(
            state=QueryState.STOPPED, failures=1, recoveries=1, recovery_attempts=1, recovery_limit=5, **last, **decided
        ),
        "gold.orders": status(
            "gold.orders",
            QueryState.FAILED,
            failures=1,
            last_error="ValueError: bad",
            classification="permanent",
            classifier="generic",
            classification_reason="ValueError is a programming or data error",
            recovery_action="give-up",
            recovery_strategy="give-up-on-permanent",
            recovery_reason="permanent",
        ),
    }
    assert summary_lines(final, tally) == [
        "QUERY          STATE    BATCHES  ROWS  FAILURES  RECOVERED  LAST ERROR",
        "silver.orders  stopped        0     0         1          1  -",
        "gold.orders    failed         0     0         1          0  ValueError: bad",
        "",
        "errors:",
        "  gold.orders: ValueError: bad",
        "",
        "last failure:",
        "  silver.orders: transient (spark-errors: matched 'ConnectionError') -> restart (restart-with-backoff: attempt 1 of 5)",
        "  gold.orders: permanent (generic: ValueError is a programming or data error) -> give-up (give-up-on-permanent: permanent)",
    ]
    queries = {q["query"]: q for q in summary_document(final, tally, outcome="idle")["queries"]}
    assert {k: queries["silver.orders"][k] for k in ("failures", "recoveries", "recovery_attempts", "recovery_limit", "problem")} == {
        "failures": 1,
        "recoveries": 1,
        "recovery_attempts": 1,
        "recovery_limit": 5,
        "problem": None,
    }
    assert {k: queries["silver.orders"][k] for k in (*last, *decided)} == {**last, **decided}
    assert queries["gold.orders"]["classification"] == "permanent" and queries["gold.orders"]["recovery_action"] == "give-up"
    assert queries["gold.orders"]["problem"] == "ValueError: bad"
