"""``kindling stream`` bad input (no Spark: each is refused before a session starts), and what
its views draw from status snapshots. The command on real queries is tests/spark/test_cli_stream.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindling_core.cli._stream_view import ChangeLines, LiveTable, Tally, headline, lag_text, summary_lines
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
        "QUERY          STATE    BATCH  ROWS  ROWS/S  LAG  LAST PROGRESS",
        "silver.orders  running      -     0     0.0  -    -",
    ]
    assert second.splitlines()[2] == "silver.orders  running      0    40    12.5  0    2s ago"


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
        "QUERY          STATE                     BATCHES  ROWS  LAST ERROR",
        "silver.orders  stopped                         1     5  -",
        "gold.orders    failed                          0     0  RuntimeException: bad row",
        "feed           stopped (stop timed out)        0     0  stopping query 'feed' timed out after 1s",
        "",
        "errors:",
        "  gold.orders: RuntimeException: bad row",
        "  feed: stopping query 'feed' timed out after 1s",
    ]
