"""Tests of kindling_core.spark: Delta round trip, session reuse, lazy import, jar errors.

Tests marked ``spark`` need the toolchain from scripts/setup-spark.sh (a JVM session or the
fetched jars); the others only need pyspark importable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kindling_core.spark import (
    DELTA_MAVEN_COORDINATES,
    DeltaJarsMissingError,
    SparkSettings,
    ensure_delta_jars,
    get_or_create_session,
)
from kindling_core.spark.jars import FETCH_COMMAND, default_jars_dir
from kindling_core.spark.session import local_session_conf
from kindling_core.spark.versions import DELTA_SPARK_ARTIFACT, DELTA_SPARK_VERSION

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that can import this checkout of kindling_core."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": pythonpath},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env_without_mvn(tmp_path: Path, jars_dir: Path) -> dict[str, str]:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir(exist_ok=True)
    return {**os.environ, "PATH": str(empty_bin), "KINDLING_JARS_DIR": str(jars_dir)}


@pytest.mark.spark
def test_delta_round_trip(spark: SparkSession, tmp_path: Path) -> None:
    from delta.tables import DeltaTable

    path = str(tmp_path / "numbers")
    spark.range(5).write.format("delta").save(path)
    spark.range(5, 8).write.format("delta").mode("append").save(path)

    rows = sorted(r.id for r in spark.read.format("delta").load(path).collect())
    assert rows == list(range(8))
    assert DeltaTable.isDeltaTable(spark, path)
    assert DeltaTable.forPath(spark, path).history().count() == 2
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).count() == 5


@pytest.mark.spark
def test_managed_delta_table_uses_configured_warehouse(spark: SparkSession) -> None:
    spark.sql("CREATE TABLE kindling_probe (id BIGINT) USING delta")
    try:
        spark.sql("INSERT INTO kindling_probe VALUES (1), (2)")
        assert spark.table("kindling_probe").count() == 2
        detail = spark.sql("DESCRIBE DETAIL kindling_probe").first()
        assert detail is not None and detail["format"] == "delta"
    finally:
        spark.sql("DROP TABLE IF EXISTS kindling_probe")


@pytest.mark.spark
def test_session_configuration(spark: SparkSession) -> None:
    conf = spark.conf
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.sql.streaming.stopTimeout") == "30s"
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.sparkContext.master == "local[2]"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"


@pytest.mark.spark
def test_active_session_is_reused(spark: SparkSession) -> None:
    again = get_or_create_session(SparkSettings(master="local[1]", shuffle_partitions=7))
    assert again is spark or again._jsparkSession.equals(spark._jsparkSession)
    assert again.conf.get("spark.sql.shuffle.partitions") == "2"  # settings ignored on reuse


def test_import_does_not_import_pyspark(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import kindling_core.spark, kindling_core.spark.session, kindling_core.spark.jars\n"
        "kindling_core.spark.SparkSettings, kindling_core.spark.get_or_create_session\n"
        "roots = ('pyspark', 'py4j', 'delta')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "assert not loaded, loaded\n"
    )
    result = _run(code, dict(os.environ), tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.spark
def test_jars_present_need_no_maven(tmp_path: Path) -> None:
    jars = ensure_delta_jars()  # fetched by scripts/setup-spark.sh
    assert [p.name for p in jars][0] == f"delta-spark_4.2_2.13-{DELTA_SPARK_VERSION}.jar"
    code = "from kindling_core.spark import ensure_delta_jars\nprint(len(ensure_delta_jars()))\n"
    result = _run(code, _env_without_mvn(tmp_path, jars[0].parent), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(DELTA_MAVEN_COORDINATES))


def test_missing_jars_without_maven_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_jars = tmp_path / "jars"
    empty_jars.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on PATH
    with pytest.raises(DeltaJarsMissingError) as info:
        ensure_delta_jars(empty_jars)
    err = info.value
    assert err.missing == DELTA_MAVEN_COORDINATES
    assert DELTA_SPARK_ARTIFACT in str(err)
    assert FETCH_COMMAND in str(err) and "spark.jars.packages" in str(err)


def test_new_session_with_missing_jars_fails_before_starting_spark(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from kindling_core.spark import get_or_create_session, DeltaJarsMissingError\n"
        "try:\n"
        "    get_or_create_session()\n"
        "except DeltaJarsMissingError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    result = _run(code, _env_without_mvn(tmp_path, tmp_path / "nojars"), tmp_path)
    assert result.returncode == 3, result.stderr
    assert DELTA_SPARK_ARTIFACT in result.stdout
    assert FETCH_COMMAND in result.stdout


def test_failing_maven_names_the_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    mvn = fake_bin / "mvn"
    mvn.write_text("#!/bin/sh\necho 'Could not resolve: network is down' >&2\nexit 1\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(DeltaJarsMissingError) as info:
        ensure_delta_jars(tmp_path / "jars")
    text = str(info.value)
    assert DELTA_SPARK_ARTIFACT in text and "network is down" in text
    assert not list((tmp_path / "jars").iterdir())  # nothing half-fetched left behind


def test_default_jars_dir_follows_env_and_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KINDLING_JARS_DIR", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert default_jars_dir() == tmp_path.resolve() / ".kindling" / "jars"
    monkeypatch.setenv("KINDLING_JARS_DIR", str(tmp_path / "elsewhere"))
    assert default_jars_dir() == tmp_path / "elsewhere"


def test_local_conf_merges_user_settings() -> None:
    settings = SparkSettings(
        extra_conf={"spark.jars": "/x/extra.jar", "spark.sql.extensions": "my.Ext"},
        shuffle_partitions=3,
    )
    conf = local_session_conf(settings, [Path("/j/delta.jar")])
    assert conf["spark.jars"] == "/j/delta.jar,/x/extra.jar"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension,my.Ext"
    assert conf["spark.sql.shuffle.partitions"] == "3"
    with pytest.raises(TypeError):
        settings.extra_conf["x"] = "y"  # type: ignore[index]
