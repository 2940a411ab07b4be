"""Watching dimension tables for changes: which detector watches a dimension, the watcher that
polls them all with one batched version probe, and its signals and errors.

Whether a change needs a restart: :func:`~kindling_core.dimensions.policy.restart_need`
(:mod:`kindling_core.dimensions.policy`, the ``change.restart`` / ``change.cached`` options).

Spark-free: the watcher is given a probe callable and a Change Data Feed reader;
``kindling_core.spark.dimensions`` provides both for Delta tables. See
:mod:`kindling_core.dimensions.watcher` for the semantics and
:mod:`kindling_core.dimensions.spec` for the ``change.*`` entity options.
"""

from kindling_core.dimensions.errors import DimensionOptionError, DimensionProbeError, DimensionReadError
from kindling_core.dimensions.policy import (
    CACHED_OPTION,
    RESTART_OPTION,
    RestartNeed,
    RestartPolicy,
    restart_need,
    restart_policy,
)
from kindling_core.dimensions.signals import DimensionBaseline, DimensionChanged, DimensionReadFailed
from kindling_core.dimensions.spec import DETECTOR_OPTION, OPTION_PREFIX, Dimension, resolve_dimension
from kindling_core.dimensions.watcher import ChangeReader, DimensionWatcher, PollResult, VersionProbe, watched_dimensions

__all__ = [
    "DimensionWatcher",
    "PollResult",
    "VersionProbe",
    "ChangeReader",
    "Dimension",
    "resolve_dimension",
    "watched_dimensions",
    "OPTION_PREFIX",
    "DETECTOR_OPTION",
    "restart_need",
    "restart_policy",
    "RestartNeed",
    "RestartPolicy",
    "RESTART_OPTION",
    "CACHED_OPTION",
    "DimensionBaseline",
    "DimensionChanged",
    "DimensionReadFailed",
    "DimensionOptionError",
    "DimensionReadError",
    "DimensionProbeError",
]
