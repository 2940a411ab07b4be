"""Spark and Delta Lake support for kindling-core.

Importing this package never imports pyspark; pyspark is loaded only when a session is
requested. Names are resolved lazily from the submodules:

``get_or_create_session`` / ``SparkSettings``
    obtain the SparkSession pipelines run on (:mod:`kindling_core.spark.session`).
``ensure_delta_jars`` / ``default_jars_dir``
    fetch or locate the Delta Lake jars (:mod:`kindling_core.spark.jars`).
``SparkSetupError`` / ``SparkSettingsError`` / ``DeltaJarsMissingError``
    what goes wrong while setting up (:mod:`kindling_core.spark.errors`).
``EntityIO`` / ``SparkPipeRunner``
    read and write entities; run one pipe attempt (:mod:`~kindling_core.spark.delta`,
    :mod:`~kindling_core.spark.runner`).
``probe_versions`` / ``probe_entities`` / ``DeltaVersionProbe`` / ``VersionInfo`` / ``ProbeStatus``
    the latest Delta versions of many tables without a Spark job
    (:mod:`~kindling_core.spark.probe`).
``PYSPARK_VERSION`` / ``DELTA_SPARK_VERSION`` / ``DELTA_MAVEN_COORDINATES`` / ``SCALA_BINARY``
    the pins (:mod:`kindling_core.spark.versions`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kindling_core.spark.delta import EntityIO
    from kindling_core.spark.errors import DeltaJarsMissingError, SparkSettingsError, SparkSetupError
    from kindling_core.spark.jars import default_jars_dir, ensure_delta_jars
    from kindling_core.spark.probe import (
        DeltaVersionProbe,
        ProbeStatus,
        VersionInfo,
        probe_entities,
        probe_versions,
    )
    from kindling_core.spark.runner import SparkPipeRunner
    from kindling_core.spark.session import SparkSettings, get_or_create_session
    from kindling_core.spark.versions import (
        DELTA_MAVEN_COORDINATES,
        DELTA_SPARK_VERSION,
        PYSPARK_VERSION,
        SCALA_BINARY,
    )

__all__ = [
    "get_or_create_session",
    "SparkSettings",
    "ensure_delta_jars",
    "default_jars_dir",
    "SparkSetupError",
    "SparkSettingsError",
    "DeltaJarsMissingError",
    "PYSPARK_VERSION",
    "DELTA_SPARK_VERSION",
    "DELTA_MAVEN_COORDINATES",
    "SCALA_BINARY",
    "EntityIO",
    "SparkPipeRunner",
    "probe_versions",
    "probe_entities",
    "DeltaVersionProbe",
    "VersionInfo",
    "ProbeStatus",
]

_HOME = {
    "get_or_create_session": "session",
    "SparkSettings": "session",
    "ensure_delta_jars": "jars",
    "default_jars_dir": "jars",
    "SparkSetupError": "errors",
    "SparkSettingsError": "errors",
    "DeltaJarsMissingError": "errors",
    "PYSPARK_VERSION": "versions",
    "DELTA_SPARK_VERSION": "versions",
    "DELTA_MAVEN_COORDINATES": "versions",
    "SCALA_BINARY": "versions",
    "EntityIO": "delta",
    "SparkPipeRunner": "runner",
    "probe_versions": "probe",
    "probe_entities": "probe",
    "DeltaVersionProbe": "probe",
    "VersionInfo": "probe",
    "ProbeStatus": "probe",
}


def __getattr__(name: str) -> Any:
    """Resolve a public name from its submodule on first use (keeps this import cheap)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
