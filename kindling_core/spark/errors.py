"""Errors raised while setting up Spark and Delta Lake."""

from __future__ import annotations

from kindling_core.errors import KindlingError

__all__ = ["SparkSetupError", "SparkSettingsError", "DeltaJarsMissingError"]


class SparkSetupError(KindlingError):
    """Spark (or Delta Lake on it) could not be set up: missing tool, jar, package or JVM."""


class SparkSettingsError(SparkSetupError, ValueError):
    """A :class:`~kindling_core.spark.session.SparkSettings` value is out of range.

    ``setting`` is the field name; the message also names its ``[tool.kindling.spark]`` key.
    """

    def __init__(self, message: str, *, setting: str, remedy: str | None = None):
        self.setting = setting
        super().__init__(message, culprit=setting, remedy=remedy)


class DeltaJarsMissingError(SparkSetupError):
    """One or more Delta Lake jars are absent and could not be fetched.

    ``missing`` lists the Maven coordinates (``group:artifact:version``) that are not present in
    ``jars_dir``.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        jars_dir: str | None = None,
        culprit: str | None = None,
        remedy: str | None = None,
    ):
        self.missing = missing
        self.jars_dir = jars_dir
        super().__init__(message, culprit=culprit, remedy=remedy)
