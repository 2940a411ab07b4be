"""Create (or reuse) the SparkSession kindling pipelines run on.

:func:`get_or_create_session` picks, in order:

1. the session already active on this thread (``SparkSession.getActiveSession()``), returned
   as is -- its configuration is not touched;
2. a Spark Connect session when ``SparkSettings.remote`` or ``$SPARK_REMOTE`` names a server
   (requires ``pyspark[connect]``'s extra dependencies);
3. a new local (or ``master``-addressed) classic session with Delta Lake wired in from the
   project-local jars (see :mod:`kindling_core.spark.jars`).

pyspark is imported lazily inside the functions, never at module import.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from kindling_core.spark.errors import SparkSettingsError, SparkSetupError
from kindling_core.spark.jars import FETCH_COMMAND, default_jars_dir, ensure_delta_jars
from kindling_core.spark.versions import (
    DELTA_CATALOG_CLASS,
    DELTA_EXTENSION_CLASS,
    DELTA_SPARK_ARTIFACT,
    PYSPARK_VERSION,
    SPARK_BINARY,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkSettings", "get_or_create_session", "is_connect_session", "local_session_conf"]


def is_connect_session(spark: object) -> bool:
    """True for a Spark Connect session: it has no JVM handle in this process, so py4j-only
    APIs (``DeltaTable``, job groups, the Hadoop FileSystem) are unavailable."""
    return getattr(spark, "_jsparkSession", None) is None

_SETUP_HINT = "run scripts/setup-spark.sh (installs pyspark/delta-spark and fetches the jars)"


@dataclass(frozen=True)
class SparkSettings:
    """How to obtain a SparkSession.

    ``master``
        Spark master URL for a new classic session (``local[*]`` by default).
    ``app_name``
        ``spark.app.name``.
    ``remote``
        Spark Connect URL (``sc://host:15002``); when ``None``, ``$SPARK_REMOTE`` is used if set.
    ``shuffle_partitions``
        ``spark.sql.shuffle.partitions``; small by default because local data is small.
    ``extra_conf``
        Further Spark settings, applied last (they override the defaults above). Setting
        ``spark.jars.packages`` here switches Delta to Ivy resolution instead of local jars.
    ``warehouse_dir``
        ``spark.sql.warehouse.dir``; Spark's default (``./spark-warehouse``) when ``None``.
    ``jars_dir``
        Folder holding the Delta jars; :func:`~kindling_core.spark.jars.default_jars_dir` when
        ``None``.
    ``stop_timeout``
        ``spark.sql.streaming.stopTimeout``: how long stopping a streaming query may block
        (Spark's default of 0 waits forever).
    ``delta``
        Configure Delta Lake (extension, catalog, jars). ``False`` gives plain Spark.
    """

    master: str = "local[*]"
    app_name: str = "kindling"
    remote: str | None = None
    shuffle_partitions: int = 4
    extra_conf: Mapping[str, str] = field(default_factory=dict, hash=False)
    warehouse_dir: str | Path | None = None
    jars_dir: Path | None = None
    stop_timeout: str = "30s"
    delta: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.shuffle_partitions, bool) or not isinstance(self.shuffle_partitions, int) or self.shuffle_partitions < 1:
            raise SparkSettingsError(
                f"SparkSettings.shuffle_partitions must be an integer >= 1, got {self.shuffle_partitions!r}",
                setting="shuffle_partitions",
                remedy="set [tool.kindling.spark] shuffle-partitions (or SparkSettings(shuffle_partitions=...)) to 1 or more",
            )
        frozen = MappingProxyType({str(k): str(v) for k, v in self.extra_conf.items()})
        object.__setattr__(self, "extra_conf", frozen)


def local_session_conf(settings: SparkSettings, jars: list[Path] | None = None) -> dict[str, str]:
    """Return the Spark configuration a new classic session is built with.

    ``jars`` are the Delta jar paths (``spark.jars``); they are ignored when Delta is off or
    when ``extra_conf`` sets ``spark.jars.packages``. ``extra_conf`` wins over every default,
    except that a user ``spark.jars`` is appended to the Delta jars rather than replacing them.
    """
    conf: dict[str, str] = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.streaming.stopTimeout": settings.stop_timeout,
        # Spark 4.2 turns Arrow-optimised Python UDFs on by default. Measured with pyspark
        # 4.2.0 (pyarrow 22 and 26): a plain `F.udf` over a file scan (parquet or Delta) then
        # deadlocks, the Python worker waiting in read_single_udf for bytes the JVM never
        # sends. Spark's previous default (off) works; set it back to "true" in
        # [tool.kindling.spark.conf] to opt in.
        "spark.sql.execution.pythonUDF.arrow.enabled": "false",
    }
    if settings.warehouse_dir is not None:
        conf["spark.sql.warehouse.dir"] = str(Path(settings.warehouse_dir).expanduser().resolve())
    if settings.delta:
        conf["spark.sql.extensions"] = DELTA_EXTENSION_CLASS
        conf["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG_CLASS
        # Delta's default of 50 partitions for log replay makes every local snapshot slow.
        conf["spark.databricks.delta.snapshotPartitions"] = str(settings.shuffle_partitions)
    user = dict(settings.extra_conf)
    jar_list = [str(p) for p in (jars or []) if settings.delta]
    if "spark.jars" in user:
        jar_list.append(user.pop("spark.jars"))
    if jar_list:
        conf["spark.jars"] = ",".join(jar_list)
    if "spark.sql.extensions" in user and settings.delta:
        extensions = user.pop("spark.sql.extensions")
        if DELTA_EXTENSION_CLASS not in extensions.split(","):
            extensions = f"{DELTA_EXTENSION_CLASS},{extensions}"
        conf["spark.sql.extensions"] = extensions
    conf.update(user)
    return conf


def get_or_create_session(config: SparkSettings | None = None) -> SparkSession:
    """Return the active SparkSession, a Spark Connect session, or a new local Delta session.

    See the module docstring for the order. For a new classic session the Delta jars are
    ensured first (:func:`~kindling_core.spark.jars.ensure_delta_jars`, a no-op once fetched)
    and, after start-up, the Delta classes are loaded once; when that fails the session is
    stopped and :class:`SparkSetupError` names the missing artifact and the remedy.
    ``PYSPARK_PYTHON`` / ``PYSPARK_DRIVER_PYTHON`` default to ``sys.executable`` so workers run
    the same interpreter as the driver, and ``SPARK_LOCAL_IP`` to ``127.0.0.1`` for local
    masters (environment variables already set are left alone).
    """
    settings = config if config is not None else SparkSettings()
    SparkSession = _import_session_class()  # noqa: N806 - the class, named as pyspark names it

    active = SparkSession.getActiveSession()
    if active is not None:
        return active

    remote = settings.remote or os.environ.get("SPARK_REMOTE")
    if remote and not remote.startswith("local"):
        builder = SparkSession.builder.remote(remote).appName(settings.app_name)
        for key, value in settings.extra_conf.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()

    # A classic session -- or remote="local[...]", where pyspark starts a classic session with
    # the Spark Connect plugin in this process and connects to it: it needs the same Delta
    # jars, extension and worker interpreter.
    master = remote or settings.master
    use_ivy = "spark.jars.packages" in settings.extra_conf
    if settings.delta:
        _check_pyspark_version()
    jars = ensure_delta_jars(settings.jars_dir) if settings.delta and not use_ivy else []
    _check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        # Stops the JVM from probing network interfaces (and warning about loopback hostnames).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    builder = SparkSession.builder.appName(settings.app_name)
    builder = builder.remote(remote) if remote else builder.master(settings.master)
    for key, value in local_session_conf(settings, jars).items():
        builder = builder.config(key, value)
    if remote:
        # The client re-sends static settings the server already has; pyspark warns per key.
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Failed to set spark", category=UserWarning)
            return builder.getOrCreate()
    spark = builder.getOrCreate()
    if settings.delta:
        _check_delta_classes(spark, settings)
    return spark


def _import_session_class() -> type[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkSetupError(
            f"pyspark is not installed in {sys.executable}",
            culprit=f"pyspark=={PYSPARK_VERSION}",
            remedy=_SETUP_HINT,
        ) from exc
    return SparkSession


def _check_pyspark_version() -> None:
    import pyspark

    installed = pyspark.__version__
    if ".".join(installed.split(".")[:2]) != SPARK_BINARY:
        raise SparkSetupError(
            f"pyspark {installed} is installed but the Delta jars ({DELTA_SPARK_ARTIFACT}) "
            f"are built for Spark {SPARK_BINARY}",
            culprit=f"pyspark=={installed}",
            remedy=f"install pyspark=={PYSPARK_VERSION}: {_SETUP_HINT}",
        )


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise SparkSetupError(
            "no Java runtime found (neither $JAVA_HOME/bin/java nor `java` on PATH)",
            culprit="java",
            remedy="install a JDK 17 or 21 (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or set JAVA_HOME",
        )


def _check_delta_classes(spark: SparkSession, settings: SparkSettings) -> None:
    """Load the Delta extension and catalog classes in the driver JVM; raise if absent."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    for class_name in (DELTA_EXTENSION_CLASS, DELTA_CATALOG_CLASS):
        try:
            jvm.org.apache.spark.util.Utils.classForName(class_name, True, False)
        except Exception as exc:  # py4j.protocol.Py4JJavaError; py4j is not typed
            spark.stop()
            where = settings.jars_dir or default_jars_dir()
            raise SparkSetupError(
                f"Delta Lake class {class_name} cannot be loaded: the jar {DELTA_SPARK_ARTIFACT} "
                f"(or one of its dependencies) is missing or broken in {where}",
                culprit=DELTA_SPARK_ARTIFACT,
                remedy=f"run `{FETCH_COMMAND}` (delete broken jars first), or set "
                f"spark.jars.packages={DELTA_SPARK_ARTIFACT} in SparkSettings.extra_conf",
            ) from exc
