"""``kindling stream`` through click's CliRunner, in this process, on the test session.

Each test gets a project folder (pyproject.toml, an app module with a per-test name, tiny Delta
tables) and runs ``kindling stream`` as a user would; the app reuses the active local session.
Bad input that needs no Spark (unknown ``--pipes``) is in tests/core/test_cli_stream_input.py.
Ctrl-C is pressed with real SIGINTs (the ``stray_sigints`` fixture, as tests/execution/test_interrupts.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from kindling_core.cli import cli

pytestmark = pytest.mark.spark

DEADLINE = 120.0  # reached only when something is broken

APP = '''
import threading
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kindling_core import App

HERE = Path(__file__).resolve().parent
FAST = "200 milliseconds"

app = App("stream-cli")
app.entity("bronze.orders", path="lake/bronze_orders")
app.entity("silver.customers", path="lake/customers", kind="dimension")
app.entity("silver.orders", path="lake/silver_orders")
app.entity("gold.orders", path="lake/gold_orders")
app.entity("silver.broken", path="lake/broken")
app.entity("silver.numbers", path="lake/numbers")
app.entity("silver.flaky", path="lake/flaky")


@app.pipe("silver.numbers", inputs=[], output="silver.numbers")
def numbers():
    return SparkSession.active().range(3)


@app.pipe(
    "silver.orders", inputs=["bronze.orders", "silver.customers"], output="silver.orders",
    mode="streaming", dimensions=["silver.customers"], trigger=FAST, write="append",
)
def silver(orders, customers):
    return orders.join(customers, "customer_id").select("id", "amount", "tier")


@app.pipe("gold.orders", inputs=["silver.orders"], output="gold.orders", mode="streaming", trigger=FAST, write="append")
def gold(orders):
    return orders.withColumn("doubled", F.col("amount") * 2)


@app.pipe("silver.broken", inputs=["bronze.orders"], output="silver.broken", mode="streaming", trigger=FAST, write="append")
def broken(orders):
    return orders.select(F.when(F.col("id") < 0, F.col("id")).otherwise(F.raise_error(F.lit("bad order on purpose"))).alias("id"))


# While FLAKY exists the flaky pipe's micro-batches fail with a ConnectionError (transient); the
# first restart the manager schedules removes it.
FLAKY = HERE / "flaky.marker"


def _unless_flaky():
    path = str(FLAKY)

    def check(value):
        import os

        if os.path.exists(path):
            raise ConnectionError("ledger unreachable")
        return value

    return F.udf(check, "long")


@app.pipe("silver.flaky", inputs=["bronze.orders"], output="silver.flaky", mode="streaming", trigger=FAST, write="append")
def flaky(orders):
    return orders.withColumn("id", _unless_flaky()("id"))


app.signals.connect("streaming.recovery_scheduled", lambda sender, payload: FLAKY.unlink(missing_ok=True))


# A registered query whose micro-batch blocks until RELEASE is set (a stop cannot finish before).
RELEASE = threading.Event()
ENTERED = threading.Event()


def _block(batch, batch_id):
    ENTERED.set()
    RELEASE.wait(120)


def blocking_feed():
    return (
        SparkSession.active().readStream.format("delta").load(str(HERE / "lake" / "bronze_orders"))
        .writeStream.foreachBatch(_block).option("checkpointLocation", str(HERE / "cp-blocking"))
        .trigger(processingTime="100 milliseconds")
    )


app.streams.register("blocking_feed", blocking_feed)
'''

PYPROJECT = """
[tool.kindling]
app = "{module}:app"

[tool.kindling.streaming]
watchdog-interval-seconds = 3600
stop-timeout-seconds = {stop_timeout}

