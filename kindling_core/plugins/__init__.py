"""Plugin discovery, loading and the resolved registry.

``load_plugins(config)`` is the one entry point; see :mod:`kindling_core.plugins._loader` for
the steps and :mod:`kindling_core.plugins._resolve` for the ordering rules.
"""

from kindling_core.plugins._discovery import Discovery, PluginCandidate, discover
from kindling_core.plugins._loader import LoadedPlugins, load_plugins
from kindling_core.plugins._resolve import apply_order
from kindling_core.plugins.registry import FamilyView, PluginRecord, PluginStatus, Provided, Registry

__all__ = [
    "Discovery",
    "FamilyView",
    "LoadedPlugins",
    "PluginCandidate",
    "PluginRecord",
    "PluginStatus",
    "Provided",
    "Registry",
    "apply_order",
    "discover",
    "load_plugins",
]
