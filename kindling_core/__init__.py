"""kindling-core: plugin-extensible Spark + Delta Lake pipelines.

Importing this package is cheap and side-effect free: it does not import pyspark, load
plugins, read configuration or start threads. Create an :class:`App` for that.

Users need :class:`App`; plugin authors need :data:`hookimpl` and the item types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kindling_core.errors import KindlingError
from kindling_core.hookspecs import hookimpl
from kindling_core.items import (
    CacheHeuristic,
    CacheRecommendation,
    ChangeContext,
    ChangeDetector,
    ChangeReport,
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
)
from kindling_core.plugin_settings import Setting

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__version__ = "0.1.0"

__all__ = [
    "App",
    "CacheHeuristic",
    "CacheRecommendation",
    "ChangeContext",
    "ChangeDetector",
    "ChangeReport",
    "Classification",
    "ErrorEvent",
    "ErrorHandler",
    "ExecutionStrategy",
    "FailureClassifier",
    "FailureContext",
    "FailureKind",
    "KindlingError",
    "RecoveryAction",
    "RecoveryActionKind",
    "RecoveryContext",
    "RecoveryStrategy",
    "Setting",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # App pulls in blinker, networkx-free planning and the plugin loader; keep the bare
    # import of kindling_core minimal for plugin modules that only need hookimpl and items.
    if name == "App":
        from kindling_core.app import App

        return App
    raise AttributeError(f"module 'kindling_core' has no attribute {name!r}")