[tool.kindling.recovery]
backoff-seconds = 0.05
backoff-max-seconds = 0.2
healthy-batches = 1
"""


class Project:
    """A project folder with the app module ``module`` and its tables."""

    def __init__(self, root: Path, module: str) -> None:
        self.root = root
        self.module = module

    def loaded(self, timeout: float = DEADLINE) -> ModuleType:
        """The app module once ``kindling stream`` has imported it (from another thread)."""
        deadline = time.monotonic() + timeout
        while self.module not in sys.modules or not hasattr(sys.modules[self.module], "app"):
            if time.monotonic() > deadline:
                pytest.fail(f"kindling stream never imported {self.module}")
            time.sleep(0.05)
        return sys.modules[self.module]

    def entered(self) -> bool:
        """The blocking feed's micro-batch began (safe to poll from another thread while
        ``kindling stream`` imports the app module: it is in ``sys.modules`` before ``ENTERED``
        is defined)."""
        event = getattr(sys.modules.get(self.module), "ENTERED", None)
        return event is not None and event.is_set()

    def unload(self) -> None:
        """Forget the app module, as the next ``kindling`` process would not have it."""
        sys.modules.pop(self.module, None)

    def rows(self, spark, table: str) -> list[tuple]:
        return sorted(tuple(r) for r in spark.read.format("delta").load(str(self.root / "lake" / table)).collect())


@pytest.fixture
def make_project(spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Project]]:
    """``make_project(stop_timeout=30)``: the project folder (the working directory), with
    bronze.orders (ids 1-3, then 4-5: two commits) and the customers dimension written."""
    module = "stream_app_" + re.sub(r"\W", "_", tmp_path.name)
    logger = logging.getLogger("kindling")
    saved = (list(logger.handlers), logger.level, logger.propagate)

    def make(stop_timeout: float = 30) -> Project:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(APP), encoding="utf-8")
        (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(module=module, stop_timeout=stop_timeout), encoding="utf-8")
        lake = tmp_path / "lake"
        orders = "id long, customer_id long, amount long"
        for batch in ([(1, 1, 10), (2, 2, 20), (3, 1, 30)], [(4, 2, 40), (5, 1, 50)]):
            spark.createDataFrame(batch, orders).coalesce(1).write.format("delta").mode("append").save(str(lake / "bronze_orders"))
        customers = spark.createDataFrame([(1, "gold"), (2, "silver")], "customer_id long, tier string")
        customers.write.format("delta").save(str(lake / "customers"))
        monkeypatch.chdir(tmp_path)
        return Project(tmp_path, module)

    try:
        yield make
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved  # the CLI configures it
        loaded = sys.modules.pop(module, None)
        if loaded is not None:
            loaded.RELEASE.set()
            loaded.app.close()  # after an abort the CLI leaves its queries to the process's end
        for query in spark.streams.active:
            try:
                query.stop()
            except Exception:  # noqa: BLE001 - a blocked query; its batch was released
                pass


def kindling(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def press_ctrl_c_when(ready: Callable[[], bool], presses: int = 1, between: Callable[[], bool] | None = None) -> threading.Thread:
    """Send SIGINT to this process once ``ready()`` holds (and again once ``between()`` does)."""

    def wait_for(condition: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def press() -> None:
        if wait_for(ready):
            os.kill(os.getpid(), signal.SIGINT)
            if presses == 2 and between is not None and wait_for(between):
                os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def summary_rows(output: str) -> dict[str, list[str]]:
    """The summary table's rows (after ``QUERY  STATE  BATCHES``) by query."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("QUERY") and "BATCHES" in line)
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_until_idle_processes_the_chain_then_resumes_from_its_checkpoints_with_a_json_summary(spark, make_project) -> None:
    project = make_project()
    first = kindling("stream", "--pipes", "gold.orders", "--until-idle")
    assert first.exit_code == 0, first.output
    assert "starting gold.orders (and the streaming pipes they read from)" in first.stdout
    assert "gold.orders  running" in first.stdout and "silver.orders  running" in first.stdout  # one line per change
    assert re.search(r"^stream ended after [\d.]+s: every query caught up \(--until-idle\)$", first.stdout, re.M)
    rows = summary_rows(first.stdout)
    assert set(rows) == {"gold.orders", "silver.orders"}  # consumers first, with what they read
    assert rows["silver.orders"][0] == "stopped" and rows["silver.orders"][2:] == ["5", "0", "0", "-"]  # no failures
    assert rows["gold.orders"][0] == "stopped" and rows["gold.orders"][2] == "5"
    tiers = {1: "gold", 2: "silver"}
    assert project.rows(spark, "gold_orders") == [(i, 10 * i, tiers[c], 20 * i) for i, c in ((1, 1), (2, 2), (3, 1), (4, 2), (5, 1))]
    assert not {q.name for q in spark.streams.active} & {"kindling_gold_orders", "kindling_silver_orders"}

    spark.createDataFrame([(6, 2, 60)], "id long, customer_id long, amount long").write.format("delta").mode("append").save(
        str(project.root / "lake" / "bronze_orders")
    )
    project.unload()
    second = kindling("stream", "--pipes", "gold.orders", "--until-idle", "--json")
    assert second.exit_code == 0, second.output
    document = json.loads(second.stdout)  # nothing else on stdout
    assert document["outcome"] == "idle" and document["exit_code"] == 0 and document["until_idle"] is True
    queries = {q["query"]: q for q in document["queries"]}
    assert [q["query"] for q in document["queries"]] == ["gold.orders", "silver.orders"]
    for key in ("gold.orders", "silver.orders"):  # only what is new since the first run, exactly once
        assert queries[key]["rows"] == 1 and queries[key]["state"] == "stopped" and queries[key]["problem"] is None
        assert queries[key]["checkpoint"] == str(project.root / ".kindling" / "checkpoints" / key)
    assert queries["silver.orders"]["trigger"] == "200 milliseconds" and queries["silver.orders"]["name"] == "kindling_silver_orders"
    assert "silver.orders  running" in second.stderr  # progress lines go to stderr with --json
    assert [r[0] for r in project.rows(spark, "gold_orders")] == [1, 2, 3, 4, 5, 6]


