"""Pinned versions of Spark, Delta Lake and the JVM artifacts kindling-core runs against.

This module is the single place where those pins live; ``scripts/setup-spark.sh``, the jar
fetcher (:mod:`kindling_core.spark.jars`) and the session builder read them from here.

Why Delta 4.4.0 and not 4.4.1: ``delta-spark`` 4.4.1 exists on PyPI, but the matching JVM
artifacts (``io.delta:delta-spark_4.2_2.13:4.4.1``, ``io.delta:delta-storage:4.4.1``) are not
published on Maven Central. The 4.4.0 and 4.4.1 Python packages are identical apart from
``delta/version.py``, and both declare ``pyspark>=4.0.1,<=4.2.0``; pinning 4.4.0 on both sides
keeps the Python API and the jars at one version.

``DELTA_MAVEN_COORDINATES`` is the runtime closure of ``delta-spark_4.2_2.13`` *minus* every
artifact that the ``pyspark`` 4.2.0 distribution already ships in ``pyspark/jars`` (Scala,
Hadoop client, Parquet, Jackson core, log4j, RoaringBitmap, ...). Spark's own copies are on
the parent class loader and win anyway, so duplicating them would only add ~80 MB.
Each coordinate is fetched non-transitively.
"""

from __future__ import annotations

__all__ = [
    "PYSPARK_VERSION",
    "DELTA_SPARK_VERSION",
    "SCALA_BINARY",
    "SPARK_BINARY",
    "DELTA_SPARK_ARTIFACT",
    "DELTA_MAVEN_COORDINATES",
    "DELTA_EXTENSION_CLASS",
    "DELTA_CATALOG_CLASS",
    "jar_file_name",
]

PYSPARK_VERSION = "4.2.0"
"""The ``pyspark`` release on PyPI (an sdist only; built into a wheel once by setup)."""

DELTA_SPARK_VERSION = "4.4.0"
"""The ``delta-spark`` release, both on PyPI and on Maven Central."""

SCALA_BINARY = "2.13"
"""Scala binary version of the Spark 4 JVM build."""

SPARK_BINARY = "4.2"
"""Spark ``major.minor`` that names the Delta artifact (``delta-spark_<spark>_<scala>``)."""

DELTA_SPARK_ARTIFACT = f"io.delta:delta-spark_{SPARK_BINARY}_{SCALA_BINARY}:{DELTA_SPARK_VERSION}"
"""Maven coordinate of the main Delta jar."""

DELTA_MAVEN_COORDINATES: tuple[str, ...] = (
    DELTA_SPARK_ARTIFACT,
    f"io.delta:delta-storage:{DELTA_SPARK_VERSION}",
    f"io.delta:delta-kernel-api:{DELTA_SPARK_VERSION}",
    f"io.delta:delta-kernel-defaults:{DELTA_SPARK_VERSION}",
    f"io.delta:delta-kernel-unitycatalog:{DELTA_SPARK_VERSION}",
    "io.unitycatalog:unitycatalog-client:0.6.0",
    "io.unitycatalog:unitycatalog-hadoop:0.6.0",
    "com.fasterxml.jackson.datatype:jackson-datatype-jdk8:2.13.5",
)
"""``group:artifact:version`` of every jar that must be added to Spark for Delta to work."""

DELTA_EXTENSION_CLASS = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG_CLASS = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def jar_file_name(coordinate: str) -> str:
    """Return the file name Maven gives the jar of ``group:artifact:version``.

    >>> jar_file_name("io.delta:delta-storage:4.4.0")
    'delta-storage-4.4.0.jar'
    """
    _group, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"
