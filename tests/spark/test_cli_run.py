"""``kindling run`` and ``kindling show`` as a user runs them: a subprocess in a project folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

APP = '''
from pyspark.sql import SparkSession
from kindling_core import App

app = App("tiny")
app.entity("bronze.numbers", path="lake/numbers")
app.entity("silver.doubled", path="lake/doubled")
app.entity("silver.broken", path="lake/broken")


@app.pipe("numbers", inputs=[], output="bronze.numbers")
def numbers():
    return SparkSession.active().range(5)


@app.pipe("doubled", inputs=["bronze.numbers"], output="silver.doubled")
def doubled(numbers):
    return numbers.selectExpr("id * 2 AS twice")


@app.pipe("broken", inputs=["bronze.numbers"], output="silver.broken")
def broken(numbers):
    raise ValueError("this pipe is broken on purpose")
'''

PYPROJECT = """
[tool.kindling]
app = "tiny_app:app"

[tool.kindling.spark]
master = "local[1]"
shuffle-partitions = 1

[tool.kindling.execution]
on-failure = "continue"
"""


def kindling(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINDLING_")}
    env["KINDLING_JARS_DIR"] = str(Path(__file__).resolve().parents[2] / ".kindling" / "jars")
    return subprocess.run([sys.executable, "-m", "kindling_core", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-project")
    (folder / "tiny_app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    (folder / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return folder


def test_run_prints_progress_summary_and_tables(project: Path) -> None:
    result = kindling(["run"], project)
    assert result.returncode == 1, result.stdout + result.stderr  # one pipe fails on purpose
    out = result.stdout
    assert "running 3 pipes in 2 generations (strategy batch)" in out
    assert "ok" in out and "numbers" in out
    assert "FAILED" in out and "ValueError: this pipe is broken on purpose" in out
    assert "run " in out and "(2 succeeded, 1 failed)" in out
    assert f"silver.doubled  {project / 'lake' / 'doubled'}" in out
    assert "kindling show" in out
    assert "Traceback" not in result.stderr  # log lines without tracebacks by default

    shown = kindling(["show", "silver.doubled"], project)
    assert shown.returncode == 0, shown.stderr
    assert "silver.doubled at" in shown.stdout and "5 rows" in shown.stdout and "twice" in shown.stdout


def test_run_json_and_dry_run(project: Path) -> None:
    dry = kindling(["run", "--dry-run", "--pipes", "doubled"], project)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: plan is valid" in dry.stdout and "broken" not in dry.stdout
    result = kindling(["run", "--json", "--pipes", "doubled"], project)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert [p["pipe_id"] for p in document["pipes"]] == ["numbers", "doubled"]
    assert all(set(p) >= {"pipe_id", "status", "duration", "attempts", "error"} for p in document["pipes"])


def test_unknown_app_reference_is_a_clear_error(project: Path) -> None:
    result = kindling(["run", "--app", "tiny_ap:app"], project)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "tiny_ap" in result.stderr


SLOW_APP = '''
import time
from pathlib import Path
from pyspark.sql import SparkSession, functions as F
from kindling_core import App

app = App("slow")
app.entity("bronze.numbers", path="lake/numbers")
app.entity("silver.slow", path="lake/slow")
app.entity("gold.after", path="lake/after")


@app.pipe("numbers", inputs=[], output="bronze.numbers")
def numbers():
    return SparkSession.active().range(2)


@app.pipe("slow", inputs=["bronze.numbers"], output="silver.slow")
def slow_pipe(numbers):
    started = {marker!r}  # absolute: Python workers run in another folder

    @F.udf("long")  # defined here, not at module level: workers would import this module
    def slow(value):
        Path(started).touch()
        time.sleep(120)
        return value

    return numbers.select(slow("id").alias("id"))


@app.pipe("after", inputs=["silver.slow"], output="gold.after")
def after(rows):
    return rows
'''


def test_ctrl_c_on_kindling_run_cancels_the_running_pipe_and_exits_130(tmp_path: Path) -> None:
    """The user's Ctrl-C: one SIGINT to a real ``kindling run`` while a Spark job runs."""
    app_source = textwrap.dedent(SLOW_APP).replace("{marker!r}", repr(str(tmp_path / "udf-started")))
    (tmp_path / "slow_app.py").write_text(app_source, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.replace("tiny_app:app", "slow_app:app"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINDLING_")}
    env["KINDLING_JARS_DIR"] = str(Path(__file__).resolve().parents[2] / ".kindling" / "jars")
    process = subprocess.Popen(
        [sys.executable, "-m", "kindling_core", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as from a terminal, even when this suite runs with SIGINT ignored (a background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "udf-started").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not (tmp_path / "udf-started").exists():
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"the slow pipe never started:\n{out}\n{err}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=100)  # uncancelled, the job would run 120 s more
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, out + err
    assert "interrupt received: cancelling the running pipes' Spark jobs" in err
    assert "interrupted: running Spark jobs were cancelled" in err
    assert "cancelled" in err and "slow" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # no commit: the cancelled write may leave uncommitted data files, never a Delta version
    assert not list((tmp_path / "lake" / "slow").glob("_delta_log/*.json"))
    assert not (tmp_path / "lake" / "after").exists()