def test_a_transient_failure_is_recovered_and_shown_and_until_idle_still_exits_0(spark, make_project) -> None:
    project = make_project()
    (project.root / "flaky.marker").touch()
    result = kindling("stream", "--pipes", "silver.flaky", "--until-idle", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["outcome"] == "idle"
    (query,) = document["queries"]
    assert query["state"] == "stopped" and query["problem"] is None and query["rows"] == 5
    assert query["failures"] == 1 and query["recoveries"] == 1 and query["restarts"] == 1
    assert query["classification"] == "transient" and query["recovery_action"] == "restart"
    assert query["recovery_strategy"] == "restart-with-backoff" and query["recovery_attempts"] == 1 and query["recovery_limit"] == 5
    assert re.search(
        r"silver\.flaky  recovering \(attempt 1/5 in 0\.\ds\): transient failure \(\S+: .+\): .*ConnectionError: ledger unreachable",
        result.stderr,
    )
    assert re.search(r"silver\.flaky  recovered after 1 attempt in [\d.]+s \(1 healthy micro-batch\)", result.stderr)
    assert [r[0] for r in project.rows(spark, "flaky")] == [1, 2, 3, 4, 5]  # the failed batch once, when replayed


def test_timeout_stops_every_query(spark, make_project) -> None:
    make_project()
    result = kindling("stream", "--pipes", "gold.orders", "--timeout", "3")
    assert result.exit_code == 0, result.output
    assert "s: --timeout 3s reached" in result.stdout
    assert "stopping gold.orders, silver.orders (at most 30s each)" in result.stdout
    assert {state for state, *_ in summary_rows(result.stdout).values()} == {"stopped"}
    assert not {q.name for q in spark.streams.active} & {"kindling_gold_orders", "kindling_silver_orders"}


def test_a_failing_streaming_pipe_exits_1_with_its_error_in_the_summary(spark, make_project) -> None:
    make_project()
    result = kindling("stream", "--pipes", "silver.broken,gold.orders", "--until-idle")
    assert result.exit_code == 1, result.output
    assert "s: a query failed (--until-idle)" in result.stdout
    rows = summary_rows(result.stdout)
    # unknown to every classifier: restarted once (unknown-max-attempts), failed again
    assert rows["silver.broken"][0] == "exhausted" and rows["silver.broken"][3:5] == ["2", "0"]
    assert rows["gold.orders"][0] == "stopped" and rows["silver.orders"][0] == "stopped"  # the healthy ones caught up
    errors = result.stdout.split("errors:", 1)[1].split("last failure:", 1)[0]
    assert "silver.broken: SparkRuntimeException: [USER_RAISED_EXCEPTION] bad order on purpose" in errors
    assert "gold.orders:" not in errors
    # reported once to the error handlers (the log handler quotes Spark's text); the command did not crash
    assert result.stderr.count("ERROR kindling.stream: stream 'silver.broken' failed: StreamQueryFailedError") == 1
    assert not re.search(r"^Traceback", result.stderr, re.M)


def test_ctrl_c_stops_every_query_prints_the_summary_and_exits_130(spark, make_project, stray_sigints) -> None:
    make_project()
    names = {"kindling_gold_orders", "kindling_silver_orders"}
    press_ctrl_c_when(lambda: {q.name for q in spark.streams.active} >= names)
    handler_before = signal.getsignal(signal.SIGINT)
    result = kindling("stream", "--pipes", "gold.orders")
    assert result.exit_code == 130, result.output
    assert "interrupt received: stopping every streaming query (press Ctrl-C again to abort at once)" in result.stderr
    assert "interrupted: every query was stopped" in result.stderr
    assert "s: interrupted (Ctrl-C); every query was stopped" in result.stdout
    assert {state for state, *_ in summary_rows(result.stdout).values()} == {"stopped"}
    assert not {q.name for q in spark.streams.active} & names
    assert stray_sigints == []
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_a_stop_that_times_out_is_reported_in_the_summary(spark, make_project, stray_sigints) -> None:
    project = make_project(stop_timeout=0.5)
    press_ctrl_c_when(project.entered)
    result = kindling("stream", "--pipes", "blocking_feed")
    assert result.exit_code == 130, result.output  # interrupted wins over the stop's problem
    rows = summary_rows(result.stdout)
    assert rows["blocking_feed"][:2] == ["stopped", "(stop"] and rows["blocking_feed"][2] == "timed"
    assert "blocking_feed: stopping query 'blocking_feed' timed out after 0.5s" in result.stdout
    assert stray_sigints == []


def test_a_second_ctrl_c_aborts_a_stop_that_hangs(spark, make_project, stray_sigints) -> None:
    project = make_project(stop_timeout=DEADLINE)
    stopping = threading.Event()

    def entered() -> bool:
        if not project.entered():
            return False
        sys.modules[project.module].app.signals.connect("streaming.before_stop", lambda sender, payload: stopping.set())
        return True

    press_ctrl_c_when(entered, presses=2, between=stopping.is_set)
    result = kindling("stream", "--pipes", "blocking_feed")
    assert result.exit_code == 130, result.output
    assert "aborted: stopped waiting for the queries; they end with this process" in result.stderr
    assert "second interrupt" in result.stderr
    assert "Traceback" not in result.output
    assert not project.loaded().RELEASE.is_set()  # it returned while the batch (and its stop) still hung
    assert stray_sigints == []
