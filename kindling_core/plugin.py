"""The plugin author's API: everything a plugin receives or returns, in one place.

::

    from kindling_core.plugin import ExecutionStrategy, StrategyInput, hookimpl

A plugin module needs nothing else from kindling-core (the built-in plugins in
``kindling_plugins`` import only from here, and a test keeps it that way). Not to be confused
with :mod:`kindling_core.plugins`, the loader that finds and resolves plugins.

What is here, grouped by why a plugin needs it:

* the marker: :data:`hookimpl`;
* what the registration hooks receive: :class:`KindlingConfig` (``config``), the read-only
  ``settings`` mapping, :class:`SignalBus` (``signals``) and :class:`SignalSpec` to declare a
  plugin's own signals; :class:`Setting`, what ``kindling_settings_schema`` returns to
  declare (and have the core validate) the plugin's settings;
* the items the hooks return, one per family: :class:`ExecutionStrategy`,
  :class:`CacheHeuristic`, :class:`FailureClassifier`, :class:`RecoveryStrategy`,
  :class:`ChangeDetector`, :class:`ErrorHandler`;
* what the items' callables receive and return: :class:`StrategyInput`,
  :class:`CacheContext` / :class:`CacheRecommendation`, :class:`FailureContext` /
  :class:`Classification`, :class:`RecoveryContext` (with its :class:`Backoff`) /
  :class:`RecoveryAction`,
  :class:`ChangeContext` (with :class:`TableVersion`, :class:`ChangeRows`) /
  :class:`ChangeReport` (with :class:`SchemaChange`), :class:`ErrorEvent`;
* the enums those carry: :class:`FailureKind`, :class:`RecoveryActionKind`, :class:`ChangeKind`, :class:`TableStatus`,
  :class:`PipeMode`, :class:`WriteMode`;
* the declarations and graph those expose: :class:`Pipe`, :class:`Entity`,
  :class:`PipeGraph`, and :data:`BYTES_PER_MB` (the unit of ``min_size_mb``);
* the errors a plugin raises or tests for: :class:`KindlingError` (any error that names a
  culprit and a remedy), :class:`ConfigError` (a bad configuration value, with its exact key
  path) and :class:`SettingsError` (a bad value in a plugin's settings table, as the core
  reports it for a declared schema).

Every field and method of these types is listed in the generated hook reference,
``docs/reference/hooks.md``. Importing this module does not import pyspark.
"""

from __future__ import annotations

from kindling_core.config import KindlingConfig
from kindling_core.errors import ConfigError, KindlingError, SettingsError
from kindling_core.hookspecs import hookimpl
from kindling_core.items import (
    CacheHeuristic,
    CacheRecommendation,
    ChangeContext,
    ChangeDetector,
    ChangeKind,
    ChangeReport,
    ChangeRows,
    Classification,
    ErrorEvent,
    ErrorHandler,
    ExecutionStrategy,
    FailureClassifier,
    FailureContext,
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
    SchemaChange,
    TableStatus,
    TableVersion,
)
from kindling_core.model.entity import Entity
from kindling_core.model.pipe import Pipe, PipeMode, WriteMode
from kindling_core.planning.graph import PipeGraph
from kindling_core.planning.types import BYTES_PER_MB, CacheContext, StrategyInput
from kindling_core.plugin_settings import Setting
from kindling_core.recovery.backoff import Backoff
from kindling_core.signals import SignalBus, SignalSpec

__all__ = [
    # the marker
    "hookimpl",
    # what registration hooks receive
    "KindlingConfig",
    "SignalBus",
    "SignalSpec",
    "Setting",
    # items, one per family
    "ExecutionStrategy",
    "CacheHeuristic",
    "FailureClassifier",
    "RecoveryStrategy",
    "ChangeDetector",
    "ErrorHandler",
    # what the items' callables receive and return
    "StrategyInput",
    "CacheContext",
    "CacheRecommendation",
    "FailureContext",
    "Classification",
    "RecoveryContext",
    "Backoff",
    "RecoveryAction",
    "ChangeContext",
    "ChangeReport",
    "ChangeRows",
    "SchemaChange",
    "TableVersion",
    "ErrorEvent",
    # enums
    "FailureKind",
    "RecoveryActionKind",
    "ChangeKind",
    "TableStatus",
    "PipeMode",
    "WriteMode",
    # declarations and the graph
    "Pipe",
    "Entity",
    "PipeGraph",
    "BYTES_PER_MB",
    # errors
    "KindlingError",
    "ConfigError",
    "SettingsError",
]

#: The payload types the hook reference documents field by field (items are documented with
#: their hooks): what items' callables receive and return, what those expose, and the
#: ``Setting`` a plugin declares its settings with.
PAYLOAD_TYPES: tuple[type, ...] = (
    StrategyInput,
    CacheContext,
    CacheRecommendation,
    FailureContext,
    Classification,
    RecoveryContext,
    Backoff,
    RecoveryAction,
    ChangeContext,
    ChangeReport,
    ChangeRows,
    SchemaChange,
    TableVersion,
    ErrorEvent,
    FailureKind,
    RecoveryActionKind,
    ChangeKind,
    TableStatus,
    PipeMode,
    WriteMode,
    Pipe,
    Entity,
    PipeGraph,
    Setting,
)
