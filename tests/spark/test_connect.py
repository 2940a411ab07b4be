"""kindling on Spark Connect: a client session talking to a local Spark Connect server.

The test session already holds a classic SparkContext, and a second one cannot coexist with
it, so both ends run in their own processes:

* the **server**: a classic local Delta session (``get_or_create_session``, so the same Delta
  jars, extension, catalog and worker interpreter as every other Spark test) with the Spark
  Connect plugin (``spark.plugins=org.apache.spark.sql.connect.SparkConnectPlugin``, shipped in
  pyspark's own ``spark-connect`` jar) listening on a free loopback port. It has *no* Delta
  Connect server plugin (``io.delta:delta-connect-server``): that artifact is not on Maven
  Central for Delta 4.4.0, so ``delta.tables.DeltaTable`` calls cannot work against it -- only
  Delta through SQL and the DataFrame reader/writer does;
* the **client**: ``get_or_create_session(SparkSettings(remote="sc://127.0.0.1:<port>"))``, a
  pure-Python Spark Connect session, running one kindling app end to end (an overwrite, a
  merge, a table with a declared schema and change data feed, a timeout cancelled through
  ``interruptTag``, and the version probe's DESCRIBE HISTORY fallback). It prints one JSON
  document that the tests below check piece by piece.

Skipped only when pyspark's ``connect`` extra dependencies are not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling_core.spark.jars import JARS_DIR_ENV, default_jars_dir

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# Import name -> distribution: what `pip install pyspark[connect]==4.2.0` adds to pyspark.
CONNECT_MODULES = {
    "grpc": "grpcio",
    "grpc_status": "grpcio-status",
    "google.rpc.status_pb2": "googleapis-common-protos",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "zstandard": "zstandard",
}


def _missing_connect_dependencies() -> list[str]:
    missing = []
    for module, dist in CONNECT_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a missing parent package (`google`)
            found = False
        if not found:
            missing.append(dist)
    return missing


_MISSING = _missing_connect_dependencies()
if _MISSING:
    pytest.skip(
        "Spark Connect client dependencies are not installed: "
        f"{', '.join(_MISSING)} (pip install 'pyspark[connect]==4.2.0')",
        allow_module_level=True,
    )

SERVER_START_TIMEOUT = 180.0
CLIENT_TIMEOUT = 420.0

SERVER_SCRIPT = r"""
import sys
from kindling_core.spark import SparkSettings, get_or_create_session

port, warehouse = sys.argv[1], sys.argv[2]
spark = get_or_create_session(SparkSettings(
    master="local[2]",
    app_name="kindling-connect-server",
    shuffle_partitions=1,
    warehouse_dir=warehouse,
    extra_conf={
        "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": port,
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m",
    },
))
print("KINDLING-CONNECT-SERVER-READY", flush=True)
sys.stdin.read()  # serve until the test closes our stdin
spark.stop()
"""

CLIENT_SCRIPT = r"""
import json, sys, time, traceback, warnings
from pathlib import Path

warnings.simplefilter("ignore")  # pandas/pyarrow version notices from pyspark.sql.connect
from pyspark.sql import functions as F

from kindling_core.spark import SparkSettings, get_or_create_session, probe_versions
from kindling_core.testing import make_app

url, root = sys.argv[1], Path(sys.argv[2])
out = {}


