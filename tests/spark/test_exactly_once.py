"""Exactly-once under crashes: a streaming driver is SIGKILLed at random points, restarted, and
finally drained; the sinks must then hold every source row exactly once.

The driver (tests/spark/exactly_once_driver.py, its own process group: Python and its JVM die
together) runs two queries over one Delta source that this test keeps appending numbered rows
to: one appends to a sink, one merges into another, through kindling's ``foreachBatch`` writer.
After each batch's Delta commit the driver pauses before Spark records the batch in its
checkpoint, so a kill often lands in the window where Spark replays, on restart, a batch the
sink already holds. Kills land at random delays (fixed seed) after a random number of the
restarted driver's commits: in that window, in a write, or between batches.

Checked at the end: each sink's ids equal the source's (same set, each once, same count), and
no batch of a query is committed twice (each commit's userMetadata names its sink and batch,
so a replayed MERGE that rewrote the same rows is caught too). Run with
``EXACTLY_ONCE_IDEMPOTENT=0`` to see the driver without Delta transactions fail both checks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from kindling_core.spark.jars import JARS_DIR_ENV, default_jars_dir

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DRIVER = Path(__file__).with_name("exactly_once_driver.py")
SINKS = ("sink_append", "sink_merge")
KILLS = 3
PAUSE = 0.5  # the driver's pause between a batch's Delta commit and its checkpoint commit
START_TIMEOUT = 120.0  # a driver's JVM start plus its first batch, on a loaded 2-core machine
DRAIN_TIMEOUT = 180.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_SUBMIT_ARGS"):
        env.pop(key, None)
    env[JARS_DIR_ENV] = str(default_jars_dir())  # the driver runs in another folder
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    env["EXACTLY_ONCE_PAUSE"] = str(PAUSE)
    return env


class Driver:
    """One driver process (its own process group), its output in a log file."""

    def __init__(self, root: Path, phase: str, incarnation: int) -> None:
        self.log = root / f"driver-{incarnation}-{phase}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(DRIVER), str(root), phase],
                cwd=root,
                env=_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, marker: str, timeout: float, count: int = 1) -> None:
        """Until the driver has printed ``marker`` ``count`` times (fail on exit or timeout)."""
        deadline = time.monotonic() + timeout
        while self.output().count(marker) < count:
            if self.process.poll() is not None:
                pytest.fail(f"the driver exited ({self.process.returncode}) before {marker!r}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {marker!r} from the driver within {timeout:.0f} s:\n{self.output()[-4000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class Appender(threading.Thread):
    """Appends numbered rows to the source table, 25 per commit every 0.5 s, until stopped."""

    def __init__(self, spark, path: Path) -> None:
        super().__init__(name="source-appender", daemon=True)
        self.spark, self.path = spark, path
        self.next_id = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def append(self, count: int) -> None:
        rows = [(i, f"row {i}") for i in range(self.next_id, self.next_id + count)]
        self.spark.createDataFrame(rows, "id long, name string").write.format("delta").mode("append").save(str(self.path))
        self.next_id += count

    def run(self) -> None:
        try:
            while not self.stopping.wait(0.5):
                self.append(25)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def ids(spark, path: Path) -> list[int]:
    return sorted(r["id"] for r in spark.read.format("delta").load(str(path)).select("id").collect())


def batch_commits(path: Path) -> list[str]:
    """The userMetadata (``<sink>:<batch id>``) of every commit that wrote data to the table."""
    found = []
    for log in sorted((path / "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info is not None and info.get("userMetadata"):
                found.append(info["userMetadata"])
    return found


def where_the_kill_landed(root: Path) -> str:
    """For the record: per sink, whether Delta holds a batch Spark's checkpoint does not."""
    landed = []
    for sink in SINKS:
        commits = root / f"checkpoint_{sink}" / "commits"
        done = max((int(p.name) for p in commits.iterdir() if p.name.isdigit()), default=-1) if commits.is_dir() else -1
        written = [int(m.split(":")[1]) for m in batch_commits(root / sink)] if (root / sink).is_dir() else []
        if written and max(written) > done:
            landed.append(f"{sink}: batch {max(written)} committed to Delta, not to the checkpoint (will replay)")
    return "; ".join(landed) or "outside the commit window"


def test_killed_and_restarted_driver_leaves_each_source_row_exactly_once_in_each_sink(spark, tmp_path: Path) -> None:
    rng = random.Random(8)
    appender = Appender(spark, tmp_path / "source")
    appender.append(20)  # the source exists before the first driver starts
    drivers: list[Driver] = []
    try:
        appender.start()
        for incarnation in range(KILLS):
            driver = Driver(tmp_path, "run", incarnation)
            drivers.append(driver)
            driver.wait_for("committed ", START_TIMEOUT, count=rng.randint(1, 4))
            time.sleep(rng.uniform(0, 1.5 * PAUSE))  # the random point of the crash, not a wait
            driver.kill()
            print(f"kill {incarnation + 1}: {where_the_kill_landed(tmp_path)}")
        appender.stopping.set()
        appender.join(timeout=60)
        assert appender.error is None, f"appending to the source failed: {appender.error!r}"
        drain = Driver(tmp_path, "drain", KILLS)
        drivers.append(drain)
        drain.wait_for("drained", DRAIN_TIMEOUT)
        assert drain.process.wait(timeout=60) == 0, drain.output()[-4000:]
    finally:
        appender.stopping.set()
        for driver in drivers:
            driver.kill()

    source = ids(spark, tmp_path / "source")
    assert source == list(range(appender.next_id))
    for sink in SINKS:
        assert ids(spark, tmp_path / sink) == source, f"{sink} differs from the source"
        twice = sorted(m for m, n in Counter(batch_commits(tmp_path / sink)).items() if n > 1)
        assert not twice, f"{sink}: batches committed more than once: {twice}"