def error_text(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def step(name, func):
    try:
        out[name] = func()
    except Exception as exc:
        out[name] = {"error": error_text(exc), "traceback": traceback.format_exc()}


spark = get_or_create_session(SparkSettings(remote=url))
out["session_module"] = type(spark).__module__
out["classic"] = getattr(spark, "_jsparkSession", None) is not None


def seed(name, rows, schema="id long, name string"):
    spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite").save(str(root / name))


def rows(name):
    if not (root / name / "_delta_log").is_dir():
        return None
    return sorted([list(r) for r in spark.read.format("delta").load(str(root / name)).collect()])


def latest_version(name):
    return spark.sql(f"DESCRIBE HISTORY delta.`{root / name}` LIMIT 1").collect()[0]["version"]


def outcome(result, pipe_id):
    o = result.outcome(pipe_id)
    return {"status": o.status.value, "error": (o.error_message or "").splitlines()[0] if o.error_message else None}


seed("raw", [(1, "a"), (2, "b")])
seed("updates", [(2, "B"), (3, "c")])
seed("gold", [(1, "a"), (2, "b")])

app = make_app(config={})
app.use_spark(spark)
app.entity("raw", path=str(root / "raw"))
app.entity("updates", path=str(root / "updates"))
app.entity("silver", path=str(root / "silver"))
app.entity("gold", path=str(root / "gold"), merge_keys=["id"])
app.entity(
    "feed",
    path=str(root / "feed"),
    schema="id long, name string",
    change_data_feed=True,
    partition_by=["name"],
)


@app.pipe("load", inputs=["raw"], output="silver")
def load(raw):
    return raw.withColumn("name", F.upper("name"))


@app.pipe("upsert", inputs=["updates", "silver"], output="gold", write="merge")
def upsert(updates, silver):  # silver only orders it after `load`
    return updates


@app.pipe("to_feed", inputs=["silver"], output="feed", write="append")
def to_feed(silver):
    return silver


def run_app():
    result = app.run(on_failure="continue")
    return {pipe_id: outcome(result, pipe_id) for pipe_id in ("load", "upsert", "to_feed")}


step("run", run_app)
out["silver"] = rows("silver")
out["gold"] = rows("gold")
out["feed"] = rows("feed")


def feed_table():
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{root / 'feed'}`").collect()[0]
    return {
        "partition_columns": list(detail["partitionColumns"]),
        "cdf": detail["properties"].get("delta.enableChangeDataFeed"),
    }


step("feed_table", feed_table if out["feed"] is not None else lambda: None)


def probe():
    found = probe_versions(
        spark,
        {"raw": str(root / "raw"), "silver": str(root / "silver"), "nowhere": str(root / "nowhere")},
        since={"silver": 0},
    )
    return {
        key: {
            "status": info.status.value,
            "version": info.version,
            "operation": info.operation,
            "data_change": info.data_change,
            "backend": info.backend,
            "error": info.error,
        }
        for key, info in found.items()
    }


step("probe", probe)


def timeout():
    seed("slow_out", [(100, "x")])
    slow_app = make_app(config={})
    slow_app.use_spark(spark)
    slow_app.entity("raw", path=str(root / "raw"))
    slow_app.entity("slow_out", path=str(root / "slow_out"))

    @F.udf("long")
    def slow(value):
        import time as _time

        _time.sleep(60)
        return value

    @slow_app.pipe("slow", inputs=["raw"], output="slow_out", write="append")
    def slow_pipe(raw):
        return raw.select(slow("id").alias("id"), "name")

    interrupted = []  # operation ids each SparkPipeRunner.cancel -> spark.interruptTag stopped
    interrupt_tag = spark.interruptTag

    def recording_interrupt_tag(tag):
        ids = interrupt_tag(tag)
        interrupted.extend(ids)
        return ids

    spark.interruptTag = recording_interrupt_tag
    before = latest_version("slow_out")
    started = time.perf_counter()
    result = slow_app.run(timeout_seconds=3)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    spark.range(3).collect()
    return {
        **outcome(result, "slow"),
        "elapsed": elapsed,
        "interrupted_operations": len(interrupted),
        "next_query_seconds": time.perf_counter() - started,
        "version_before": before,
        "version_after": latest_version("slow_out"),
        "rows": rows("slow_out"),
    }


step("timeout", timeout)
spark.stop()
print("KINDLING-CONNECT-RESULT " + json.dumps(out), flush=True)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # A Connect setting inherited from the caller must not redirect either process.
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "PYSPARK_SUBMIT_ARGS"):
        env.pop(key, None)
    env[JARS_DIR_ENV] = str(default_jars_dir())  # the children run elsewhere than the cwd
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    return env


def _client_report(script: str, url: str, root: Path, marker: str) -> dict[str, Any]:
    """Run a client ``script`` against the server at ``url`` in ``root``; return the JSON it
    printed after ``marker`` (fail with its output when it printed none)."""
    proc = subprocess.run(
        [sys.executable, "-c", script, url, str(root)],
        check=False,
        cwd=root,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(marker + " "):
            return json.loads(line[len(marker) + 1 :])
    pytest.fail(f"the Connect client crashed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server with Delta in its own process; yields its ``sc://`` URL."""
    folder = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    log = (folder / "server.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(port), str(folder / "warehouse")],
        cwd=folder,
        env=_child_env(),
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while "KINDLING-CONNECT-SERVER-READY" not in (folder / "server.log").read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start:\n{(folder / 'server.log').read_text()[-4000:]}")
            time.sleep(0.25)
        yield f"sc://127.0.0.1:{port}"
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def connect_run(connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run :data:`CLIENT_SCRIPT` once against the server; return its JSON report."""
    root = tmp_path_factory.mktemp("connect-lake")
    return _client_report(CLIENT_SCRIPT, connect_url, root, "KINDLING-CONNECT-RESULT")


def _ok(value: Any) -> Any:
    """``value``, failing with the client's traceback when the step raised."""
    if isinstance(value, dict) and "traceback" in value:
        pytest.fail(value["traceback"])
    return value


def test_session_is_a_spark_connect_client(connect_run: dict[str, Any]) -> None:
    assert connect_run["session_module"] == "pyspark.sql.connect.session"
    assert connect_run["classic"] is False


def test_overwrite_pipe_writes_and_reads_back(connect_run: dict[str, Any]) -> None:
    run = _ok(connect_run["run"])
    assert run["load"] == {"status": "succeeded", "error": None}
    assert connect_run["silver"] == [[1, "A"], [2, "B"]]


def test_merge_pipe_upserts_on_merge_keys(connect_run: dict[str, Any]) -> None:
    run = _ok(connect_run["run"])
    assert run["upsert"] == {"status": "succeeded", "error": None}, run["upsert"]
    assert connect_run["gold"] == [[1, "a"], [2, "B"], [3, "c"]]


def test_declared_schema_table_is_created_with_properties(connect_run: dict[str, Any]) -> None:
    run = _ok(connect_run["run"])
    assert run["to_feed"] == {"status": "succeeded", "error": None}, run["to_feed"]
    assert connect_run["feed"] == [[1, "A"], [2, "B"]]
    assert _ok(connect_run["feed_table"]) == {"partition_columns": ["name"], "cdf": "true"}


def test_timeout_interrupts_the_pipes_tagged_operations(connect_run: dict[str, Any]) -> None:
    timeout = _ok(connect_run["timeout"])
    assert timeout["status"] == "timed_out", timeout
    assert "timed out after 3s; its Spark jobs were cancelled" in timeout["error"]
    assert timeout["interrupted_operations"] >= 1, "interruptTag found no running operation under the tag"
    assert timeout["elapsed"] < 30, "the UDF (60 s) was waited out instead of interrupted"
    assert timeout["version_before"] == timeout["version_after"] == 0
    assert timeout["rows"] == [[100, "x"]]
    assert timeout["next_query_seconds"] < 20, "the session is still busy with the interrupted job"


def test_version_probe_falls_back_to_history(connect_run: dict[str, Any]) -> None:
    probe = _ok(connect_run["probe"])
    assert probe["silver"] == {
        "status": "ok",
        "version": 0,
        "operation": "WRITE",
        "data_change": False,
        "backend": "history",
        "error": None,
    }
    assert probe["raw"] == {
        "status": "ok",
        "version": 0,
        "operation": "WRITE",
        "data_change": True,
        "backend": "history",
        "error": None,
    }
    assert probe["nowhere"]["status"] == "missing" and probe["nowhere"]["backend"] == "history"


# --- the streaming listener bridge on Spark Connect (a client-side listener) ---------------

LISTENER_CLIENT_SCRIPT = r"""
import json, sys, threading, warnings
from pathlib import Path

warnings.simplefilter("ignore")
from kindling_core.spark import SparkSettings, get_or_create_session
from kindling_core.spark.listener import attach_listener

url, root = sys.argv[1], Path(sys.argv[2])
spark = get_or_create_session(SparkSettings(remote=url))
changed = threading.Condition()
events = []  # (thread, event)


def put(event):
    with changed:
        events.append((threading.current_thread() is threading.main_thread(), event))
        changed.notify_all()


def wait_for(kind):
    with changed:
        if not changed.wait_for(lambda: any(type(e).__name__ == kind for _, e in events), 120):
            raise SystemExit(f"no {kind} event within 120 s: {events}")


detach = attach_listener(spark, put)
same = attach_listener(spark, put) is detach
spark.range(5).write.format("delta").save(str(root / "source"))
spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", "100ms")
query = (
    spark.readStream.format("delta").load(str(root / "source"))
    .writeStream.format("noop").option("checkpointLocation", str(root / "checkpoint"))
    .queryName("connect_listener").trigger(processingTime="200 milliseconds").start()
)
spark.conf.unset("spark.sql.streaming.noDataProgressEventInterval")
try:
    wait_for("QueryIdle")
finally:
    query.stop()
wait_for("QueryTerminated")
detach()
detach()


def describe(on_main, event):
    out = {"kind": type(event).__name__, "on_main_thread": on_main, "query_id": event.query_id, "run_id": event.run_id}
    if hasattr(event, "progress"):
        p = event.progress
        out.update(batch_id=p.batch_id, rows=p.num_input_rows, sink_rows=p.sink_rows, durations=sorted(p.duration_ms),
                   sources=[[s.description, s.start_offset, s.end_offset] for s in p.sources])
    if hasattr(event, "exception"):
        out["exception"] = event.exception
    return out


report = {
    "query": {"id": str(query.id), "run_id": str(query.runId)},
    "same_attachment": same,
    "attached_after_detach": detach.attached,
    "failures": detach.stats().total_failures,
    "events": [describe(on_main, e) for on_main, e in events if e.query_id == str(query.id)],
}
spark.stop()
print("KINDLING-CONNECT-LISTENER " + json.dumps(report), flush=True)
"""


@pytest.fixture(scope="module")
def connect_listener_run(connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run :data:`LISTENER_CLIENT_SCRIPT` once against the module's server; return its report."""
    root = tmp_path_factory.mktemp("connect-listener")
    return _client_report(LISTENER_CLIENT_SCRIPT, connect_url, root, "KINDLING-CONNECT-LISTENER")


def test_listener_bridge_reports_a_querys_life_on_connect(connect_listener_run: dict[str, Any]) -> None:
    run = connect_listener_run
    events = run["events"]
    kinds = [event["kind"] for event in events]
    assert kinds[0] == "QueryStarted" and kinds[-1] == "QueryTerminated", kinds
    assert kinds.count("QueryStarted") == kinds.count("QueryTerminated") == 1 and "QueryIdle" in kinds
    assert all((event["query_id"], event["run_id"]) == (run["query"]["id"], run["query"]["run_id"]) for event in events)
    # onQueryStarted is called inside start() on the caller's thread; the rest on the client's event thread.
    assert [event["on_main_thread"] for event in events] == [True] + [False] * (len(events) - 1)
    (progress,) = [event for event in events if event["kind"] == "QueryProgressed"]
    assert (progress["batch_id"], progress["rows"], progress["sink_rows"]) == (0, 5, 5)
    assert {"addBatch", "triggerExecution"} <= set(progress["durations"])
    ((description, start, end),) = progress["sources"]
    assert description.startswith("DeltaSource[") and start is None  # Connect's "null", copied as None
    assert json.loads(end)["reservoirVersion"] == 1
    assert events[-1]["exception"] is None
    assert run["same_attachment"] and run["attached_after_detach"] is False and run["failures"] == 0


# --- app.streams on Spark Connect: start, status, stop through the stream manager ----------

STREAMS_CLIENT_SCRIPT = r"""
import json, sys, time, traceback, warnings
from pathlib import Path

warnings.simplefilter("ignore")
from pyspark.sql import SparkSession

from kindling_core.config import parse_config
from kindling_core.spark import SparkSettings, get_or_create_session
from kindling_core.testing import make_app

url, root = sys.argv[1], Path(sys.argv[2])
spark = get_or_create_session(SparkSettings(remote=url))
spark.createDataFrame([(1, 10), (2, 20), (3, 30)], "id long, amount long").write.format("delta").save(str(root / "source"))


def streams_app(session):
    app = make_app(config=parse_config({"streaming": {"watchdog-interval-seconds": 0.5}}, root=root))
    app.use_spark(session)
    app.entity("bronze.orders", path="source")
    app.entity("silver.orders", path="silver")
    app.pipe("orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming", trigger="200 milliseconds",
             write="append")(lambda orders: orders.withColumn("doubled", orders.amount * 2))
    return app


out = {}
app = streams_app(spark)
states = []
app.signals.connect("streaming.state_changed", lambda sender, payload: states.append(payload.state.value))
try:
    out["started"] = [s.state.value for s in app.streams.start()]
    out["drained"] = app.streams.process_all_available(timeout=120)
    deadline = time.monotonic() + 60
    while app.streams.query_status("orders").batch_id is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the progress event travels server -> client listener -> consumer
    status = app.streams.query_status("orders")
    out["status"] = {
        "state": status.state.value, "name": status.name, "batch_id": status.batch_id, "query_id": status.query_id,
        "run_id": status.run_id, "sources": len(status.sources), "progress_time": status.last_progress_at is not None,
    }
    out["active_before_stop"] = sorted(q.name for q in spark.streams.active)
    out["stopped"] = [s.state.value for s in app.streams.stop(timeout=60)]
    out["active_after_stop"] = sorted(q.name for q in spark.streams.active)
    out["rows"] = sorted([list(r) for r in spark.read.format("delta").load(str(root / "silver")).collect()])
    app.close()
    out["states"] = states
    stopped = SparkSession.builder.remote(url).create()
    stopped.stop()
    try:
        streams_app(stopped).streams.start()
        out["stopped_session"] = None
    except Exception as exc:
        out["stopped_session"] = [type(exc).__name__, str(exc)]
except Exception:
    out["error"] = traceback.format_exc()
spark.stop()
print("KINDLING-CONNECT-STREAMS " + json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def connect_streams_run(connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run :data:`STREAMS_CLIENT_SCRIPT` once against the module's server; return its report."""
    root = tmp_path_factory.mktemp("connect-streams")
    return _client_report(STREAMS_CLIENT_SCRIPT, connect_url, root, "KINDLING-CONNECT-STREAMS")


def test_app_streams_starts_reports_and_stops_a_pipe_on_connect(connect_streams_run: dict[str, Any]) -> None:
    run = connect_streams_run
    assert "error" not in run, run.get("error")
    assert run["started"] == ["running"] and run["drained"] is True
    status = run["status"]
    assert status["state"] == "running" and status["name"] == "kindling_orders"
    assert status["batch_id"] is not None and status["query_id"] and status["run_id"]
    assert status["sources"] == 1 and status["progress_time"]
    assert "kindling_orders" in run["active_before_stop"] and "kindling_orders" not in run["active_after_stop"]
    assert run["stopped"] == ["stopped"]
    assert run["states"] == ["starting", "running", "stopping", "stopped"]
    assert run["rows"] == [[1, 10, 20], [2, 20, 40], [3, 30, 60]]
    kind, message = run["stopped_session"]
    assert kind == "SessionStoppedError" and "has been stopped" in message


# --- exactly-once merges on Spark Connect (foreachBatch in a server-side worker) -----------

EXACTLY_ONCE_CLIENT_SCRIPT = r"""
import json, sys, traceback, warnings
from pathlib import Path

warnings.simplefilter("ignore")
from kindling_core.spark import SparkSettings, get_or_create_session
from kindling_core.testing import make_app

url, root = sys.argv[1], Path(sys.argv[2])
spark = get_or_create_session(SparkSettings(remote=url))


def append(name, ids):
    rows = [(i, f"v{i}") for i in ids]
    spark.createDataFrame(rows, "id long, name string").write.format("delta").mode("append").save(str(root / name))


def txns(name):
    found = []
    for log in sorted((root / name / "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "txn" in action:
                found.append([action["txn"]["appId"], action["txn"]["version"]])
    return found


out = {}
try:
    # Two streaming merges run at once (concurrency 2): on Connect both foreachBatch workers
    # share the client's session, where MERGE reads its transaction settings.
    app = make_app(config={"execution": {"concurrency": 2}})
    app.use_spark(spark)
    for name in ("a", "b"):
        append(f"source_{name}", range(0, 3))
        append(f"sink_{name}", range(100, 101))
        app.entity(f"source_{name}", path=str(root / f"source_{name}"))
        app.entity(f"sink_{name}", path=str(root / f"sink_{name}"), merge_keys=["id"])
        app.pipe(f"merge_{name}", inputs=[f"source_{name}"], output=f"sink_{name}", mode="streaming", write="merge",
                 checkpoint=str(root / f"checkpoint_{name}"))(lambda frame: frame)
    out["runs"] = [app.run().succeeded]
    for name in ("a", "b"):
        # Undo Spark's commit of batch 0, as a crash right after its MERGE would: the next run
        # replays batch 0 (skipped), then runs batch 1 over the new rows.
        commits = root / f"checkpoint_{name}" / "commits"
        (commits / "0").unlink()
        (commits / ".0.crc").unlink(missing_ok=True)
        append(f"source_{name}", range(3, 5))
    out["runs"].append(app.run().succeeded)
    for name in ("a", "b"):
        out[name] = {
            "query_id": json.loads((root / f"checkpoint_{name}" / "metadata").read_text())["id"],
            "txns": txns(f"sink_{name}"),
            "ids": sorted(r.id for r in spark.read.format("delta").load(str(root / f"sink_{name}")).collect()),
        }
    out["client_setting"] = spark.conf.get("spark.databricks.delta.write.txnAppId", None)
except Exception:
    out["error"] = traceback.format_exc()
spark.stop()
print("KINDLING-CONNECT-EXACTLY-ONCE " + json.dumps(out), flush=True)
"""


def test_streaming_merges_on_connect_skip_a_replayed_batch_and_keep_their_transactions_apart(
    connect_url: str, tmp_path: Path
) -> None:
    run = _client_report(EXACTLY_ONCE_CLIENT_SCRIPT, connect_url, tmp_path, "KINDLING-CONNECT-EXACTLY-ONCE")
    assert "error" not in run, run.get("error")
    assert run["runs"] == [True, True]
    for name in ("a", "b"):
        app_id = f"kindling:merge_{name}:{run[name]['query_id']}"
        assert run[name]["txns"] == [[app_id, 0], [app_id, 1]]  # the replayed batch 0 committed nothing
        assert run[name]["ids"] == [0, 1, 2, 3, 4, 100]
    assert run["client_setting"] is None
